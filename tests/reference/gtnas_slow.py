"""Slow GT-NAS references: one forward/backward per example (the KNAS per-example protocol),
then per-layer statistics with numpy (``np.corrcoef`` for the correlation matrix).

There is no released GT-NAS code; this is the definition in ``knas.proxies.gtnas`` written
independently and the slow way, used for fidelity tests and as the "per-example loop" baseline in
benchmarks. Uniform signature ``official_<proxy>(model, x, y, **opts) -> float``.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from .official_knas import _per_example_loop, sampled_entries


ZERO_RTOL = {torch.float32: 1e-7, torch.float64: 1e-14}


def _layers(model, x, y, n, theta, seed):
    grads = _per_example_loop(model, x, y, n)
    idx = sampled_entries(model, theta, seed)
    return [np.stack([t[idx[name]].double().cpu().numpy() for t in g]) for name, g in grads.items()]  # (mu, t_l)


def _corr_mean(G: np.ndarray, zero: np.ndarray) -> float:
    """mean of the Pearson correlation matrix of G's rows; rows flagged ``zero`` correlate 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero-variance rows -> NaN
        C = np.atleast_2d(np.corrcoef(G))  # Pearson correlation of rows over sampled entries
    C[zero, :] = 0.0
    C[:, zero] = 0.0
    return float(np.nan_to_num(C, nan=0.0).mean())


def _kernel_mean(G: np.ndarray) -> float:
    mu = G.shape[0]
    Gc = [G[i] - G[i].mean() for i in range(mu)]
    return float(sum(float(np.dot(Gc[i], Gc[j])) for i in range(mu) for j in range(mu)) / mu**2)


def official_grad_corr(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n=50, theta=50, seed=0) -> float:
    layers = _layers(model, x, y, n, theta, seed)
    norms = [np.array([np.linalg.norm(r - r.mean()) for r in G]) for G in layers]  # (mu,) per layer
    scale = np.max(norms, axis=0)  # each example's largest centred row norm
    tol = ZERO_RTOL[next(model.parameters()).dtype]
    vals = [_corr_mean(G, nrm <= tol * scale) for G, nrm in zip(layers, norms)]
    return float(np.mean(vals))


def official_grad_value(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n=50, theta=50, seed=0) -> float:
    vals = [float(np.abs(G).mean()) for G in _layers(model, x, y, n, theta, seed)]
    return float(np.mean(vals))


def official_gt_kernel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n=50, theta=50, seed=0) -> float:
    vals = [_kernel_mean(G) for G in _layers(model, x, y, n, theta, seed)]
    return float(np.mean(vals))
