"""GT-NAS gradient-kernel proxies: gradient correlation ``R``, gradient value ``V``, kernel mean.

Paper: "A Gradient-based Kernel Approach for Efficient Network Architecture Search", ICLR 2021
submission (anonymous; /work/shared/papers/gtnas_iclr2021_submission.txt). No code was released
("We will release the code on publication", footnote 1); the published successor is KNAS
(:mod:`knas.proxies.knas`), whose released code computes something else (``knas_code``).

Notation (Sec. 3): ``G^(l)`` ``(mu, r)`` holds the gradients of ``mu`` examples w.r.t. the ``r``
parameters of layer l; here the per-example CE-loss gradients of the first ``mu`` examples (option
``n``, default 50 = the paper's mu, Sec. 3 and 5; batch of one, train-mode BN, exactly the KNAS
protocol, see :mod:`knas.proxies.knas`). "Layer" = one parameter tensor (weights, biases and BN
affine vectors are separate layers), in ``named_parameters()`` order; parameters the loss does not
reach are skipped. All statistics are computed in float64 from the float32 per-example gradients.

Defaults = the paper's definitions:

* ``grad_corr`` R (Eqs. 1-3): per layer, ``P = G G^T`` (Eq. 1, raw uncentred gradients),
  ``C_ij = P_ij / (|G_i| |G_j|)`` (Eq. 2, the cosine of two examples' gradients), and R = the mean
  of C (Eq. 3). "We also randomly sample theta parameters when calculating R" (Sec. 3): ``G`` is
  restricted to ``theta_l = min(theta, numel)`` entries drawn by
  :func:`knas.proxies.knas.sample_indices` (option ``theta``, default 50 = the paper's theta, Sec. 3
  and 5; option ``seed``, default 0). Eq. 3's expectation over layers: every C^(l) is ``(mu, mu)``,
  so the mean over all layers' entries is the mean over layers of ``mean(C^(l))``.
* ``grad_value`` V (Eq. 4): ``V = E(|G^(l)|)``, the mean absolute gradient over ALL parameters (the
  paper samples theta only for R, Sec. 3) and examples, pooled over the layers: "the average of all
  absolute gradients in a model" (Fig. 1 caption, the dotted line). Option ``theta=t``: the mean
  over layers of ``mean |G^(l)|`` at ``t`` sampled entries per layer (cheaper; the earlier knas
  reading, kept for comparison).
* ``gt_kernel`` (Sec. 5, Sec. 6.3): "the average of the Gram matrix of gradient, i.e., P in Eq. 1",
  with ``mu = theta = 50`` "when estimating kernel" (Sec. 5): per layer ``mean(P)`` over the theta
  sampled entries, uncentred (Eq. 1), averaged over layers (as R).

Option ``centred: true`` (``grad_corr``, ``gt_kernel``): each example's row is first centred by the
mean of its own ``theta_l`` sampled values, ``Gc = G - rowmean(G)``; C is then the Pearson
correlation of two examples' sampled gradients and the kernel the mean of ``Gc Gc^T``. This was
this package's earlier default; it is one reading of Sec. 5's "We normalize gradients by
subtracting the average of sampled gradients before calculation" (that sentence is ambiguous:
centring each parameter across the mu examples instead makes ``mean(P)`` exactly 0, since
``mean_ij <Gc_i, Gc_j> = |mean_i Gc_i|^2``). Eqs. 1-2 themselves do not centre.

Choices the text leaves open (documented here):

* A zero row (an example whose sampled gradients are all 0 -- or all equal, when centred -- e.g. in
  a layer cut off by ``none`` edges) has no direction: its ``C`` entries are defined as 0 (not NaN);
  the layer still counts in the average. So a layer with all-zero gradients contributes
  ``R = kernel = 0``.
* "Numerically zero" rows count as zero rows: row norm (centred norm when centred) ``<=
  ZERO_RTOL[dtype]`` (1e-7 for float32, 1e-14 for float64) times the same example's largest such
  row norm over all layers. Reason: some gradients are 0 in exact arithmetic but float32 rounding
  noise in practice (in NB201, the BN biases of the last cell whose node reaches ``lastact``'s BN
  through skip/pool edges only: BN is shift invariant). Their direction is noise (it moved the
  centred R by ~1% and differed between a batched and a per-example-loop computation); observed
  noise <= 7e-9 relative, real gradients >= 1.6e-7 relative except one 7e-10 (float64 agrees) in
  all-skip. ``grad_value``/``gt_kernel`` are not scale-invariant and unaffected.

The three proxies share ONE per-example gradient computation with ``mgm``/``knas_code``
(``ctx.cached(Keys.per_example_grads(n), ...)``), one per-layer reduction for every ``centred``
(``ctx.cached(Keys.gtnas_layers(n, theta, seed), ...)``) and, for V over all parameters, one
absolute-gradient sum (``ctx.cached(Keys.gtnas_abs_grads(n), ...)``).

Degenerate networks (disconnected cell / all-``none``): every weight gradient is 0; only the
classifier bias has non-zero rows ``softmax(b) - onehot(y_i)``. Values are then input-independent
(label-dependent) and small: ``grad_corr`` = that layer's mean cosine / number of layers,
``grad_value`` and ``gt_kernel`` small positive; flag ``"degenerate"``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .registry import register
from .base import Context, Keys, ProxyBatch
from .knas import flagged_result, per_example_grads, sample_indices

PAPER_GTNAS = "GT-NAS (ICLR 2021 submission): gradient correlation R, gradient value V, gradient kernel"


@dataclass
class LayerStats:
    """Per-layer GT-NAS statistics at the sampled entries (float64, one entry per used parameter
    tensor, in order); ``corr``/``kernel`` from the raw gradients (Eqs. 1-3), ``corr_c``/``kernel_c``
    from the row-centred ones (``centred: true``)."""

    names: tuple[str, ...]
    corr: torch.Tensor  # (L,) mean(C), raw
    kernel: torch.Tensor  # (L,) mean(P), raw
    corr_c: torch.Tensor  # (L,) mean(C), rows centred
    kernel_c: torch.Tensor  # (L,) mean(P), rows centred
    value: torch.Tensor  # (L,) mean(|G|) at the sampled entries
    degenerate: bool

    def corr_of(self, centred: bool) -> torch.Tensor:
        return self.corr_c if centred else self.corr

    def kernel_of(self, centred: bool) -> torch.Tensor:
        return self.kernel_c if centred else self.kernel


# numerically-zero rows: row norm <= ZERO_RTOL[dtype] * the example's largest row norm
ZERO_RTOL = {torch.float64: 1e-14, torch.float32: 1e-7, torch.bfloat16: 1e-3, torch.float16: 1e-3}


def _rows(G: torch.Tensor, centred: bool) -> torch.Tensor:
    """``G`` (..., t) in float64, each row centred over its own t entries when ``centred``."""
    G = G.double()
    return G - G.mean(-1, keepdim=True) if centred else G


def layer_stats_from_grads(G: torch.Tensor, scale: torch.Tensor | None = None, zero_rtol: float = 0.0,
                           centred: bool = False):
    """``G``: ``(L, mu, t)`` sampled per-example gradients of L layers with t entries each.

    Returns ``(mean C, mean |G|, mean P)``, each ``(L,)``, computed in float64; ``P = Gr Gr^T``,
    ``C_ij = P_ij / (|Gr_i| |Gr_j|)`` with ``Gr = G`` (Eqs. 1-2) or, ``centred``, G's rows centred
    by their own mean. Rows whose norm ``|Gr_i|`` is ``<= zero_rtol * scale`` (``scale``: ``(mu,)``)
    count as zero rows (their C entries are 0).
    """
    Gr = _rows(G, centred)  # (L, mu, t)
    P = Gr @ Gr.transpose(1, 2)  # (L, mu, mu)
    norm = Gr.norm(dim=2)  # (L, mu)
    zero = norm <= (0.0 if scale is None else zero_rtol * scale)  # (L, mu)
    norm = torch.where(zero, 1.0, norm)
    C = P / (norm.unsqueeze(2) * norm.unsqueeze(1))  # (L, mu, mu)
    C = C.masked_fill(zero.unsqueeze(2) | zero.unsqueeze(1), 0.0)
    return C.mean((1, 2)), G.double().abs().mean((1, 2)), P.mean((1, 2))


def _compute_layer_stats(model, batch, ctx, n: int, theta: int, seed: int) -> LayerStats:
    idx = sample_indices(model, theta, seed)  # validates theta, seed
    pe = per_example_grads(model, batch, ctx, n)
    if not pe.names:
        nan = torch.full((0,), float("nan"), dtype=torch.float64)
        return LayerStats((), nan, nan, nan, nan, nan, pe.degenerate)
    sampled = {k: pe.at(k, idx[k]) for k in pe.names}  # name -> (mu, t_l)
    rtol = ZERO_RTOL.get(next(iter(sampled.values())).dtype, 1e-7)
    # group layers by their number of sampled entries -> one batched reduction per group
    groups: dict[int, list[str]] = {}
    for k in pe.names:
        groups.setdefault(sampled[k].shape[1], []).append(k)
    cols = {}
    for centred in (False, True):
        # each example's largest row norm over all layers: the scale for "numerically zero"
        scale = torch.stack([_rows(g, centred).norm(dim=1) for g in sampled.values()]).max(0).values  # (mu,)
        out = {}
        for names in groups.values():
            G = torch.stack([sampled[k] for k in names])  # (L, mu, t)
            for k, c, v, p in zip(names, *layer_stats_from_grads(G, scale, rtol, centred)):
                out[k] = (c, v, p)
        cols[centred] = [torch.stack([out[k][i] for k in pe.names]) for i in range(3)]
    (corr, value, kernel), (corr_c, _, kernel_c) = cols[False], cols[True]
    return LayerStats(pe.names, corr, kernel, corr_c, kernel_c, value, pe.degenerate)


def layer_stats(model: nn.Module, batch: ProxyBatch, ctx: Context, n: int, theta: int,
                seed: int) -> LayerStats:
    """GT-NAS per-layer statistics, computed once per ``ctx`` for given ``(n, theta, seed)``."""
    return ctx.cached(Keys.gtnas_layers(n, theta, seed),
                      lambda: _compute_layer_stats(model, batch, ctx, n, theta, seed))


@dataclass
class AbsGrads:
    """Per used parameter tensor: the sum over the ``mu`` examples and ALL entries of ``|g|``
    (float64) and the number of entries; for V over all parameters (Eq. 4)."""

    names: tuple[str, ...]
    abs_sum: torch.Tensor  # (L,)
    numel: torch.Tensor  # (L,)
    n: int
    degenerate: bool


def _compute_abs_grads(model, batch, ctx, n: int) -> AbsGrads:
    pe = per_example_grads(model, batch, ctx, n)
    sums = [float(pe.at(k, torch.arange(pe.numel[k])).double().abs().sum()) for k in pe.names]
    return AbsGrads(pe.names, torch.tensor(sums, dtype=torch.float64),
                    torch.tensor([pe.numel[k] for k in pe.names], dtype=torch.float64), n, pe.degenerate)


def abs_grads(model: nn.Module, batch: ProxyBatch, ctx: Context, n: int) -> AbsGrads:
    """:class:`AbsGrads` of the first ``n`` examples, computed once per ``ctx``."""
    return ctx.cached(Keys.gtnas_abs_grads(n), lambda: _compute_abs_grads(model, batch, ctx, n))


def _layer_mean(stats: LayerStats, values: torch.Tensor):
    v = float(values.mean()) if values.numel() else float("nan")
    return flagged_result(v, stats.degenerate)


_SHARES = ("per_example_grads", "gtnas_layers")


@register(
    "grad_corr",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_GTNAS + " (Sec. 3, Eqs. 1-3)",
    degenerate=("disconnected/all-none: only the classifier-bias layer is non-zero: its mean cosine "
                "(label-dependent) / #layers, flag 'degenerate'"),
    shares=_SHARES,
    n=50,
    theta=50,
    seed=0,
    centred=False,
)
def grad_corr(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, theta: int, seed: int,
              centred: bool):
    """GT-NAS gradient correlation R (Eqs. 1-3): layer-averaged mean cosine between examples' sampled gradients.

    Per layer, ``mean_ij C_ij`` with ``C_ij = <G_i, G_j> / (|G_i| |G_j|)`` over ``theta`` sampled
    entries of the raw per-example gradients (Sec. 3); zero rows give ``C = 0``. ``centred=True``:
    rows centred by their own mean first (Pearson correlation). See the module docstring.
    """
    stats = layer_stats(model, batch, ctx, n, theta, seed)
    return _layer_mean(stats, stats.corr_of(centred))


@register(
    "grad_value",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_GTNAS + " (Sec. 3, Eq. 4)",
    degenerate=("disconnected/all-none: the classifier bias's sum of |grad| / (n * #parameters) (small, "
                "input-independent), flag 'degenerate'"),
    shares=_SHARES + ("gtnas_abs_grads",),
    n=50,
    theta=None,
    seed=0,
)
def grad_value(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, theta: int | None, seed: int):
    """GT-NAS gradient value V (Eq. 4): mean absolute per-example gradient over all parameters.

    ``theta=None`` (paper): ``mean |g|`` over the ``n`` examples and every entry of every used
    parameter tensor, pooled (Eq. 4; Fig. 1's "average of all absolute gradients in a model").
    ``theta=t``: the mean over layers of ``mean |G|`` at ``t`` sampled entries per layer (``seed``).
    """
    if theta is None:
        a = abs_grads(model, batch, ctx, n)
        v = float(a.abs_sum.sum() / (a.n * a.numel.sum())) if a.names else float("nan")
        return flagged_result(v, a.degenerate)
    stats = layer_stats(model, batch, ctx, n, theta, seed)
    return _layer_mean(stats, stats.value)


@register(
    "gt_kernel",
    higher_is_better=True,
    needs_labels=True,
    paper=PAPER_GTNAS + " (Sec. 5, mean of P of Eq. 1)",
    degenerate=("disconnected/all-none: classifier-bias Gram mean / #layers (small, input-independent), "
                "flag 'degenerate'"),
    shares=_SHARES,
    n=50,
    theta=50,
    seed=0,
    centred=False,
)
def gt_kernel(model: nn.Module, batch: ProxyBatch, ctx: Context, *, n: int, theta: int, seed: int,
              centred: bool):
    """GT-NAS gradient kernel (Sec. 5): layer-averaged mean of the Gram matrix P (Eq. 1) of sampled gradients.

    Per layer, ``mean(P)`` with ``P = G G^T`` ``(mu, mu)`` over ``theta`` sampled entries of the raw
    per-example gradients. ``centred=True``: rows centred by their own mean first.
    """
    stats = layer_stats(model, batch, ctx, n, theta, seed)
    return _layer_mean(stats, stats.kernel_of(centred))
