"""TE-NAS (Chen et al., ICLR 2021) and TEG-NAS (Chen et al., 2021/2023) proxies.

* ``ntk_cond``: condition number of the empirical NTK (TE-NAS ``lib/procedures/ntk.py``).
* ``ntk_mse``: NTK kernel-regression MSE on a second batch (TEG-NAS ``get_ntk_n``, MSE part).
* ``linear_regions``: number of distinct ReLU activation patterns (TE-NAS
  ``linear_region_counter.py``) on the official thin network, or on the given model.
* ``teg``: set-level rank sum of the three (TEG-NAS / TE-NAS style ranking).

Both NTK proxies use the official "batch-graph Jacobian": ONE train-mode forward of the whole
batch on a ``copy.deepcopy`` of the model, then for each example ``i`` the gradient of
``sum_c logits[i, c]`` through that graph (examples are coupled by the BN batch statistics, so
a per-example ``vmap`` gradient would NOT match), restricted to parameters whose name contains
``"weight"`` (conv weights, BN gammas, classifier weight; no biases / BN betas) and that take
part in the graph. The Jacobian is computed once per (model, batch, n) and cached in the
:class:`~knas.proxies.base.Context` with its per-parameter column slices, so ``ntk_mse`` only
adds the validation side (official TEG-NAS recomputes the training rows too); with few classes
(CIFAR-10) that side is ``K' - 1`` forward-mode passes instead of one backward per validation
example (``method="jvp"``, see ``ntk_mse``). The working copy's NB201 pooling is the exact fast
one of :func:`~knas.proxies.base.working_copy` (bit-identical gradients, ~20% faster backward
passes on pool-heavy cells).
The per-example backward loop is the official one (``torch.autograd.grad`` restricted to the
selected parameters instead of ``.backward()`` into every ``.grad``; values are identical);
it cannot be chunked (BN couples the examples), so there is no out-of-memory retry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..nb201.space import EDGES, OPS, parse, validate
from .registry import register, register_combined
from .base import (Context, Keys, ProxyBatch, ProxyResult, check_n, finite_or_flag, forward_logits, initialise,
                   logits_of, working_copy)
from .naswot import cached_code_grams

TENAS_NAN_SENTINEL = 100000.0  # TE-NAS: np.nan_to_num(cond, nan=100000.0)
TEG_BAD_SENTINEL = -1.0  # TEG-NAS get_ntk_n: "bad gradients" for the cond and for the MSE


# ---- the batch-graph Jacobian ---------------------------------------------------------------------

@dataclass
class Jacobian:
    """Rows ``G[i] = d(sum_c logits[i, c]) / d(theta)`` through the train-mode batch graph.

    ``G`` is ``(N, P)`` in the parameters' dtype; ``names[k]`` owns columns ``slices[k]``
    (``named_parameters()`` order, parameters without a gradient left out, as officially).
    """

    G: torch.Tensor  # (N, P)
    names: list[str]
    slices: list[tuple[int, int]]
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # parameter shapes, as names

    def columns(self, keep: Callable[[str], bool]) -> torch.Tensor:
        """Contiguous ``(N, P')`` copy of the columns of the parameters whose name passes ``keep``."""
        parts = [self.G[:, a:b] for name, (a, b) in zip(self.names, self.slices) if keep(name)]
        if not parts:
            return self.G.new_zeros(self.G.shape[0], 0)
        return torch.cat(parts, 1).contiguous()


def is_weight(name: str) -> bool:
    """Official TE-NAS parameter filter: ``'weight' in name``."""
    return "weight" in name


def is_cell_weight(name: str) -> bool:
    """Official TEG-NAS MSE filter: ``'weight' in name and 'cell' in name`` (NB201: every weight
    under ``cells.*``, i.e. the search/infer cells AND the residual reduction blocks)."""
    return "weight" in name and "cell" in name


def batch_graph_jacobian(model: nn.Module, x: torch.Tensor, keep: Callable[[str], bool]) -> Jacobian:
    """The official NTK Jacobian of ``deepcopy(model)`` in train mode on ``x`` (see module doc).

    One forward of the whole batch, then one backward per example (``retain_graph``), each the
    gradient of ``logits[i:i+1]`` with an all-ones cotangent, w.r.t. the trainable parameters
    whose name passes ``keep``; parameters outside the graph (official: ``grad is None``) are
    left out. A parameter that gets no gradient for a later example (impossible in NB201) gets
    zeros there.
    """
    net = working_copy(model)
    net.train()
    named = [(name, p) for name, p in net.named_parameters() if p.requires_grad and keep(name)]
    logits = forward_logits(net, x)  # (N, K)
    n = logits.shape[0]
    if not named or not logits.requires_grad:
        return Jacobian(logits.new_zeros(n, 0), [], [])
    ones = torch.ones_like(logits[0:1])  # (1, K)

    def grads(i: int, params: list[torch.Tensor]):
        return torch.autograd.grad(
            logits[i : i + 1], params, grad_outputs=ones, retain_graph=i < n - 1, allow_unused=True
        )

    first = grads(0, [p for _, p in named])
    used = [k for k, g in enumerate(first) if g is not None]
    names = [named[k][0] for k in used]
    params = [named[k][1] for k in used]
    sizes = [p.numel() for p in params]
    slices, start = [], 0
    for s in sizes:
        slices.append((start, start + s))
        start += s
    if not params:
        return Jacobian(logits.new_zeros(n, 0), [], [])
    G = torch.empty(n, start, dtype=params[0].dtype, device=params[0].device)  # (N, P)
    row = [first[k] for k in used]
    for i in range(n):
        if i > 0:
            row = grads(i, params)
        flat = [torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1) for g, p in zip(row, params)]
        torch.cat(flat, out=G[i])  # one copy per row (official: cat per row, then stack)
    return Jacobian(G, names, slices, [tuple(p.shape) for p in params])


