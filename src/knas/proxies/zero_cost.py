"""Zero-cost baselines (Abdelfattah et al., ICLR 2021, SamsungLabs/zero-cost-nas) + params/flops.

Each proxy reproduces the value that ``foresight.pruners.predictive.find_measures`` returns
for that measure (SPEC-proxies §5):

* every measure runs on ``copy.deepcopy(model)``, in the model's own train/eval mode (a fresh
  network is in train mode: BatchNorm uses batch statistics); ``fisher`` forces train mode;
  ``synflow`` replaces every ``BatchNorm1d/2d`` forward by the identity (``synflow_bn`` keeps it);
* loss = mean cross-entropy of the logits on the batch (``F.cross_entropy``);
* per-weight arrays for every ``nn.Conv2d`` and ``nn.Linear`` in ``model.modules()`` order,
  summed over elements and layers (``jacob_cov`` is a scalar);
* all scores are "higher is better" exactly as returned by the official code.

Faster than the official code, with the same values (tests: rtol 1e-4 against
``tests/reference/official_zero_cost.py``):

* ``grad_norm``, ``snip``, ``plain`` and (in train mode) ``fisher`` share ONE forward/backward
  (``ctx.cached(Keys.ce_grad(n, split_data, train), ...)``): the CE gradient of the conv/linear
  weights of one deep copy, plus fisher's per-channel ``Σ_hw act·∂L/∂act`` collected by tensor
  hooks in the same backward when fisher is asked for or a proxy sharing ``fisher_stats`` is planned
  on the context (``ctx.plans``;
  the hooks cost ~15% of the pass, so grad_norm/snip/plain alone run without them).
  snip's mask trick gives ``|∂L/∂(W⊙m)|_{m=1} = |∂L/∂W ⊙ W|``.
* ``grasp``: upstream runs forward #1 (no graph) for ``g`` and forward #2 with
  ``create_graph`` for ``Hg``. Forward #2 replays forward #1 exactly (same weights, same batch,
  batch-statistics BN), so one forward serves both: ``g`` is the detached ``create_graph``
  gradient (with ``split_data=1``).
* gradients are taken with ``torch.autograd.grad`` w.r.t. only what is used (conv/linear
  weights, or the input for ``jacob_cov``), not ``backward()`` into every parameter.

``split_data`` (official option, default 1) splits the batch into that many chunks
(``st = i*N//split``), as upstream; with BN in train mode the chunks have their own batch
statistics, so the value depends on it, exactly as upstream. On CUDA out-of-memory the
computation is retried with the next larger split that divides the batch, as upstream's
``find_measures_arrays`` does (so the value may then differ from the unsplit one).
Upstream grasp keeps only the LAST chunk's gradient ``g`` when ``split_data > 1`` (its
``grad_w = None`` sits inside the split loop) and sums ``Hg`` over all chunks; reproduced.

``n`` (default ``None`` = the whole batch) scores the first ``n`` examples of the batch.
"""
from __future__ import annotations

import math
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import autograd, nn

from ..spaces.flops import count_flops
from .registry import register
from .base import (Context, Keys, ProxyBatch, ProxyResult, check_n, finite_or_flag, is_cuda_oom, logits_of,
                   working_copy)

PAPER = "Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021"
_LAYERS = (nn.Conv2d, nn.Linear)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d)


# ---- helpers ---------------------------------------------------------------------------------

def _layers(net: nn.Module) -> list[nn.Module]:
    """Every Conv2d / Linear in ``net.modules()`` order (upstream ``get_layer_metric_array``)."""
    return [m for m in net.modules() if isinstance(m, _LAYERS)]


def _identity(self, x):
    return x


def _copy(model: nn.Module, bn: bool = True) -> nn.Module:
    """Upstream ``copynet``: a deep copy; with ``bn=False`` every BatchNorm forward is identity."""
    net = working_copy(model)
    if not bn:
        for m in net.modules():
            if isinstance(m, _BNS):
                m.forward = types.MethodType(_identity, m)
    return net


