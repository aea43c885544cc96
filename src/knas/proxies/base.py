"""Shared pieces of the proxy library: the batch a proxy sees, its result, the per-(model, batch)
context used to share forward/backward passes between proxies, and small utilities.

Shapes follow one convention throughout the proxies: inputs ``(N, C, H, W)``, per-example
gradients / Jacobians ``(N, P)``, kernels ``(N, N)``, activation codes ``(N, units)``.
"""
from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .registry import INITS, get


@dataclass
class ProxyBatch:
    """The data a proxy is computed on.

    ``x``/``y`` are the scoring batch (labels may be ``None`` for label-free proxies);
    ``x_val``/``y_val`` a second, held-out batch (used by ``ntk_mse``).
    ``num_classes`` is the classifier's output width.
    """

    x: torch.Tensor  # (N, C, H, W)
    y: torch.Tensor | None  # (N,) int64
    num_classes: int
    x_val: torch.Tensor | None = None  # (M, C, H, W)
    y_val: torch.Tensor | None = None  # (M,)
    more: tuple["ProxyBatch", ...] = ()  # further independent batches of the same size (option ``batches``)

    def to(self, device: torch.device | str) -> "ProxyBatch":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return ProxyBatch(mv(self.x), mv(self.y), self.num_classes, mv(self.x_val), mv(self.y_val),
                          tuple(b.to(device) for b in self.more))

    def independent(self, count: int, proxy: str) -> list["ProxyBatch"]:
        """This batch and the next ``count - 1`` of :attr:`more`: ``count`` independent batches
        (TEG-NAS: each indicator is the mean over three). Raises naming the option when the
        batch has fewer."""
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"proxy {proxy!r}: option batches={count!r}: must be a positive integer")
        have = 1 + len(self.more)
        if count > have:
            raise ValueError(f"proxy {proxy!r}: option batches={count} needs {count} independent batches, the "
                             f"batch has {have} (knas.scoring draws max(batches) of them; set ProxyBatch.more)")
        return [self, *self.more[: count - 1]]

    @property
    def n(self) -> int:
        return int(self.x.shape[0])


@dataclass
class ProxyResult:
    """A proxy value plus an optional flag saying why it is a sentinel/NaN.

    Flags in use: ``"nan"`` (the computation is undefined, value is NaN),
    ``"sentinel"`` (the official code's sentinel replaced a NaN, e.g. 1e5 for ``ntk_cond``),
    ``"degenerate"`` (a finite but input-independent value, e.g. a disconnected cell).
    """

    value: float
    flag: str | None = None


class Keys:
    """Named constructors of the Context entries that proxies share. The first element of a key
    is the entry's kind, the name a proxy declares in ``shares`` when it registers
    (:mod:`knas.proxies.registry`); the rest are the options the entry depends on."""

    @staticmethod
    def per_example_grads(n: int) -> tuple:
        return ("per_example_grads", n)

    @staticmethod
    def summed_grads(n: int) -> tuple:
        return ("summed_grads", n)

    @staticmethod
    def gtnas_layers(n: int, theta: int, seed: int) -> tuple:
        return ("gtnas_layers", n, theta, seed)

    @staticmethod
    def gtnas_abs_grads(n: int) -> tuple:
        return ("gtnas_abs_grads", n)

    @staticmethod
    def relu_code_grams(n: int, split: str = "train") -> tuple:
        return ("relu_code_grams", n, split)

    @staticmethod
    def ntk_jacobian(n: int, split: str = "train", columns: str = "weight", batch: int = 0) -> tuple:
        return ("ntk_jacobian", n, split, columns, batch)

    @staticmethod
    def ntk_jacobian_val(split: str = "train", columns: str = "cell_weight", batch: int = 0) -> tuple:
        return ("ntk_jacobian_val", split, columns, batch)

    @staticmethod
    def ce_grad(n: int, split: int, train: bool) -> tuple:
        return ("ce_grad", n, split, bool(train))

    @staticmethod
    def ce_grad_all_weights(n: int, split: int, train: bool) -> tuple:
        return ("ce_grad_all_weights", n, split, bool(train))