def cached_jacobian(ctx: Context, batch: ProxyBatch, n: int | None, index: int = 0) -> Jacobian:
    """Weight-column Jacobian of the first ``n`` examples (all by default) of ``batch``, the
    ``index``-th independent batch of the context (see ``batches``), shared via ``ctx``."""
    n = batch.n if n is None else check_n(n, batch)
    x = batch.x[:n].to(ctx.device)
    return ctx.cached(Keys.ntk_jacobian(n, "train", "weight", index),
                      lambda: batch_graph_jacobian(ctx.model, x, is_weight))


def mean_over_batches(results: list[ProxyResult], bad: float | None = None) -> ProxyResult:
    """TEG-NAS Sec. 4.2: an indicator is the mean of its calculations on independent batches.

    NaN in any -> NaN (flag ``"nan"``); where ``bad`` is given (TEG's -1 "bad gradients"), any
    batch reporting it makes the result ``bad`` (flag ``"sentinel"``: the architecture's
    gradients vanish, whatever the batch); otherwise the mean of the values, with the first
    flag (e.g. ``"sentinel"`` when one batch hit TE-NAS's 1e5).
    """
    if len(results) == 1:
        return results[0]
    if any(r.flag == "nan" for r in results):
        return ProxyResult(float("nan"), "nan")
    if bad is not None and any(r.flag == "sentinel" and r.value == bad for r in results):
        return ProxyResult(bad, "sentinel")
    flags = [r.flag for r in results if r.flag]
    return ProxyResult(float(np.mean([r.value for r in results])), flags[0] if flags else None)


# ---- ntk_cond -----------------------------------------------------------------------------------

def ntk_condition(G: torch.Tensor) -> float:
    """``lambda_max / lambda_min`` of ``G G^T`` exactly as TE-NAS (float32 einsum, ascending
    eigenvalues of the upper triangle); may be NaN (0/0), inf or negative (rounding)."""
    ntk = torch.einsum("nc,mc->nm", G, G)  # (N, N)
    eigenvalues = torch.linalg.eigvalsh(ntk, UPLO="U")  # ascending (torch.symeig in the original)
    return (eigenvalues[-1] / eigenvalues[0]).item()