def _inputs(model: nn.Module, batch: ProxyBatch, ctx: Context, n: int | None, labels: bool):
    """The first ``n`` examples (all with ``n=None``) on the model's device."""
    n = batch.n if n is None else check_n(n, batch)
    x = batch.x[:n].to(ctx.device)  # (n, C, H, W)
    y = batch.y[:n].to(ctx.device) if labels else None  # (n,)
    return x, y


def _check_split(split_data, n: int) -> int:
    if not isinstance(split_data, int) or isinstance(split_data, bool) or not 1 <= split_data <= n:
        raise ValueError(f"option split_data={split_data!r}: must be an integer in [1, {n}] (batch size)")
    return split_data


def _chunks(n: int, split: int) -> list[tuple[int, int]]:
    """Upstream chunking: ``st = sp*N//split, en = (sp+1)*N//split``."""
    return [(sp * n // split, (sp + 1) * n // split) for sp in range(split)]


def _with_oom_retry(fn: Callable[[int], object], n: int, split: int):
    """Run ``fn(split)``; on CUDA OOM retry with the next split dividing ``n`` (upstream driver)."""
    while True:
        try:
            return fn(split)
        except RuntimeError as err:
            if not is_cuda_oom(err) or split >= n:
                raise
            torch.cuda.empty_cache()
            split += 1
            while n % split:
                split += 1


def _zero_if_zero(v: float) -> float:
    return v + 0.0  # -0.0 -> 0.0


# ---- shared pass: CE gradient of the conv/linear weights (+ fisher statistics) ---------------

@dataclass
class CEGrad:
    """Result of one CE forward/backward on a deep copy (summed over ``split`` chunks)."""

    grads: list  # per Conv2d/Linear: dL/dW (shape of W) or None when W got no gradient
    fisher: list  # per Conv2d/Linear: (C_out,) Σ_chunks 0.5·mean_n(Σ_hw act·dL/dact)², or None
    split: int  # the split actually used (larger than asked after a CUDA OOM retry)
    has_fisher: bool = False  # the pass collected fisher's statistics


class _FisherProbe:
    """Collects fisher's per-channel statistic of every Conv2d/Linear output during a backward.

    A forward hook attaches a tensor hook to each layer output ``act``; when ``dL/dact`` arrives,
    ``0.5 * mean_n (Σ_hw act * dL/dact)**2`` (per output channel) is added to ``fisher[i]``,
    as upstream's backward hook on an identity after the layer does. ``active = False``
    silences the tensor hooks (before a double backward, which revisits the forward graph).
    """

    def __init__(self, layers: list[nn.Module]):
        self.fisher: list = [None] * len(layers)
        self.active = True
        self._handles = [m.register_forward_hook(self._forward_hook(i)) for i, m in enumerate(layers)]

    def _forward_hook(self, i: int):
        def hook(module, inputs, out):
            if out.requires_grad:
                act = out.detach()
                out.register_hook(lambda grad: self._accumulate(i, act, grad))

        return hook

    def _accumulate(self, i: int, act: torch.Tensor, grad: torch.Tensor) -> None:
        if not self.active:
            return
        grad = grad.detach()
        if act.dim() > 2:  # Σ_hw act·grad as a batched dot product (3x faster than mul + sum)
            g_nk = torch.linalg.vecdot(act.flatten(2), grad.flatten(2))  # (B, K)
        else:
            g_nk = act * grad  # (B, K)
        del_k = g_nk.pow(2).mean(0).mul(0.5)  # (K,)
        self.fisher[i] = del_k if self.fisher[i] is None else self.fisher[i] + del_k

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def _ce_grad(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, train: bool, split: int, all_weights: bool = False,
    fisher: bool = False,
) -> CEGrad:
    """CE gradient of the Conv2d/Linear weights of a BN-on deep copy in mode ``train``
    (upstream grad_norm/plain; with ``fisher`` and ``train``, also fisher's statistics).

    A frozen weight (``requires_grad=False``) gets no gradient (``None``), as upstream's
    ``loss.backward()``; with ``all_weights`` every conv/linear weight gets one (snip's mask
    parameters do not care whether the weight is frozen; no fisher statistics then)."""

    def run(split: int) -> CEGrad:
        net = _copy(model, bn=True)
        net.train(train)
        layers = _layers(net)
        if all_weights:
            for m in layers:
                m.weight.requires_grad_(True)
        idx = [i for i, m in enumerate(layers) if m.weight.requires_grad]
        wanted = [layers[i].weight for i in idx]
        if len(idx) < len(layers):  # as backward(): every trainable parameter (same hooked nodes)
            ids = {id(w) for w in wanted}
            wanted += [p for p in net.parameters() if p.requires_grad and id(p) not in ids]
        grads: list = [None] * len(layers)
        probe = _FisherProbe(layers) if fisher and train and not all_weights else None
        try:
            for st, en in _chunks(x.shape[0], split):
                loss = F.cross_entropy(logits_of(net(x[st:en])), y[st:en])
                if not wanted or not loss.requires_grad:
                    continue
                gs = autograd.grad(loss, wanted, allow_unused=True)
                for i, g in zip(idx, gs):
                    if g is not None:
                        grads[i] = g if grads[i] is None else grads[i] + g
        finally:
            if probe is not None:
                probe.close()
        if probe is None:
            return CEGrad(grads, [None] * len(layers), split)
        return CEGrad(grads, probe.fisher, split, has_fisher=True)

    return _with_oom_retry(run, x.shape[0], split)


def _cached_ce_grad(model, batch, ctx, n, split_data, train: bool, all_weights: bool = False,
                    need_fisher: bool = False) -> CEGrad:
    """The shared CE pass. Fisher's per-layer statistics cost a hooked backward, so they are
    collected only when ``need_fisher`` or a planned proxy shares ``fisher_stats``; a cached pass
    without them is recomputed (and replaced) when fisher asks."""
    x, y = _inputs(model, batch, ctx, n, labels=True)
    split = _check_split(split_data, x.shape[0])
    if all_weights and not all(m.weight.requires_grad for m in _layers(model)):
        key = Keys.ce_grad_all_weights(x.shape[0], split, train)
        return ctx.cached(key, lambda: _ce_grad(model, x, y, train, split, all_weights=True))
    key = Keys.ce_grad(x.shape[0], split, train)
    ce = ctx.get(key)
    if ce is not None and (ce.has_fisher or not (need_fisher and train)):
        return ce
    ce = _ce_grad(model, x, y, train, split, fisher=need_fisher or ctx.plans("fisher_stats"))
    ctx.store(key, ce)
    return ce


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [m.weight.detach() for m in _layers(model)]


# ---- gradient-based proxies -----------------------------------------------------------------

@register(
    "grad_norm", higher_is_better=True, needs_labels=True, paper=PAPER, shares=("ce_grad",),
    degenerate="0.0 exactly (all weight gradients are 0 on a disconnected cell)",
    n=None, split_data=1,
)
def grad_norm(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, split_data=1) -> float:
    """Sum over Conv2d/Linear layers of the Frobenius norm of dCE/dW (zero-cost ``grad_norm``)."""
    ce = _cached_ce_grad(model, batch, ctx, n, split_data, model.training)
    total = sum(float(g.norm()) for g in ce.grads if g is not None)
    return _zero_if_zero(total)


@register(
    "snip", higher_is_better=True, needs_labels=True, paper=PAPER, shares=("ce_grad", "ce_grad_all_weights"),
    degenerate="0.0 exactly (all weight gradients are 0 on a disconnected cell)",
    n=None, split_data=1,
)
def snip(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, split_data=1) -> float:
    """SNIP saliency: sum over Conv2d/Linear weights of |dCE/dW * W| (zero-cost ``snip``).

    Upstream multiplies each weight by a ones "mask" parameter and takes |dL/dmask|, which
    equals |dL/dW * W|; computed from the shared CE gradient. As upstream, frozen weights
    count too (the mask, not the weight, is differentiated)."""
    ce = _cached_ce_grad(model, batch, ctx, n, split_data, model.training, all_weights=True)
    total = sum(float((g * w).abs().sum()) for g, w in zip(ce.grads, _weights(model)) if g is not None)
    return _zero_if_zero(total)


@register(
    "plain", higher_is_better=True, needs_labels=True, paper=PAPER, shares=("ce_grad",),
    degenerate="0.0 exactly (all weight gradients are 0 on a disconnected cell)",
    n=None, split_data=1,
)
def plain(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, split_data=1) -> float:
    """Signed sum over Conv2d/Linear weights of dCE/dW * W (zero-cost ``plain``)."""
    ce = _cached_ce_grad(model, batch, ctx, n, split_data, model.training)
    total = sum(float((g * w).sum()) for g, w in zip(ce.grads, _weights(model)) if g is not None)
    return _zero_if_zero(total)


@register(
    "fisher", higher_is_better=True, needs_labels=True, paper=PAPER, shares=("ce_grad", "fisher_stats"),
    degenerate="tiny > 0 (only the classifier term survives: its activation is the bias)",
    n=None, split_data=1,
)
def fisher(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, split_data=1) -> float:
    """Channel Fisher information Σ_k 0.5·mean_n(Σ_hw act·dCE/dact)², times fan-in (zero-cost ``fisher``).

    As upstream (``mode='channel'``): BN in train mode; ``act`` is each Conv2d/Linear output
    (before BN); the per-channel value is broadcast to every weight of that output channel
    (``reshape_elements``), so a layer contributes ``Σ_k fisher_k · prod(W.shape[1:])``.
    Layers carrying a ``dont_ch_prune`` attribute are skipped, as upstream."""
    ce = _cached_ce_grad(model, batch, ctx, n, split_data, True, need_fisher=True)
    total = 0.0
    for m, f in zip(_layers(model), ce.fisher):
        if f is None or hasattr(m, "dont_ch_prune"):
            continue
        total += float(f.abs().sum()) * math.prod(m.weight.shape[1:])
    return total


@register(
    "grasp", higher_is_better=True, needs_labels=True, paper=PAPER, shares=("ce_grad",),
    degenerate="0.0 exactly (g = 0 so Hg = 0 on a disconnected cell)",
    n=None, split_data=1,
)
def grasp(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, split_data=1) -> float:
    """GraSP: sum over Conv2d/Linear weights of -W * (H g), g = dCE/dW (zero-cost ``grasp``, T=1).

    ``Hg`` is the gradient of ``z = Σ g.detach()·dCE/dW`` (double backward). With
    ``split_data=1`` one forward gives both ``g`` and ``Hg`` (upstream: two identical forwards),
    and its ``g`` (bitwise equal to a plain backward's) also fills the shared ``ce_grad`` cache
    entry that grad_norm/snip/plain/fisher read, so they cost nothing after grasp."""
    x, y = _inputs(model, batch, ctx, n, labels=True)
    split = _check_split(split_data, x.shape[0])
    train = model.training
    shareable = all(m.weight.requires_grad for m in _layers(model))  # else CE grads differ

    def run(split: int) -> float:
        net = _copy(model, bn=True)
        layers = _layers(net)
        weights = [m.weight.requires_grad_(True) for m in layers]
        chunks = _chunks(x.shape[0], split)
        g = None
        if split > 1:  # upstream pass #1: g of the LAST chunk only (grad_w reset per chunk)
            st, en = chunks[-1]
            loss = F.cross_entropy(logits_of(net(x[st:en])), y[st:en])
            g = autograd.grad(loss, weights, allow_unused=True)
        probe = _FisherProbe(layers) if split == 1 and shareable and train and ctx.plans("fisher_stats") else None
        hg: list = [None] * len(weights)
        try:
            for st, en in chunks:  # pass #2: Hg accumulated over chunks
                loss = F.cross_entropy(logits_of(net(x[st:en])), y[st:en])
                grad_f = autograd.grad(loss, weights, create_graph=True, allow_unused=True)
                if probe is not None:
                    probe.active = False  # the double backward must not feed fisher
                if g is None:  # split == 1: this forward is identical to upstream's forward #1
                    g = [None if t is None else t.detach() for t in grad_f]
                    if shareable:
                        ce = (CEGrad(list(g), [None] * len(g), 1) if probe is None
                              else CEGrad(list(g), probe.fisher, 1, has_fisher=True))
                        ctx.cached(Keys.ce_grad(x.shape[0], 1, train), lambda: ce)  # the shared ce_grad entry
                terms = [(gi * fi).sum() for gi, fi in zip(g, grad_f) if gi is not None and fi is not None]
                z = torch.stack(terms).sum() if terms else None
                if z is None or not z.requires_grad:
                    continue
                for i, h in enumerate(autograd.grad(z, weights, allow_unused=True)):
                    if h is not None:
                        hg[i] = h if hg[i] is None else hg[i] + h
        finally:
            if probe is not None:
                probe.close()
        total = sum(float((-w.detach() * h).sum()) for w, h in zip(weights, hg) if h is not None)
        return _zero_if_zero(total)

    return _with_oom_retry(run, x.shape[0], split)


@register(
    "jacob_cov", higher_is_better=True, needs_labels=False, paper=PAPER,
    degenerate="NaN, flag 'nan' (zero input Jacobian -> corrcoef NaN -> eig raises, as upstream)",
    n=None, split_data=1,
)
def jacob_cov(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, split_data=1) -> ProxyResult:
    """Jacobian covariance: -Σ(log(v+1e-5) + 1/(v+1e-5)), v = eig(corrcoef(d Σlogits / dx)) (zero-cost ``jacob_cov``).

    As upstream: the per-example input gradients of the summed logits of a BN-on deep copy
    (model's own mode), flattened to ``(N, C·H·W)``, ``np.corrcoef`` (float64), general
    ``np.linalg.eig``; any exception or a non-finite score gives NaN (flag ``"nan"``). Should
    ``eig`` return complex eigenvalues, the real part of the score is kept (as ``float()`` of
    upstream's value would)."""
    x, _ = _inputs(model, batch, ctx, n, labels=False)
    split = _check_split(split_data, x.shape[0])

    def run(split: int) -> torch.Tensor:
        net = _copy(model, bn=True)
        rows = []
        for st, en in _chunks(x.shape[0], split):
            xc = x[st:en].detach().clone().requires_grad_(True)  # (b, C, H, W)
            out = logits_of(net(xc))  # (b, K)
            (jc,) = autograd.grad(out.sum(), xc, allow_unused=True)
            rows.append(torch.zeros_like(xc) if jc is None else jc)
        return torch.cat(rows).reshape(x.shape[0], -1)  # (N, C·H·W)

    jac = _with_oom_retry(run, x.shape[0], split).cpu().numpy()
    try:
        with np.errstate(all="ignore"):
            corrs = np.corrcoef(jac)  # (N, N) float64
            v, _ = np.linalg.eig(corrs)
            k = 1e-5
            score = -np.sum(np.log(v + k) + 1.0 / (v + k))
        score = float(np.real(score))
    except Exception:  # upstream: any exception -> NaN
        score = float("nan")
    return finite_or_flag(score)


# ---- synflow ---------------------------------------------------------------------------------

def _abs_double_copy(model: nn.Module, bn: bool) -> nn.Module:
    """Upstream's ``copynet`` + ``abs_()`` of every state_dict entry + ``double()``, in one copy:
    the deep copy receives ``|t|`` in float64 directly (through ``deepcopy``'s memo) instead of
    copying float32 tensors and converting them afterwards."""
    memo: dict = {}
    with torch.no_grad():
        for t in model.state_dict(keep_vars=True).values():  # weights, biases and BN buffers
            if id(t) in memo:
                continue
            new = t.detach().abs()
            new = new.double() if new.is_floating_point() else new
            memo[id(t)] = nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else new
    net = working_copy(model, memo)
    if not bn:
        for m in net.modules():
            if isinstance(m, _BNS):
                m.forward = types.MethodType(_identity, m)
    return net.double()  # anything left (non-persistent buffers), as upstream's net.double()


def _synflow(model: nn.Module, batch: ProxyBatch, ctx: Context, bn: bool) -> float:
    net = _abs_double_copy(model, bn)
    layers = _layers(net)
    weights = [m.weight for m in layers if m.weight.requires_grad]
    x = torch.ones((1, *batch.x.shape[1:]), dtype=torch.float64, device=ctx.device)  # (1, C, H, W)
    r = logits_of(net(x)).sum()
    if not weights or not r.requires_grad:
        return 0.0
    gs = autograd.grad(r, weights, allow_unused=True)
    total = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, gs) if g is not None)
    return _zero_if_zero(total)


