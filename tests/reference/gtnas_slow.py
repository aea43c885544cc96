"""Slow GT-NAS references: one forward/backward per example (the KNAS per-example protocol,
:func:`reference.official_knas._per_example_loop`), then the paper's Sec. 3 equations with explicit
Python loops over examples (no Gram matrix products, no vectorised cosine).

There is no released GT-NAS code; this is the definition of ``knas.proxies.gtnas`` written
independently and the slow way from the paper (ICLR 2021 submission, Sec. 3 Eqs. 1-4, Sec. 5), used
for fidelity tests and as the "per-example loop" baseline in benchmarks. Uniform signature
``official_<proxy>(model, x, y, **opts) -> float``.

* Eq. 1: ``P_ij = <G_i, G_j>``; Eq. 2: ``C_ij = P_ij / (|G_i| |G_j|)``; Eq. 3: R = mean of C;
  R and the kernel over ``theta`` sampled entries per layer, averaged over layers.
* Eq. 4: V = mean |g| over every parameter and example (pooled); ``theta=t``: the mean over layers
  of the mean |g| at t sampled entries.
* ``centred=True``: each example's sampled row minus its own mean before Eqs. 1-2.
* A row whose norm is <= ZERO_RTOL times the same example's largest row norm over the layers has
  no direction: its C entries are 0.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .official_knas import _per_example_loop, sampled_entries


ZERO_RTOL = {torch.float32: 1e-7, torch.float64: 1e-14}


def _dot(u: list[float], v: list[float]) -> float:
    return math.fsum(a * b for a, b in zip(u, v))


def _layers(model, x, y, n, theta, seed, centred):
    """Per used layer, the mu sampled rows as lists of Python floats (centred if asked)."""
    grads = _per_example_loop(model, x, y, n)
    idx = sampled_entries(model, theta, seed)
    layers = []
    for name, g in grads.items():
        rows = []
        for gi in g:  # one example
            r = [float(v) for v in gi[idx[name]].double()]
            if centred:
                m = math.fsum(r) / len(r)
                r = [v - m for v in r]
            rows.append(r)
        layers.append(rows)
    return layers


def official_grad_corr(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n=50, theta=50, seed=0,
                       centred=False) -> float:
    layers = _layers(model, x, y, n, theta, seed, centred)
    norms = [[math.sqrt(_dot(r, r)) for r in rows] for rows in layers]  # [layer][example]
    scale = [max(norms[l][i] for l in range(len(layers))) for i in range(n)]
    tol = ZERO_RTOL[next(model.parameters()).dtype]
    vals = []
    for rows, nrm in zip(layers, norms):
        total = 0.0
        for i in range(n):
            for j in range(n):
                if nrm[i] <= tol * scale[i] or nrm[j] <= tol * scale[j]:
                    continue  # C_ij = 0
                total += _dot(rows[i], rows[j]) / (nrm[i] * nrm[j])  # Eq. 2
        vals.append(total / n ** 2)  # Eq. 3, this layer
    return sum(vals) / len(vals)


def official_grad_value(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n=50, theta=None, seed=0) -> float:
    if theta is not None:
        vals = [sum(abs(v) for r in rows for v in r) / (len(rows) * len(rows[0]))
                for rows in _layers(model, x, y, n, theta, seed, False)]
        return sum(vals) / len(vals)
    total, count = 0.0, 0
    for g in _per_example_loop(model, x, y, n).values():  # every used tensor, every example
        for gi in g:
            total += float(gi.double().abs().sum())
            count += gi.numel()
    return total / count  # Eq. 4, pooled over all parameters


def official_gt_kernel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n=50, theta=50, seed=0,
                       centred=False) -> float:
    vals = []
    for rows in _layers(model, x, y, n, theta, seed, centred):
        vals.append(sum(_dot(rows[i], rows[j]) for i in range(n) for j in range(n)) / n ** 2)  # mean of P (Eq. 1)
    return sum(vals) / len(vals)