@register(
    "ntk_cond",
    higher_is_better=False,
    needs_labels=False,
    paper="TE-NAS (Chen et al., ICLR 2021)",
    degenerate="100000.0 (flag 'sentinel'): all gradients 0 -> 0/0 = NaN -> TE-NAS's nan_to_num(nan=1e5)",
    n=None,
    batches=3,
    shares=("ntk_jacobian",),
)
def ntk_cond(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, batches=3):
    """Condition number lambda_max/lambda_min of the empirical NTK (train-mode BN batch graph).

    Exactly TE-NAS ``get_ntk_n`` (``train_mode=True``, one batch; official batch 72 CIFAR-10 train
    images with flip+crop): rows are gradients of ``sum_c logits[i]`` w.r.t. every parameter named
    ``*weight*``; float32 ``G G^T``; ``eigvalsh(UPLO='U')`` replaces the removed ``torch.symeig``.
    NaN -> 100000.0 and +-inf -> +-float max (``np.nan_to_num``), both with flag ``"sentinel"``;
    an eigen-solver failure is also reported as 100000.0 / ``"sentinel"``. TEG-NAS's copy of this
    code instead reports NaN or a solver error as -1 ("bad"); that convention is not used here.
    ``n``: use the first ``n`` examples. ``batches``: the mean over that many independent
    batches (TEG-NAS Sec. 4.2: "three repeated calculations ... three independent mini-batches";
    its released code instead averages 3 networks on its first batch); 1 = the batch alone.
    """
    return mean_over_batches([_ntk_cond_one(cached_jacobian(ctx, b, n, i))
                              for i, b in enumerate(batch.independent(batches, "ntk_cond"))])


def _ntk_cond_one(J: Jacobian) -> ProxyResult:
    try:
        cond = ntk_condition(J.G)
    except RuntimeError:  # eigen-solver failure (e.g. NaN gradients)
        return ProxyResult(TENAS_NAN_SENTINEL, "sentinel")
    value = float(np.nan_to_num(cond, nan=TENAS_NAN_SENTINEL))
    return ProxyResult(value, None if math.isfinite(cond) else "sentinel")


# ---- ntk_mse --------------------------------------------------------------------------------------

def centred_onehot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """TEG-NAS targets: one-hot minus the batch mean per class; float32 ``(N, num_classes)``."""
    t = F.one_hot(y.long(), num_classes=num_classes).float()
    return t - t.mean(0)


def ntk_regression_mse(Gx: torch.Tensor, Gy: torch.Tensor, Yx: torch.Tensor, Yy: torch.Tensor) -> float | None:
    """TEG-NAS MSE ``mean_i sum_c (K_yx K_xx^-1 Y_x - Y_y)^2`` in float32; ``None`` where TEG-NAS
    reports -1 (a Jacobian that sums to exactly 0, or ``torch.inverse`` failing)."""
    if Gy.sum() == 0 or Gx.sum() == 0:
        return None
    try:
        ntk_xx = torch.einsum("nc,mc->nm", Gx, Gx)  # (N, N)
        ntk_yx = torch.einsum("nc,mc->nm", Gy, Gx)  # (M, N)
        PY = torch.einsum("jk,kl,lm->jm", ntk_yx, torch.inverse(ntk_xx), Yx)  # (M, K)
        return ((PY - Yy) ** 2).sum(1).mean(0).item()
    except RuntimeError:  # singular K_xx
        return None