@register(
    "synflow", higher_is_better=True, needs_labels=False, paper=PAPER,
    degenerate="0.0 exactly (the dead cell cuts every input-output path)",
)
def synflow(model: nn.Module, batch: ProxyBatch, ctx: Context) -> float:
    """SynFlow: Σ|W * dR/dW|, R = Σ logits of |θ|-network on an all-ones input, float64, BN off (zero-cost ``synflow``).

    As upstream: ``abs_()`` of every state_dict entry (incl. biases and BN buffers) of a deep
    copy, every BatchNorm forward replaced by identity, ``double()``, one all-ones input of
    shape ``(1, *x.shape[1:])``; values reach 1e36-1e50 (hence float64). Uses no data."""
    return _synflow(model, batch, ctx, bn=False)


@register(
    "synflow_bn", higher_is_better=True, needs_labels=False, paper=PAPER,
    degenerate="0.0 exactly (the dead cell cuts every input-output path)",
)
def synflow_bn(model: nn.Module, batch: ProxyBatch, ctx: Context) -> float:
    """SynFlow with BatchNorm kept (model's mode; train mode = statistics of the one all-ones image) (zero-cost ``synflow_bn``)."""
    return _synflow(model, batch, ctx, bn=True)


# ---- data-free size proxies ------------------------------------------------------------------
# They read the initialised network only (no data pass): their pass group ``weights`` scores them
# in one job, which shares the network builds and the process start (not a Context entry).