class Context:
    """Scratch space for one (model, batch) pair, shared by every proxy scored on it.

    Proxies that need the same expensive pass (per-example gradients, a hooked forward,
    a batch-graph Jacobian) fetch it with ``ctx.cached(key, fn)``, so it runs once; keys come
    from :class:`Keys`. ``planned`` names the proxies the caller will score on this context:
    :meth:`plans` tells a proxy whether another one will share a pass (from the registry's
    ``shares``), so it may pick the pass the others can share over a cheaper one of its own.
    """

    def __init__(self, model: nn.Module, batch: ProxyBatch, seed: int = 0, planned=(), init: str = "default"):
        self.model = model
        self.batch = batch
        self.seed = seed
        self.init = check_init(init)  # how networks a proxy builds itself are initialised (initialise)
        self.planned = frozenset(planned)
        self._cache: dict[Any, Any] = {}
        self.hits: dict[Any, int] = {}

    def plans(self, kind: str, besides: str | None = None) -> bool:
        """Whether a planned proxy (other than ``besides``) shares Context entries of ``kind``."""
        return any(kind in get(n).shares for n in self.planned if n != besides)

    def has(self, key) -> bool:
        return key in self._cache

    def get(self, key, default=None):
        """The entry under ``key`` (counted as a reuse in :attr:`hits`), else ``default``."""
        if key not in self._cache:
            return default
        self.hits[key] = self.hits.get(key, 0) + 1
        return self._cache[key]

    def store(self, key, value) -> None:
        """Put (or replace) an entry, e.g. a pass recomputed with more statistics."""
        self._cache[key] = value

    def cached(self, key, fn: Callable[[], Any]):
        """The entry under ``key``; computed by ``fn()`` and stored the first time."""
        if key in self._cache:
            return self.get(key)
        value = fn()
        self._cache[key] = value
        return value

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return self.batch.x.device


def check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"scoring init {init!r} is unknown; allowed: {', '.join(INITS)}")
    return init


def initialise(model: nn.Module, init: str = "default") -> nn.Module:
    """(Re-)initialise ``model`` in place; returns it.

    ``"default"``: leave PyTorch's default init (what the released TE-NAS / TEG-NAS code runs:
    its ``init_model(net, 'kaiming_normal')`` matches none of its own names, a no-op).
    ``"kaiming_normal"``: the papers' init (TEG-NAS Eq. 4, theta ~ N(0, 2 / N_l)): every Conv and
    Linear weight ``kaiming_normal_(mode='fan_in', nonlinearity='relu')`` and bias 0, every affine
    BatchNorm weight 1 and bias 0 (the released code's ``kaiming_normal_fanin_init``). Draws from
    torch's global RNG (seeded by the caller, e.g. ``init_seed`` before the network is built).
    """
    if check_init(init) == "default":
        return model
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def logits_of(out) -> torch.Tensor:
    """A forward's logits: the tensor itself, or the last element of a tuple/list.

    The benchmark's own TinyNetwork returns ``(features, logits)``; knas networks return logits.
    """
    if isinstance(out, (tuple, list)):
        return out[-1]
    return out


def forward_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return logits_of(model(x))


def check_n(n: int, batch: ProxyBatch, option: str = "n") -> int:
    """Validate that ``n`` examples can be taken from the batch."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"option {option}={n!r}: must be a positive integer")
    if n > batch.n:
        raise ValueError(f"option {option}={n} is larger than the batch ({batch.n} examples)")
    return n


def is_cuda_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(err)


def run_chunked(fn: Callable[[int, int], Any], n: int, chunk: int | None = None) -> list:
    """Call ``fn(start, stop)`` over ``range(n)`` in chunks; on CUDA OOM halve the chunk and retry.

    Returns the list of per-chunk results (in order). With ``chunk=None`` the first try is one chunk.
    """
    chunk = n if chunk is None else max(1, min(chunk, n))
    while True:
        try:
            return [fn(s, min(s + chunk, n)) for s in range(0, n, chunk)]
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if not is_cuda_oom(err) or chunk == 1:
                raise
            torch.cuda.empty_cache()
            chunk = max(1, chunk // 2)


def finite_or_flag(value: float, sentinel: float | None = None) -> ProxyResult:
    """Wrap a float: NaN/inf becomes ``sentinel`` (flag ``"sentinel"``) or NaN (flag ``"nan"``)."""
    if math.isfinite(value):
        return ProxyResult(float(value))
    if sentinel is not None:
        return ProxyResult(float(sentinel), "sentinel")
    return ProxyResult(float("nan"), "nan")


# ---- working copies -------------------------------------------------------------------------------
# NAS-Bench-201's avg_pool_3x3 op is AvgPool2d(3, stride=1, padding=1, count_include_pad=False).
# PyTorch's CPU kernel for it (forward and backward) is slow: ~10 ms for a (64, 16, 32, 32) tensor on
# 2 threads, a quarter of the time of an NTK backward pass of a pool-heavy cell. The same numbers come
# from a depthwise convolution with an all-ones 3x3 kernel (the window sum, in the same order) divided
# by the per-pixel window count, and its backward is the same convolution of grad / count; that is
# 6-8x faster and, measured, bit-identical in float32 and float64 (the window terms are added in the
# same order; x * 1.0 is exact). Proxy working copies use it on the CPU; a one-time self-check
# (`_exact_pool_ok`) falls back to F.avg_pool2d if a backend ever rounds differently.

def _box3(x: torch.Tensor) -> torch.Tensor:
    """3x3 window sums with zero padding, per channel: ``(N, C, H, W)``."""
    return F.conv2d(x, x.new_ones(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])


@functools.lru_cache(maxsize=64)
def _window_count(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    """Number of in-bounds pixels of each 3x3 window: ``(1, 1, H, W)``, exact small integers."""
    ones = torch.ones(1, 1, h, w, dtype=dtype)
    return F.conv2d(ones, torch.ones(1, 1, 3, 3, dtype=dtype), padding=1)


class _ExactAvgPool3(torch.autograd.Function):
    """``F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)`` as window sum / count (see above)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, count):
        return _box3(x) / count

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.count = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        return _ExactAvgPool3Grad.apply(grad, ctx.count), None

    @staticmethod
    def jvp(ctx, tangent, _count_tangent):
        return _box3(tangent) / ctx.count