def _no_running_stats(net: nn.Module) -> nn.Module:
    """Train-mode BN of a working copy without running statistics: the same batch-statistics
    forward, and no in-place buffer update (forward-mode AD refuses one with dual inputs)."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return net


def val_gradient_check(model: nn.Module, x_val: torch.Tensor, names: list[str]) -> bool:
    """TEG-NAS's validity test of ``G_y`` without building it: every parameter in ``names`` takes
    part in the validation batch graph and ``G_y.sum() != 0``. ``G_y.sum()`` is the entry sum of
    the gradient of ``sum_j sum_c logits[j, c]`` (one backward through the batch graph)."""
    net = working_copy(model)
    net.train()
    params = dict(net.named_parameters())
    logits = forward_logits(net, x_val)
    if not logits.requires_grad:
        return False
    grads = torch.autograd.grad(logits.sum(), [params[k] for k in names], allow_unused=True)
    if any(g is None for g in grads):
        return False
    return bool(sum(g.sum() for g in grads) != 0)


def val_predictions_jvp(model: nn.Module, x_val: torch.Tensor, directions: dict[str, torch.Tensor]) -> torch.Tensor:
    """``G_y @ w_k`` for each direction ``k``, without ``G_y``: the forward-mode derivative of
    ``sum_c logits[j, c]`` (train-mode batch graph of ``x_val``) along ``w_k``.

    ``directions``: parameter name -> ``(K, *shape)`` tangents. Returns ``(M, K)`` in float64.
    One forward-mode pass per direction (each ~2.5 forward passes), against one backward pass
    per validation example for the rows of ``G_y``.
    """
    import torch.autograd.forward_ad as fwAD

    net = _no_running_stats(working_copy(model))
    net.train()
    params = {k: p.detach() for k, p in net.named_parameters()}
    k_dirs = next(iter(directions.values())).shape[0]
    out = []
    with torch.no_grad():
        for k in range(k_dirs):
            with fwAD.dual_level():
                dual = dict(params)
                for name, t in directions.items():
                    dual[name] = fwAD.make_dual(params[name], t[k])
                s = logits_of(torch.func.functional_call(net, dual, (x_val,))).sum(1)  # (M,)
                out.append(fwAD.unpack_dual(s).tangent.double())
    return torch.stack(out, 1)  # (M, K)


def ntk_regression_mse_jvp(model: nn.Module, J: Jacobian, x_val: torch.Tensor, Yx: torch.Tensor,
                           Yy: torch.Tensor) -> float | None:
    """The TEG-NAS MSE with the validation side computed by forward-mode AD (see ``ntk_mse``).

    ``PY = K_yx K_xx^-1 Y_x = G_y (G_x^T (K_xx^-1 Y_x))``: ``K_xx`` and its ``torch.inverse`` in
    float32 as TEG-NAS, then ``w = G_x^T K_xx^-1 Y_x`` in float64 (one ``(P,)`` vector per class
    present in ``Y_x`` but the last, whose PY column is minus the sum of the others; absent classes
    have an all-zero centred column, so a zero column of PY), and ``G_y w`` by
    :func:`val_predictions_jvp`. ``None`` as :func:`ntk_regression_mse`.
    """
    names = [k for k in J.names if is_cell_weight(k)]
    Gx = J.columns(is_cell_weight)  # (N, Pc)
    if Gx.sum() == 0 or not names or not val_gradient_check(model, x_val, names):
        return None
    try:
        inv = torch.inverse(torch.einsum("nc,mc->nm", Gx, Gx))  # (N, N) float32, as TEG-NAS
    except RuntimeError:  # singular K_xx
        return None
    present = (Yx != 0).any(0).nonzero().flatten()  # classes with a nonzero centred column
    # the centred columns sum to 0 (each one-hot row and the mean row sum to 1), so PY's columns
    # do too: the last present class needs no pass of its own (PY[:, last] = -sum of the others)
    solved = present[:-1]
    W = Gx.double().T @ (inv.double() @ Yx[:, solved].double())  # (Pc, K' - 1)
    shapes = dict(zip(J.names, J.shapes))
    directions, start = {}, 0
    for name in names:
        size = math.prod(shapes[name])
        directions[name] = W[start : start + size].T.reshape(-1, *shapes[name]).to(Gx.dtype)
        start += size
    PY = torch.zeros(Yy.shape, dtype=torch.float64, device=Yy.device)  # (M, K)
    if len(solved):
        PY[:, solved] = val_predictions_jvp(model, x_val, directions)
        PY[:, present[-1]] = -PY[:, solved].sum(1)
    return float(((PY - Yy.double()) ** 2).sum(1).mean(0))


NTK_MSE_METHODS = ("auto", "jacobian", "jvp")


@register(
    "ntk_mse",
    higher_is_better=False,
    needs_labels=True,
    paper="TEG-NAS (Chen et al., 2021)",
    degenerate="-1.0 (flag 'sentinel'): TEG-NAS's 'bad gradients' value (cell gradients sum to 0)",
    choices={"method": NTK_MSE_METHODS},
    n=None,
    method="auto",
    batches=3,
    shares=("ntk_jacobian", "ntk_jacobian_val"),
    needs_val=True,
)
def ntk_mse(model: nn.Module, batch: ProxyBatch, ctx: Context, n=None, method="auto", batches=3):
    """NTK kernel-regression MSE on a held-out batch (TEG-NAS "generalization"; needs x_val/y_val).

    TEG-NAS ``get_ntk_n`` MSE part: ``G_x`` = the batch-graph Jacobian of the first ``n``
    examples of ``batch.x`` (shared with ``ntk_cond``) restricted to parameters named
    ``*weight*`` and ``*cell*``; ``G_y`` the same for ``batch.x_val`` from its own train-mode
    forward; ``Y`` one-hot labels centred by their own batch mean; ``PY = K_yx inverse(K_xx) Y_x``
    in float32 (``torch.inverse``); MSE = ``mean_i sum_c (PY - Y_y)^2``. Official setting: 64
    CIFAR-10 train images (flip+crop) and 64 test images, the same for every architecture.
    TEG-NAS's "bad" cases (a Jacobian summing to exactly 0, e.g. a disconnected cell, or a failed
    inverse) return its value -1.0 with flag ``"sentinel"`` (rank them as worst); a non-finite
    MSE from a near-singular ``K_xx`` is NaN with flag ``"nan"``.

    ``method``: ``"jacobian"`` builds ``G_y`` row by row as TEG-NAS (one backward per validation
    example) and follows its float32 arithmetic exactly; ``"jvp"`` never builds ``G_y``: only
    ``G_y w`` is needed, for ``K' - 1`` vectors ``w = G_x^T K_xx^-1 Y_x[:, c]`` (``K'`` classes
    present in the batch), one forward-mode pass each (:func:`ntk_regression_mse_jvp`; same value up to float rounding, the
    products after the float32 inverse in float64); ``"auto"`` takes ``"jvp"`` when
    ``2 (K' - 1) < M`` (a forward-mode pass costs about two backward passes): CIFAR-10, 10 classes,
    64 validation images -> jvp; CIFAR-100 / ImageNet16-120 batches of 64 -> jacobian.

    ``batches``: the mean over that many independent (train, validation) batch pairs (TEG-NAS
    Sec. 4.2; see ``ntk_cond``); a "bad" batch makes the result -1.
    """
    if method not in NTK_MSE_METHODS:
        raise ValueError(f"option method={method!r}: allowed: {', '.join(NTK_MSE_METHODS)}")
    return mean_over_batches([_ntk_mse_one(ctx, b, n, method, i)
                              for i, b in enumerate(batch.independent(batches, "ntk_mse"))], TEG_BAD_SENTINEL)


def _ntk_mse_one(ctx: Context, batch: ProxyBatch, n, method: str, index: int) -> ProxyResult:
    if batch.x_val is None or batch.y_val is None:
        raise ValueError(
            "proxy 'ntk_mse' needs a second (validation) batch: set batch.x_val and batch.y_val "
            "(TEG-NAS uses 64 test-set images); the scoring batch is not split implicitly"
        )
    if batch.y_val.shape[0] != batch.x_val.shape[0]:
        raise ValueError(f"batch.y_val has {batch.y_val.shape[0]} labels for {batch.x_val.shape[0]} inputs")
    J = cached_jacobian(ctx, batch, n, index)
    n_x = J.G.shape[0]
    dev = ctx.device
    x_val = batch.x_val.to(dev)
    Yx = centred_onehot(batch.y[:n_x].to(dev), batch.num_classes)  # (N, K)
    Yy = centred_onehot(batch.y_val.to(dev), batch.num_classes)  # (M, K)
    if method == "auto":
        present = int((Yx != 0).any(0).sum())
        method = "jvp" if 2 * (present - 1) < x_val.shape[0] else "jacobian"
    if method == "jvp":
        mse = ntk_regression_mse_jvp(ctx.model, J, x_val, Yx, Yy)
    else:
        Gx = J.columns(is_cell_weight)  # (N, Pc)
        Gy = ctx.cached(
            Keys.ntk_jacobian_val("train", "cell_weight", index),
            lambda: batch_graph_jacobian(ctx.model, x_val, is_cell_weight).G,
        )  # (M, Pc)
        if Gx.shape[1] != Gy.shape[1]:  # a parameter in one graph but not the other
            return ProxyResult(TEG_BAD_SENTINEL, "sentinel")
        mse = ntk_regression_mse(Gx, Gy, Yx, Yy)
    if mse is None:
        return ProxyResult(TEG_BAD_SENTINEL, "sentinel")
    return finite_or_flag(mse)

# ---- linear regions -------------------------------------------------------------------------------

class _ReLUConvBN(nn.Module):
    """TE-NAS ``ReLUConvBN`` (affine BN, tracked stats) on one channel."""

    def __init__(self, kernel_size: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(1, 1, kernel_size, stride=1, padding=padding, bias=False),
            nn.BatchNorm2d(1, affine=True, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _thin_candidate(op: str) -> nn.Module:
    if op == "nor_conv_1x1":
        return _ReLUConvBN(1, 0)
    if op == "nor_conv_3x3":
        return _ReLUConvBN(3, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return nn.Identity()  # none (x.mul(0) in forward) and skip_connect: no parameters


class ThinNetwork(nn.Module):
    """TE-NAS's thin linear-region network for one NB201 cell.

    The official ``DARTS-V1`` search supernet with ``C=1, N=1, depth=1, use_stem=False``
    (``TinyNetworkDarts``), its alphas masked to the architecture (a single path): input
    ``(S, 1, H, W)`` -> the first search cell (1 channel) -> ``lastact`` BN(1)+ReLU -> global pool
    -> ``Linear(1, num_classes)``. Modules are created in the official order (an unused stem conv,
    then all 5 candidate ops of every edge, then lastact, classifier, and the arch-parameter
    ``randn`` draw), so under the same torch seed the weights equal the official thin net's.
    """

    def __init__(self, arch: str, num_classes: int):
        super().__init__()
        self.ops = parse(validate(arch))
        self.stem = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.BatchNorm2d(1))  # unused
        self.edges = nn.ModuleList(nn.ModuleList(_thin_candidate(op) for op in OPS) for _ in EDGES)
        self.lastact = nn.Sequential(nn.BatchNorm2d(1), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(1, num_classes)
        torch.randn(len(EDGES), len(OPS))  # TinyNetworkDarts.arch_parameters: RNG parity only

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Activation pattern of every ReLU with 4-D input: ``(S, units)`` bool (ReLU output > 0).

        Equals the official hooks' ``sign(ReLU output)`` (units fed by the same node are listed
        once: duplicates never change which patterns are distinct). The classifier has no ReLU
        after it and is not run.
        """
        nodes = [x]  # (S, 1, H, W)
        parts: dict[int, torch.Tensor] = {}
        k = 0
        for i in range(1, 4):
            acc = 0  # official: sum(layer(node) * w if w > 0.01 else 0 ...) with w = 1.0
            for j in range(i):
                op = self.ops[k]
                layer = self.edges[k][OPS.index(op)]
                if op == "none":
                    y = nodes[j].mul(0.0)
                else:
                    if isinstance(layer, _ReLUConvBN) and j not in parts:
                        parts[j] = (nodes[j] > 0).flatten(1)
                    y = layer(nodes[j])
                acc = acc + y
                k += 1
            nodes.append(acc)
        out = self.lastact(nodes[3])  # (S, 1, H, W)
        return torch.cat([parts[j] for j in sorted(parts)] + [(out > 0).flatten(1)], 1)


def arch_of(model: nn.Module) -> str:
    """The NB201 architecture string of ``model``: its ``arch`` attribute (knas TinyNetwork) or
    the ``genotype`` of its first xautodl ``InferCell``."""
    arch = getattr(model, "arch", None)
    if isinstance(arch, str):
        return validate(arch)
    for m in model.modules():
        g = getattr(m, "genotype", None)
        if g is not None and callable(getattr(g, "tostr", None)):
            return validate(g.tostr())
    raise ValueError(
        "linear_regions(protocol='thin') needs the NB201 architecture of the model, but it has no "
        "'arch' string attribute and no xautodl cell 'genotype'; use protocol='full' to count "
        "patterns on the given model and batch"
    )


def sample_crops(x: torch.Tensor, n_samples: int, repeats: int, seed: int) -> list[torch.Tensor]:
    """``repeats`` batches of ``n_samples`` random single-channel 3x3 crops of ``x``.

    Each crop: image index, channel and top-left corner uniform (``torch.Generator`` seeded with
    ``seed``, draws in that order per batch); images are drawn WITH replacement from ``x``
    (official: 1000 distinct CIFAR-10 train images per batch through ``RandomCrop(3, padding=0)``
    and ``RandChannel(1)``). Returns tensors ``(n_samples, 1, 3, 3)`` on ``x``'s device.
    """
    N, C, H, W = x.shape
    g = torch.Generator().manual_seed(int(seed))
    ar = torch.arange(3)
    out = []
    for _ in range(repeats):
        idx = torch.randint(N, (n_samples,), generator=g)
        ch = torch.randint(C, (n_samples,), generator=g)
        top = torch.randint(H - 2, (n_samples,), generator=g)
        left = torch.randint(W - 2, (n_samples,), generator=g)
        rows = (top[:, None] + ar)[:, :, None]  # (S, 3, 1)
        cols = (left[:, None] + ar)[:, None, :]  # (S, 1, 3)
        ix = [t.to(x.device) for t in (idx[:, None, None], ch[:, None, None], rows, cols)]
        out.append(x[ix[0], ix[1], ix[2], ix[3]].unsqueeze(1))  # (S, 1, 3, 3)
    return out


def count_distinct(codes: torch.Tensor) -> int:
    """Number of distinct rows of a ``(S, units)`` bool code matrix."""
    return int(torch.unique(codes.to(torch.uint8), dim=0).shape[0])


def thin_linear_regions(arch: str, x: torch.Tensor, num_classes: int, n_samples: int, repeats: int,
                        nets: int, seed: int, init: str = "default") -> float:
    """Mean over ``nets`` thin networks of the number of distinct patterns over all crops;
    ``init``: :func:`~knas.proxies.base.initialise` each (``scoring.init``)."""
    crops = sample_crops(x, n_samples, repeats, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        thin = [initialise(ThinNetwork(arch, num_classes), init) for _ in range(nets)]  # built on the CPU
    counts = []
    with torch.no_grad():
        for net in thin:
            net.to(x.device).train()
            codes = torch.cat([net.codes(c) for c in crops], 0)  # (repeats * n_samples, units)
            counts.append(count_distinct(codes))
    return float(np.mean(counts))


def full_linear_regions(ctx: Context, batch: ProxyBatch) -> ProxyResult:
    """Distinct patterns of every ``nn.ReLU`` with 4-D input over the batch (train-mode forward)."""
    records = [r for r in cached_code_grams(ctx, batch, None) if r.is_relu and r.ndim == 4]
    if not records:
        return ProxyResult(float("nan"), "nan")
    ham2 = sum(r.units - r.gram for r in records)  # (N, N) twice the Hamming distance, exact
    dup = torch.tril(ham2 == 0, diagonal=-1).any(1)  # example equals an earlier one
    return ProxyResult(float((~dup).sum().item()))


PROTOCOLS = ("thin", "full")


def _positive_int(name: str, v) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"option {name}={v!r}: must be a positive integer")
    return int(v)


@register(
    "linear_regions",
    higher_is_better=True,
    needs_labels=False,
    paper="TE-NAS (Chen et al., ICLR 2021)",
    degenerate=(
        "finite: thin protocol <= 2**9 = 512 for a disconnected cell (only ReLUs on the 3x3 input "
        "vary), 1 for an all-none cell"
    ),
    choices={"protocol": PROTOCOLS},
    protocol="thin",
    n_samples=1000,
    repeats=3,
    nets=3,
    seed=None,
)
def linear_regions(model: nn.Module, batch: ProxyBatch, ctx: Context, protocol="thin", n_samples=1000,
                   repeats=3, nets=3, seed=None):
    """Number of linear regions: distinct ReLU activation patterns (TE-NAS thin-network protocol).

    ``protocol="thin"`` (official): ``repeats`` batches of ``n_samples`` random single-channel
    3x3 crops of ``batch.x`` (see :func:`sample_crops`) go through TE-NAS's one-cell, one-channel
    thin network (:class:`ThinNetwork`, train-mode BN per batch of crops, fresh PyTorch default
    init under ``seed``; default ``ctx.seed``); the patterns of all ``n_samples * repeats`` crops
    are counted together (TE-NAS ``sample_batch=3`` of ``(1000, 1, 3, 3)`` = 3000 samples).
    ``nets``: average over that many independently initialised thin networks, each on the same
    crops (default 3 as TEG-NAS, Sec. 4.2 and ``te_reward_generator.py``; TE-NAS: 1), each
    initialised by ``ctx.init`` (``scoring.init``). The architecture comes from ``model.arch`` or the xautodl
    cell's ``genotype``; the model's own weights are not used.
    ``protocol="full"``: distinct patterns of the given model's ``nn.ReLU``s on the batch (one
    train-mode forward shared with ``naswot``); it saturates at the batch size (uninformative on
    NB201 with <= 64 images); the other options are ignored.
    Official counting computes ``sum_i 1/#{j: code_j == code_i}`` in floating point (e.g.
    2800.000244); this returns the exact integer count (their float sum equals it up to rounding).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"option protocol={protocol!r}: allowed: {', '.join(PROTOCOLS)}")
    if protocol == "full":
        return full_linear_regions(ctx, batch)
    n_samples = _positive_int("n_samples", n_samples)
    repeats = _positive_int("repeats", repeats)
    nets = _positive_int("nets", nets)
    seed = ctx.seed if seed is None else seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"option seed={seed!r}: must be an integer or None (use the context's seed)")
    if batch.x.shape[-1] < 3 or batch.x.shape[-2] < 3:
        raise ValueError(f"linear_regions needs images of at least 3x3 pixels, got {tuple(batch.x.shape)}")
    arch = arch_of(model)
    x = batch.x.to(ctx.device)
    return ProxyResult(thin_linear_regions(arch, x, batch.num_classes, n_samples, repeats, nets, int(seed), ctx.init))


# ---- teg (set-level) ------------------------------------------------------------------------------

TEG_COMPONENTS = ("ntk_cond", "linear_regions", "ntk_mse")


def dense_rank(values: pd.Series, ascending: bool) -> pd.Series:
    """TE-NAS ranking: equal values share a rank, the next distinct value gets +1 (1 = best)."""
    return values.rank(method="dense", ascending=ascending)


@register_combined("teg", components=TEG_COMPONENTS, higher_is_better=False, paper="TEG-NAS")
def teg(table: pd.DataFrame) -> pd.Series:
    """TEG rank sum over architectures: rank(ntk_cond, low) + rank(linear_regions, high) + rank(ntk_mse, low).

    One row per architecture, one column per component. Ranks are dense (TE-NAS's pruning code:
    ties share a rank, no rounding here), 1 = best; lower sum is better. "Bad" values rank worst
    in their column, as TEG-NAS sets bad architectures to the worst value in its buffer: NaN
    anywhere, ``ntk_mse < 0`` (the -1 sentinel; an MSE is never negative), ``ntk_cond <= 0``
    (lambda_min <= 0: a singular NTK, TEG's -1 included); TE-NAS's NaN sentinel 1e5 already ranks
    as a very large condition number.
    """
    missing = [c for c in TEG_COMPONENTS if c not in table.columns]
    if missing:
        raise ValueError(f"teg needs columns {list(TEG_COMPONENTS)}; missing {missing}")
    cond = table["ntk_cond"].astype(float)
    cond = cond.where(cond > 0, np.inf).fillna(np.inf)
    mse = table["ntk_mse"].astype(float)
    mse = mse.where(mse >= 0, np.inf).fillna(np.inf)
    lr = table["linear_regions"].astype(float).fillna(-np.inf)
    total = dense_rank(cond, True) + dense_rank(lr, False) + dense_rank(mse, True)
    return total.rename("teg")