@register(
    "l2_norm", higher_is_better=True, needs_labels=False, paper=PAPER, shares=("weights",),
    degenerate="finite, as for any network (depends on the weights only)",
)
def l2_norm(model: nn.Module, batch: ProxyBatch, ctx: Context) -> float:
    """Sum over Conv2d/Linear layers of the Frobenius norm of W (zero-cost ``l2_norm``; reads the model only)."""
    with torch.no_grad():
        return sum(float(m.weight.norm()) for m in _layers(model))


@register(
    "params", higher_is_better=True, needs_labels=False, paper=PAPER, shares=("weights",),
    degenerate="the network's parameter count (unused ops' weights count)",
)
def params(model: nn.Module, batch: ProxyBatch, ctx: Context) -> float:
    """Number of trainable parameters, raw count (NB201 ``params_M`` = this / 1e6); higher is better, as in the zero-cost paper.

    Same count as ``sum(p.numel() for p in model.parameters() if p.requires_grad)`` (shared
    parameters once), by a direct walk of the module tree (no parameter-name strings: 2x faster)."""
    seen: set[int] = set()
    total, stack = 0, [model]
    while stack:
        m = stack.pop()
        for p in m._parameters.values():
            if p is not None and p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        stack.extend(c for c in m._modules.values() if c is not None)
    return float(total)


@register(
    "flops", higher_is_better=True, needs_labels=False, paper=PAPER, shares=("weights",),
    degenerate="the network's FLOPs (ops on dead paths count)",
)
def flops(model: nn.Module, batch: ProxyBatch, ctx: Context) -> float:
    """Forward multiply-accumulates of Conv2d/Linear (+bias adds) for one input, raw count; higher is better, as in the zero-cost paper.

    Counted by :func:`knas.spaces.flops.count_flops` on one zero input of shape ``(1, *x.shape[1:])``
    (an eval-mode no-grad forward; the model's mode is restored): the definition of xautodl's
    ``get_model_infos`` (conv/linear only). Deviation: the ``flops`` stored in the NB201
    benchmark are larger (e.g. 122.35M vs 117.88M for arch 117 on cifar10-valid); they were
    produced by a counter that also counted pooling and per-element BN/ReLU work. Over the
    725 cifar10-valid architectures in knas' test data the two rank alike (Spearman 0.996,
    Kendall 0.969) but not identically."""
    return float(count_flops(model, (1, *batch.x.shape[1:])))
