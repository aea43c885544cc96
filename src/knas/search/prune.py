"""TE-NAS's prune-based supernet search (Chen et al., ICLR 2021), and TE-NAS + TEG (TEG-NAS).

``tenas``: start from the full supernet (every op on every edge). Each round, for every
surviving op on an edge that still has more than one, measure the supernet with that op removed
against the current supernet, on the same networks and batches (:meth:`SearchContext.supernet_measure`),
``repeat`` times (new initialisation and batches each time; TE-NAS's ``--repeat 3``) and average the relative changes:

* ``ntk_cond`` (lower is better): gain ``(k0 - k) / k0``, the NTK condition number's decrease;
* ``linear_regions`` (higher is better): gain ``(r - r0) / r0`` (TE-NAS sorts ``(r0 - r) / r0``
  ascending: the same order);
* ``ntk_mse`` (``tenas_teg`` only; lower is better): gain ``(m0 - m) / m0``.

Each indicator's gains are dense-ranked over all candidates (0 = largest gain, equal gains share
a rank); on every edge the candidate with the smallest rank sum is pruned (ties: the better
first indicator, then edge/op order, as TE-NAS's stable sorts do). Rounds repeat until one op
per edge is left; that is the architecture. A "bad" value (NaN/inf, a condition number <= 0 or a
negative MSE, TEG's -1) makes its gain -inf (worst); TE-NAS's 1e5 NaN sentinel of ``ntk_cond``
is an ordinary, very large value.

Differences from the released code (``prune_tenas.py``), all options: it removes ``none`` from
every edge before the first round (``drop_none=True``); it rounds each repeat's change to 3
decimals (``precision=3``); its advertised kaiming re-initialisation is a no-op
(``init="default"``); its three repeats share the weights and change only the batch, and its
linear-region "origin" network is re-drawn for every candidate (here one initialisation per
repeat serves the current supernet and all candidates, for both indicators). Its supernet is
``C=3, N=1`` with stem, 72 images (the defaults here).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .context import SearchContext
from .registry import check_int, register
from .supernet import SUPERNET_INITS, SupernetProtocol, check_indicators, mask_weights
from .teg import SIGN, _valid

TENAS_INDICATORS = ("ntk_cond", "linear_regions")
TEG_PRUNE_INDICATORS = ("ntk_cond", "linear_regions", "ntk_mse")


def bad_value(name: str, v: float) -> bool:
    """TEG's bad cases (:func:`.teg._valid`): NaN/inf, a condition number <= 0, a negative MSE (its -1)."""
    return not _valid(name, v)


def relative_gains(name: str, origin: float, values: Sequence[float]) -> np.ndarray:
    """Improvement of each candidate over the current supernet, relative to it (higher = better).

    ``sign * (v - origin) / |origin|``, sign +1 if higher values of ``name`` are better; a bad
    candidate value gives -inf. A bad or zero origin leaves nothing to be relative to: the
    gains are then ``sign * v``."""
    sign = float(SIGN[name])
    out = np.empty(len(values))
    base_ok = not bad_value(name, origin) and origin != 0
    for i, v in enumerate(values):
        if bad_value(name, v):
            out[i] = -math.inf
        elif base_ok:
            out[i] = sign * (v - origin) / abs(origin)
        else:
            out[i] = sign * v
    return out


def dense_rank_desc(values: np.ndarray) -> np.ndarray:
    """0-based dense rank, largest first; equal values share a rank (TE-NAS's ranking)."""
    distinct = np.unique(values)[::-1]  # descending
    return np.searchsorted(-distinct, -values, side="left")


def prune_choices(candidates: Sequence[tuple[int, int]], gains: dict[str, np.ndarray],
                  names: Sequence[str]) -> list[tuple[int, int]]:
    """The ``(edge, op)`` to prune on each edge with candidates: smallest rank sum over
    ``names`` (dense ranks of ``gains[name]`` over all candidates), ties by the first
    indicator's rank, then candidate order."""
    ranks = {n: dense_rank_desc(np.asarray(gains[n], dtype=float)) for n in names}
    total = sum(ranks[n] for n in names)
    best: dict[int, tuple] = {}
    for i, (e, k) in enumerate(candidates):
        key = (int(total[i]), int(ranks[names[0]][i]), i)
        if e not in best or key < best[e][0]:
            best[e] = (key, (e, k))
    return [best[e][1] for e in sorted(best)]


