"""GT-NAS gradient-kernel proxies: gradient correlation ``R``, gradient value ``V``, kernel mean.

GT-NAS (ICLR submission) scores an untrained network by statistics of per-example gradients, layer
by layer. For each parameter tensor ("layer") l used by the loss:

* ``G`` ``(mu, theta_l)``: the gradients of the per-example CE losses of the first ``mu`` examples
  (option ``n``, default 50; batch of one, train-mode BN, exactly the KNAS protocol, see
  :mod:`knas.proxies.knas`) at ``theta_l = min(theta, numel)`` entries drawn by
  :func:`knas.proxies.knas.sample_indices` (option ``theta``, default 50; option ``seed``, default 0).
  Layers with fewer than ``theta`` entries use all of them.
* ``Gc = G - rowmean(G)``: each example's row centred by the mean of its own ``theta_l`` values
  (centring across examples instead would make ``mean(P)`` exactly 0).
* ``P = Gc Gc^T`` ``(mu, mu)``; ``C_ij = P_ij / (|Gc_i| |Gc_j|)`` (the correlation between two
  examples' gradients over the sampled parameters).

``grad_corr`` = mean over layers of ``mean(C)``; ``grad_value`` = mean over layers of ``mean(|G|)``;
``gt_kernel`` = mean over layers of ``mean(P)``. All higher is better (correlated gradients generalise,
large gradients train fast; the kernel mean is KNAS's MGM on centred sampled gradients).

Choices the GT-NAS text leaves open (the paper text was not available to us; documented here):

* ``grad_value`` uses the *raw* (uncentred) gradients: it measures gradient magnitude, which
  centring would partly remove (e.g. a bias whose entries share one sign).
* A zero row (an example whose sampled gradients are all equal, e.g. exactly 0 in a layer cut off
  by ``none`` edges) has no direction: its ``C`` entries are defined as 0 (not NaN); the layer still
  counts in the average. So a layer with all-zero gradients contributes ``R = V = kernel = 0``.
* "Numerically zero" rows count as zero rows: centred norm ``<= ZERO_RTOL[dtype]`` (1e-7 for
  float32, 1e-14 for float64) times the same example's largest centred row norm over all layers.
  Reason: some gradients are 0 in exact arithmetic but float32 rounding noise in practice (in NB201,
  the BN biases of the last cell whose node reaches ``lastact``'s BN through skip/pool edges only:
  BN is shift invariant). Their correlation is noise (it moved R by ~1% and differed between a
  batched and a per-example-loop computation); observed noise <= 7e-9 relative, real gradients
  >= 1.6e-7 relative except one 7e-10 (float64 agrees) in all-skip; float32 cannot resolve such a
  row's direction anyway. ``grad_value``/``gt_kernel`` are not scale-invariant and unaffected.
* "Layer" = parameter tensor (weights, biases and BN affine vectors are separate layers), in
  ``named_parameters()`` order; parameters the loss does not reach are skipped.
* All statistics are computed in float64 from the float32 per-example gradients.

The three proxies share ONE per-example gradient computation with ``knas_code``
(``ctx.cached(Keys.per_example_grads(n), ...)``) and one per-layer reduction
(``ctx.cached(Keys.gtnas_layers(n, theta, seed), ...)``).

Degenerate networks (disconnected cell / all-``none``): every weight gradient is 0; only the
classifier bias has non-zero rows ``softmax(b) - onehot(y_i)``. Values are then input-independent
(label-dependent) and small: ``grad_corr`` ~ 0 (same-label pairs 1, others ~ -1/9, divided by the
number of layers), ``grad_value`` and ``gt_kernel`` small positive; flag ``"degenerate"``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register
from .base import Context, Keys, ProxyBatch
from .knas import flagged_result, per_example_grads, sample_indices

PAPER_GTNAS = "GT-NAS (ICLR submission): gradient correlation R, gradient value V, gradient kernel"


@dataclass
class LayerStats:
    """Per-layer GT-NAS statistics (float64, one entry per used parameter tensor, in order)."""

    names: tuple[str, ...]
    corr: torch.Tensor  # (L,) mean(C)
    value: torch.Tensor  # (L,) mean(|G|)
    kernel: torch.Tensor  # (L,) mean(P)
    degenerate: bool


# numerically-zero rows: centred norm <= ZERO_RTOL[dtype] * the example's largest centred row norm
ZERO_RTOL = {torch.float64: 1e-14, torch.float32: 1e-7, torch.bfloat16: 1e-3, torch.float16: 1e-3}


def layer_stats_from_grads(G: torch.Tensor, scale: torch.Tensor | None = None, zero_rtol: float = 0.0):
    """``G``: ``(L, mu, t)`` sampled per-example gradients of L layers with t entries each.

    Returns ``(mean C, mean |G|, mean P)``, each ``(L,)``, computed in float64. Rows whose centred
    norm is ``<= zero_rtol * scale`` (``scale``: ``(mu,)``) count as zero rows (their C entries are 0).
    """
    G = G.double()
    Gc = G - G.mean(2, keepdim=True)  # (L, mu, t) rows centred over their own t entries
    P = Gc @ Gc.transpose(1, 2)  # (L, mu, mu)
    norm = Gc.norm(dim=2)  # (L, mu)
    zero = norm <= (0.0 if scale is None else zero_rtol * scale)  # (L, mu)
    norm = torch.where(zero, 1.0, norm)
    C = P / (norm.unsqueeze(2) * norm.unsqueeze(1))  # (L, mu, mu)
    C = C.masked_fill(zero.unsqueeze(2) | zero.unsqueeze(1), 0.0)
    return C.mean((1, 2)), G.abs().mean((1, 2)), P.mean((1, 2))


def _compute_layer_stats(model, batch, ctx, n: int, theta: int, seed: int) -> LayerStats:
    idx = sample_indices(model, theta, seed)  # validates theta, seed
    pe = per_example_grads(model, batch, ctx, n)
    if not pe.names:
        nan = torch.full((0,), float("nan"), dtype=torch.float64)
        return LayerStats((), nan, nan, nan, pe.degenerate)
    sampled = {k: pe.at(k, idx[k]) for k in pe.names}  # name -> (mu, t_l)
    dtype = next(iter(sampled.values())).dtype
    # each example's largest centred row norm over all layers: the scale for "numerically zero"
    scale = torch.stack([(g.double() - g.double().mean(1, keepdim=True)).norm(dim=1)
                         for g in sampled.values()])  # (L, mu)
    scale = scale.max(0).values  # (mu,)
    # group layers by their number of sampled entries -> one batched reduction per group
    groups: dict[int, list[str]] = {}
    for k in pe.names:
        groups.setdefault(sampled[k].shape[1], []).append(k)
    out = {}
    for names in groups.values():
        G = torch.stack([sampled[k] for k in names])  # (L, mu, t)
        for k, c, v, p in zip(names, *layer_stats_from_grads(G, scale, ZERO_RTOL.get(dtype, 1e-7))):
            out[k] = (c, v, p)
    cols = [torch.stack([out[k][i] for k in pe.names]) for i in range(3)]
    return LayerStats(pe.names, cols[0], cols[1], cols[2], pe.degenerate)


def layer_stats(model: nn.Module, batch: ProxyBatch, ctx: Context, n: int, theta: int,
                seed: int) -> LayerStats:
    """GT-NAS per-layer statistics, computed once per ``ctx`` for given ``(n, theta, seed)``."""
    return ctx.cached(Keys.gtnas_layers(n, theta, seed),
                      lambda: _compute_layer_stats(model, batch, ctx, n, theta, seed))


def _layer_mean(stats: LayerStats, values: torch.Tensor):
    v = float(values.mean()) if values.numel() else float("nan")
    return flagged_result(v, stats.degenerate)


_DEFAULTS = dict(shares=("per_example_grads", "gtnas_layers"), n=50, theta=50, seed=0)


@register(
    "grad_corr",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_GTNAS,
    degenerate=("disconnected/all-none: only the classifier-bias layer is non-zero; ~0 (label-dependent), "
                "flag 'degenerate'"),
    **_DEFAULTS,
)
def grad_corr(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, theta: int, seed: int):
    """GT-NAS gradient correlation R: layer-averaged mean correlation between examples' sampled gradients.

    Per layer, ``mean_ij C_ij`` with ``C_ij = <Gc_i, Gc_j> / (|Gc_i| |Gc_j|)`` over ``theta`` sampled
    entries, rows centred by their own mean; zero rows give ``C = 0``. See the module docstring.
    """
    stats = layer_stats(model, batch, ctx, n, theta, seed)
    return _layer_mean(stats, stats.corr)


@register(
    "grad_value",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_GTNAS,
    degenerate=("disconnected/all-none: classifier-bias mean |grad| / #layers (small, input-independent), "
                "flag 'degenerate'"),
    **_DEFAULTS,
)
def grad_value(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, theta: int, seed: int):
    """GT-NAS gradient value V: layer-averaged mean absolute per-example gradient at sampled entries.

    Per layer, ``mean |G|`` of the raw (uncentred) per-example gradients at ``theta`` sampled entries.
    """
    stats = layer_stats(model, batch, ctx, n, theta, seed)
    return _layer_mean(stats, stats.value)


@register(
    "gt_kernel",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_GTNAS,
    degenerate=("disconnected/all-none: classifier-bias Gram mean / #layers (small, input-independent), "
                "flag 'degenerate'"),
    **_DEFAULTS,
)
def gt_kernel(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, theta: int, seed: int):
    """GT-NAS gradient kernel: layer-averaged mean of the Gram matrix of centred sampled gradients.

    Per layer, ``mean(P)`` with ``P = Gc Gc^T`` ``(mu, mu)`` over ``theta`` sampled entries, rows
    centred by their own mean.
    """
    stats = layer_stats(model, batch, ctx, n, theta, seed)
    return _layer_mean(stats, stats.kernel)
