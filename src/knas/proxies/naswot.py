"""NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

Score = ``log |det K_H|`` with ``K_H[i, j] = N_A - Hamming(c_i, c_j)``, where ``c_i`` is the
binary code (ReLU input > 0) of example ``i`` over all ``N_A`` rectified units.

Official code (BayesWatch/nas-without-training ``score_networks.py`` L98-149, ``scores.py``):
hooks every module whose *class name contains "ReLU"*, runs a forward+backward (only to mark
the modules reached by backward) and a second train-mode forward that accumulates, per hooked
module, ``c c^T + (1-c)(1-c)^T`` into a float64 K; ``np.linalg.slogdet(K)[1]`` (sign discarded).

This implementation: ONE no-grad train-mode forward on a ``copy.deepcopy`` of the model (train
mode updates BN running statistics, which must not touch the caller's model). For each hooked
module the ``(N, N)`` Gram ``Z Z^T`` of the ±1 codes ``Z = 2c - 1`` is computed once; since
``c c^T + (1-c)(1-c)^T = (n + Z Z^T) / 2`` exactly (integers, float32 exact below 2**24 units
per chunk, summed in float64) the kernel equals the official one bit for bit. The per-module
Grams are cached in the :class:`~knas.proxies.base.Context` (key ``("relu_code_grams", n)``)
so ``linear_regions(protocol="full")`` reuses the same forward.

Documented deviations / caller's business:
* Counting: by default every ``nn.ReLU`` module's input counts once (the paper's definition).
  ``official_counting=True`` hooks every module whose class name contains ``"ReLU"`` as the
  released code does; in NB201 that also matches the ``ReLUConvBN`` wrappers, whose input is the
  inner ReLU's input, so those codes count twice; this reproduces the official scores.
* The official code counts only modules reached by its backward pass; a single forward counts
  every executed ReLU. In NB201 these coincide (``none`` = ``x.mul(0)`` keeps the graph). ReLUs
  applied functionally (``F.relu``) are invisible to either.
* The official NB201 setting builds the network with ``num_classes=1`` and a batch of 128
  un-augmented CIFAR-10 train images; building the model and batch is the caller's business.
* ``K`` singular (e.g. two examples with identical codes) gives ``-inf`` (as ``slogdet``
  does), returned with flag ``"degenerate"``.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .registry import register
from .base import Context, Keys, ProxyBatch, ProxyResult, check_n, working_copy

_GRAM_CHUNK = 1 << 23  # units per float32 matmul: |Z Z^T| <= 2**23 stays exact in float32


@dataclass
class CodeGram:
    """Activation codes of one hooked module call, reduced to an ``(N, N)`` Gram.

    ``gram = Z Z^T`` (float64, exact integers) of the ±1 codes ``Z = 2 (input > 0) - 1`` of shape
    ``(N, units)``; the number of agreeing units is ``(units + gram) / 2`` and the Hamming
    distance ``(units - gram) / 2``.
    """

    units: int
    gram: torch.Tensor  # (N, N) float64
    is_relu: bool  # isinstance(module, nn.ReLU)
    name_match: bool  # "ReLU" in the class name (the official NASWOT hook criterion)
    ndim: int  # dimensionality of the module input (linear-region counting uses 4-D only)


def _pm_gram(inp: torch.Tensor) -> torch.Tensor:
    """``Z Z^T`` for ``Z = 2 (inp > 0) - 1`` flattened to ``(N, units)``; float64 ``(N, N)``."""
    z = (inp.reshape(inp.shape[0], -1) > 0).to(torch.float32).mul_(2.0).sub_(1.0)  # (N, units)
    g = torch.zeros(z.shape[0], z.shape[0], dtype=torch.float64, device=z.device)
    for s in range(0, z.shape[1], _GRAM_CHUNK):
        zc = z[:, s : s + _GRAM_CHUNK]
        g += (zc @ zc.T).to(torch.float64)
    return g


def _is_hooked(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU) or "ReLU" in str(type(module))


def relu_code_grams(model: nn.Module, x: torch.Tensor) -> list[CodeGram]:
    """One no-grad, train-mode forward of ``deepcopy(model)`` on ``x``; returns one
    :class:`CodeGram` per call of each ``nn.ReLU`` or ReLU-named module, in call order.

    A module whose input is the very tensor (same object, same version) already coded in this
    forward (e.g. a ``ReLUConvBN`` wrapper and its inner ``nn.ReLU``) reuses that Gram.
    """
    net = working_copy(model)
    net.train()
    records: list[CodeGram] = []
    seen: dict[int, tuple[weakref.ref, int, torch.Tensor]] = {}

    def hook(module, inputs, output):
        inp = inputs[0] if isinstance(inputs, tuple) else inputs
        if not torch.is_tensor(inp) or inp.dim() < 1:
            return
        key = id(inp)
        hit = seen.get(key)
        if hit is not None and hit[0]() is inp and hit[1] == inp._version:
            gram = hit[2]
        else:
            gram = _pm_gram(inp.detach())
            seen[key] = (weakref.ref(inp), inp._version, gram)
        records.append(
            CodeGram(
                units=inp[0].numel(),
                gram=gram,
                is_relu=isinstance(module, nn.ReLU),
                name_match="ReLU" in str(type(module)),
                ndim=inp.dim(),
            )
        )

    handles = [m.register_forward_hook(hook) for m in net.modules() if _is_hooked(m)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return records


def cached_code_grams(ctx: Context, batch: ProxyBatch, n: int | None) -> list[CodeGram]:
    """:func:`relu_code_grams` of ``ctx.model`` on the first ``n`` examples, shared via ``ctx``."""
    n = batch.n if n is None else check_n(n, batch)
    x = batch.x[:n].to(ctx.device)
    return ctx.cached(Keys.relu_code_grams(n, "train"), lambda: relu_code_grams(ctx.model, x))


def naswot_kernel(records: list[CodeGram], official_counting: bool) -> torch.Tensor | None:
    """``K_H = sum over counted modules of (units + Z Z^T) / 2``; float64 ``(N, N)``."""
    picked = [r for r in records if (r.name_match if official_counting else r.is_relu)]
    if not picked:
        return None
    k = torch.zeros_like(picked[0].gram)
    for r in picked:
        k += (r.gram + r.units) * 0.5  # exact: gram + units is even
    return k


@register(
    "naswot",
    higher_is_better=True,
    needs_labels=False,
    paper="NASWOT (Mellor et al., ICML 2021)",
    degenerate=(
        "finite for a disconnected cell with ops on the cell input (codes after the dead cell are "
        "constant and add a rank-one block, e.g. ~672 at C=16, N=5, 128 images); -inf (flag "
        "'degenerate', the official slogdet value) when K is singular, e.g. an all-none first cell "
        "(every code constant) or two identical examples"
    ),
    official_counting=False,
    n=None,
    shares=("relu_code_grams",),
)
def naswot(model: nn.Module, batch: ProxyBatch, ctx: Context, official_counting: bool = False, n=None):
    """NASWOT log|K_H|: log-determinant of the ReLU activation-code agreement kernel (train-mode BN).

    ``official_counting=True``: the released code's hook set (class name contains "ReLU"; the
    NB201 ``ReLUConvBN`` inputs count twice). ``n``: use the first ``n`` examples (default all).
    """
    if not isinstance(official_counting, bool):
        raise ValueError(f"option official_counting={official_counting!r}: must be True or False")
    records = cached_code_grams(ctx, batch, n)
    k = naswot_kernel(records, official_counting)
    if k is None:
        return ProxyResult(float("-inf"), "degenerate")
    _, logdet = np.linalg.slogdet(k.cpu().numpy())  # float64, sign discarded (official)
    logdet = float(logdet)
    if logdet == float("-inf"):
        return ProxyResult(logdet, "degenerate")
    return ProxyResult(logdet) if np.isfinite(logdet) else ProxyResult(float("nan"), "nan")