def check_prune_params(indicators: Sequence[str], repeat: int, precision: int | None, drop_none: bool,
                       **protocol) -> tuple[tuple[str, ...], SupernetProtocol]:
    """The pruning strategies' parameters checked (the registry's ``check``, also at run time):
    the indicator names and the :class:`SupernetProtocol` they give."""
    names = check_indicators(indicators)
    check_int("repeat", repeat)
    if precision is not None:
        check_int("precision", precision, minimum=0)
    if not isinstance(drop_none, bool):
        raise ValueError(f"parameter drop_none={drop_none!r}: must be true or false")
    return names, SupernetProtocol(**protocol)


def prune_search(ctx: SearchContext, indicators: Sequence[str], repeat: int, precision: int | None,
                 drop_none: bool, proto: SupernetProtocol) -> str | None:
    names = check_indicators(indicators)
    if not hasattr(ctx.space, "num_edges"):
        raise ValueError(f"this strategy prunes the ops of every edge; space {ctx.space.name!r} is not an "
                         "edges x ops cell")
    E, K = ctx.space.num_edges, ctx.space.num_ops
    mask = np.ones((E, K), dtype=bool)
    if drop_none:
        if "none" not in ctx.space.ops:
            raise ValueError(f"parameter drop_none=true: space {ctx.space.name!r} has no 'none' op")
        mask[:, ctx.space.ops.index("none")] = False
    with ctx.budgeted():
        rnd = 0
        while (mask.sum(1) > 1).any():
            cands = [(e, k) for e in range(E) if mask[e].sum() > 1 for k in range(K) if mask[e, k]]
            weights = [mask_weights(mask)]
            for e, k in cands:
                m = mask.copy()
                m[e, k] = False
                weights.append(mask_weights(m))
            gains = {n: np.zeros(len(cands)) for n in names}
            for _ in range(repeat):
                values = ctx.supernet_measure(weights, names, ctx.rng.randrange(2**31), proto)
                for n in names:
                    g = relative_gains(n, values[0][n], [v[n] for v in values[1:]])
                    if precision is not None:
                        g = np.array([x if math.isinf(x) else round(x, precision) for x in g])
                    gains[n] += g / repeat
            pruned = prune_choices(cands, gains, names)
            for e, k in pruned:
                mask[e, k] = False
            ctx.trace.append({"event": "prune", "round": rnd, "candidates": len(cands),
                              "pruned": [[e, ctx.space.ops[k]] for e, k in pruned], "seconds": ctx.sim_seconds})
            rnd += 1
    if (mask.sum(1) > 1).any():
        return None  # the budget ended the search before a single path was left
    return ctx.space.to_str(mask.argmax(1).tolist())


PROTOCOL_DEFAULTS = {k: getattr(SupernetProtocol(), k) for k in
                     ("C", "N", "batch_size", "val_batch_size", "lr_samples", "lr_batches", "init")}


def _register(name: str, paper: str, title: str, indicators: Sequence[str], doc: str):
    """Register a pruning strategy ranking by ``indicators`` (TE-NAS's released defaults)."""

    def strategy(ctx: SearchContext, indicators=tuple(indicators), repeat=3, precision=None, drop_none=False,
                 **protocol) -> str | None:
        names, proto = check_prune_params(indicators, repeat, precision, drop_none, **protocol)
        return prune_search(ctx, names, repeat, precision, drop_none, proto)

    strategy.__doc__ = doc
    strategy.__name__ = name
    return register(name, paper=paper, trains=False, supernet=True, default_repeats=4, title=title,
                    minimums={"precision": 0}, choices={"init": SUPERNET_INITS}, check=check_prune_params, indicators=list(indicators), repeat=3, precision=None, drop_none=False,
                    **PROTOCOL_DEFAULTS)(strategy)


tenas = _register(
    "tenas",
    "TE-NAS (Chen et al., ICLR 2021), prune_tenas.py / prune_launch.py: NTK cond + linear regions, 3 repeats",
    "TE-NAS",
    TENAS_INDICATORS,
    """TE-NAS pruning: per round, remove on every edge the op whose removal improves the NTK
    condition number and the number of linear regions most (rank sum); until one op per edge.""",
)
tenas_teg = _register(
    "tenas_teg",
    "TEG-NAS (Chen et al.), Table 2 'TE-NAS + TEG': TE-NAS pruning with the NTK-MSE indicator added",
    "TE-NAS + TEG",
    TEG_PRUNE_INDICATORS,
    """TE-NAS + TEG pruning: TE-NAS's rank sum over NTK condition number, linear regions and
    NTK-regression MSE (trainability, expressivity, generalisation).""",
)
