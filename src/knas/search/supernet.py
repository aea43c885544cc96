"""Indicators of supernets: what the supernet searches (``tenas``, ``tenas_teg``) measure.

A supernet search sees a supernet as an ``(edges, ops)`` weight matrix (TE-NAS: the uniform
weights of a 0/1 mask of surviving ops, :func:`mask_weights`). It asks
:meth:`SearchContext.supernet_measure` for the TEG indicators of several such matrices at once;
all of them are measured on the SAME freshly initialised networks and the same batches (one
"repeat"), so their differences are the effect of the ops removed. The context charges the
seconds the measurement took.

:class:`SupernetIndicators` is the torch implementation. It knows nothing of NB201: the
networks come from the search space (:meth:`knas.spaces.base.Space.build_supernet`, the network
of the NTK indicators with the protocol's width/depth options, and
:meth:`~knas.spaces.base.Space.build_thin_supernet`, TE-NAS's thin linear-region network; spaces
with ``has_supernet``), both exposing ``set_weights(matrix)``; the indicators are the registered
proxies' own computations (:mod:`knas.proxies.tenas`), so a DARTS space only has to provide those
two builders.

Per repeat (seed ``s``, drawn by the strategy from its run seed):

* the weights: both networks built by the space after ``torch.manual_seed(s)``, each then
  initialised with ``init`` by :func:`knas.proxies.initialise` (as the score stage's networks,
  ``scoring.init``): ``kaiming_normal``, TE-NAS/TEG Eq. 4, conv/linear weights N(0, 2/fan_in), BN
  1/0; ``default``, PyTorch's default init, which is what the released code ends up with, its
  re-init call being a no-op (``../shared/SPEC-proxies.md`` 3c);
* ``ntk_cond``: the batch-graph NTK condition number of the supernet on ``batch_size`` images
  of the ``split`` split drawn with seed ``s`` (TE-NAS: 72 training images, a new batch per
  repeat; one batch per repeat, ``batches=1``: the strategy's repeats are the averaging); ``ntk_mse`` the TEG NTK-regression MSE with a second batch of ``val_batch_size``
  images of ``val_split`` (seed ``s + 1``); both exactly the ``ntk_cond`` / ``ntk_mse`` proxies,
  sharing one Jacobian per supernet;
* ``linear_regions``: distinct ReLU activation patterns of the thin supernet (every ``nn.ReLU``
  with 4-D input, i.e. every candidate op's ReLU that runs and the final ReLU; TE-NAS's
  ``Linear_Region_Collector`` hooks) over ``lr_batches`` batches of ``lr_samples`` random 3x3
  single-channel crops of the image batch (:func:`knas.proxies.tenas.sample_crops`, seed ``s``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .teg import TEG_INDICATORS as SUPERNET_INDICATORS  # the proxy registry's TEG members

from knas.proxies.registry import INITS as SUPERNET_INITS  # torch-free: the inits of knas.proxies.initialise


@dataclass(frozen=True)
class SupernetProtocol:
    """How the supernets are measured (defaults: TE-NAS's released NB201 settings)."""

    C: int = 3  # TE-NAS NB201: DARTS-V1 supernet C=3, N=1, with stem
    N: int = 1
    batch_size: int = 72  # TE-NAS prune_launch.py (TEG's per-architecture scoring uses 64)
    val_batch_size: int = 64  # ntk_mse's second batch (TEG: 64 test images)
    lr_samples: int = 1000  # crops per linear-region batch (TE-NAS input_size=(1000, 1, 3, 3))
    lr_batches: int = 3  # TE-NAS sample_batch=3
    init: str = "kaiming_normal"
    split: str = "train"
    val_split: str = "valid"

    def __post_init__(self):
        for name in ("C", "N", "batch_size", "val_batch_size", "lr_samples", "lr_batches"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"parameter {name}={v!r}: must be a positive integer")
        if self.init not in SUPERNET_INITS:
            raise ValueError(f"parameter init={self.init!r}: allowed: {', '.join(SUPERNET_INITS)}")


def check_indicators(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    bad = [n for n in names if n not in SUPERNET_INDICATORS]
    if not names or bad or len(set(names)) != len(names):
        raise ValueError(f"parameter indicators={list(names)!r}: distinct names from {', '.join(SUPERNET_INDICATORS)}")
    return names


def mask_weights(mask: np.ndarray) -> np.ndarray:
    """TE-NAS mixture weights of a 0/1 ``(edges, ops)`` mask: ``1 / #survivors`` on each
    surviving op, 0 elsewhere (``softmax`` of alphas 0 / -1000 in float32, exactly 1.0 for a
    single path). Every edge needs at least one survivor."""
    m = np.asarray(mask, dtype=np.float64)
    if m.ndim != 2 or not np.isin(m, (0, 1)).all():
        raise ValueError(f"mask must be a 2-D 0/1 matrix (edges, ops), got shape {m.shape}: {m.tolist()}")
    count = m.sum(1, keepdims=True)
    if (count == 0).any():
        raise ValueError(f"every edge needs at least one surviving op; mask rows {np.flatnonzero(count == 0).tolist()} "
                         "are empty")
    return (m / count).astype(np.float32)


def relu_patterns(model, x):
    """``(S, units)`` bool activation pattern of every ``nn.ReLU`` with 4-D input that runs
    (its output > 0), in one no-grad forward of ``model`` on ``x``."""
    import torch
    from torch import nn

    parts = []

    def hook(_module, inputs, output):
        if inputs[0].dim() == 4:
            parts.append((output > 0).flatten(1))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return torch.cat(parts, 1)


class SupernetIndicators:
    """TEG indicators of supernets of ``space`` on the prepared dataset ``data`` (see the module
    docstring). ``device``: ``auto`` (CUDA when present), ``cpu`` or ``cuda``."""

    def __init__(self, space, data, device: str = "auto"):
        from knas.utils import get_device

        if not getattr(space, "has_supernet", False):
            raise ValueError(f"search space {space.name!r} has no supernet (Space.build_supernet / "
                             "build_thin_supernet); the supernet searches need one")
        self.space = space
        self.data = data
        self.device = get_device(device)

    def _batches(self, proto: SupernetProtocol, seed: int, need_val: bool):
        from knas.data import sample_batch

        x, y = sample_batch(self.data, proto.split, proto.batch_size, seed, device=self.device)
        xv = yv = None
        if need_val:
            xv, yv = sample_batch(self.data, proto.val_split, proto.val_batch_size, seed + 1, device=self.device)
        return x, y, xv, yv

    def measure(self, weights: Sequence[np.ndarray], names: Sequence[str], seed: int,
                proto: SupernetProtocol = SupernetProtocol()) -> tuple[list[dict[str, float]], float]:
        """Indicator values ``names`` of each weight matrix in ``weights`` (one repeat, seed
        ``seed``), and the seconds the measurement took (networks, batches and indicators)."""
        import torch

        from knas import proxies as P
        from knas.proxies.tenas import count_distinct, sample_crops

        names = check_indicators(names)
        ntk_names = [n for n in names if n != "linear_regions"]
        t0 = time.perf_counter()
        nc = self.data.num_classes
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = (P.initialise(self.space.build_supernet(nc, C=proto.C, N=proto.N), proto.init) if ntk_names
                   else None)
            thin = (P.initialise(self.space.build_thin_supernet(nc), proto.init) if "linear_regions" in names
                    else None)
        x, y, xv, yv = self._batches(proto, int(seed), "ntk_mse" in names)
        batch = P.ProxyBatch(x, y, nc, xv, yv)
        crops = sample_crops(x, proto.lr_samples, proto.lr_batches, int(seed)) if thin is not None else []
        if net is not None:
            net.to(self.device).train()
        if thin is not None:
            thin.to(self.device).train()
        out = []
        for w in weights:
            w = torch.as_tensor(np.asarray(w, dtype=np.float32))
            row: dict[str, float] = {}
            if net is not None:
                net.set_weights(w)
                ctx = P.Context(net, batch, seed=int(seed), planned=ntk_names)
                for n in ntk_names:
                    row[n] = float(P.compute(n, net, batch, ctx, batches=1).value)  # repeats: the strategy's
            if thin is not None:
                thin.set_weights(w)
                codes = torch.cat([relu_patterns(thin, c) for c in crops], 0)
                row["linear_regions"] = float(count_distinct(codes))
            out.append({n: row[n] for n in names})
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return out, time.perf_counter() - t0


def supernet_indicators(space, data_path: str | None, device: str = "auto") -> SupernetIndicators:
    """:class:`SupernetIndicators` on the prepared dataset at ``data_path`` (``knas search --data``)."""
    if not data_path:
        raise ValueError("a supernet search strategy needs the prepared dataset: pass --data (data/<dataset>.npz)")
    from knas.data import load_prepared

    return SupernetIndicators(space, load_prepared(data_path), device)