class _ExactAvgPool3Grad(torch.autograd.Function):
    """``avg_pool2d_backward``: the window sum of ``grad / count`` (the sum is self-adjoint:
    symmetric kernel, stride 1, padding 1). Its own derivative is the pooling again, as PyTorch's
    (so GraSP's double backward also gives PyTorch's numbers)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(grad, count):
        return _box3(grad / count)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.count = inputs[1]

    @staticmethod
    def backward(ctx, grad_grad):
        return _ExactAvgPool3.apply(grad_grad, ctx.count), None

    @staticmethod
    def jvp(ctx, tangent, _count_tangent):
        return _box3(tangent / ctx.count)


def _exact_pool(x: torch.Tensor) -> torch.Tensor:
    return _ExactAvgPool3.apply(x, _window_count(x.shape[-2], x.shape[-1], x.dtype))


@functools.lru_cache(maxsize=None)
def _exact_pool_ok(dtype: torch.dtype) -> bool:
    """One-time check on this CPU backend: forward and backward bit-identical to ``F.avg_pool2d``."""
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode(False), torch.enable_grad():  # may first run inside a no_grad forward
        for shape in ((2, 3, 5, 7), (4, 16, 16, 16)):
            x = torch.randn(shape, generator=g, dtype=dtype).requires_grad_()
            t = torch.randn(shape, generator=g, dtype=dtype)
            ref = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
            out = _exact_pool(x)
            if not (torch.equal(ref, out) and torch.equal(*(torch.autograd.grad(y, x, t)[0] for y in (ref, out)))):
                return False
    return True


class ExactAvgPool3x3(nn.Module):
    """Drop-in for ``nn.AvgPool2d(3, 1, 1, count_include_pad=False)``: same values, faster on CPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64) \
                and _exact_pool_ok(x.dtype):
            return _exact_pool(x)
        return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _is_nb201_pool(m: nn.Module) -> bool:
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    return (type(m) is nn.AvgPool2d and pair(m.kernel_size) == (3, 3) and pair(m.stride) == (1, 1)
            and pair(m.padding) == (1, 1) and not m.count_include_pad and not m.ceil_mode
            and m.divisor_override is None)


def working_copy(model: nn.Module, memo: dict | None = None) -> nn.Module:
    """``copy.deepcopy(model)`` (the caller's model is never touched) with every NB201-style
    ``AvgPool2d(3, 1, 1, count_include_pad=False)`` replaced by :class:`ExactAvgPool3x3`.

    Parameter names, order and values, and every output and gradient, are those of ``model``.
    """
    net = copy.deepcopy(model, memo)
    for parent in net.modules():
        for name, child in list(parent.named_children()):
            if _is_nb201_pool(child):
                setattr(parent, name, ExactAvgPool3x3())
    return net


# ---- computing a proxy ------------------------------------------------------------------------

def check_batch(model: nn.Module, batch: ProxyBatch) -> None:
    """Fail early, with the shapes in the message, when the batch does not fit the model."""
    if batch.x.dim() != 4:
        raise ValueError(f"batch.x must be (N, C, H, W); got shape {tuple(batch.x.shape)}")
    if batch.y is not None and batch.y.shape[0] != batch.x.shape[0]:
        raise ValueError(f"batch.y has {batch.y.shape[0]} labels for {batch.x.shape[0]} inputs")
    was_training = model.training
    model.eval()  # eval: a probe forward must not touch BN running statistics
    try:
        with torch.no_grad():
            out = logits_of(model(batch.x[:1]))
    except RuntimeError as err:
        raise ValueError(
            f"batch of shape {tuple(batch.x.shape)} does not fit the model: {str(err).splitlines()[0]}"
        ) from err
    finally:
        model.train(was_training)
    if out.dim() != 2 or out.shape[1] != batch.num_classes:
        raise ValueError(
            f"model outputs shape {tuple(out.shape)}, expected (N, num_classes={batch.num_classes})"
        )


def compute(
    name: str, model: nn.Module, batch: ProxyBatch, ctx: Context | None = None, **options
) -> ProxyResult:
    """Compute proxy ``name`` on ``model`` and ``batch``; returns a :class:`ProxyResult`."""
    spec = get(name)
    opts = spec.check_options(options)
    if spec.needs_labels and batch.y is None:
        raise ValueError(f"proxy {name!r} needs labels but the batch has none")
    if ctx is None:
        ctx = Context(model, batch)
    out = spec.fn(model, batch, ctx, **opts)
    if isinstance(out, ProxyResult):
        return out
    value = float(out)
    return ProxyResult(value, None if math.isfinite(value) else "nan")
