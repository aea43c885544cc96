"""Shared pieces of the proxy library: the batch a proxy sees, its result, the per-(model, batch)
context used to share forward/backward passes between proxies, and small utilities.

Shapes follow one convention throughout the proxies: inputs ``(N, C, H, W)``, per-example
gradients / Jacobians ``(N, P)``, kernels ``(N, N)``, activation codes ``(N, units)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn


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

    def to(self, device: torch.device | str) -> "ProxyBatch":
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return ProxyBatch(mv(self.x), mv(self.y), self.num_classes, mv(self.x_val), mv(self.y_val))

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


class Context:
    """Scratch space for one (model, batch) pair, shared by every proxy scored on it.

    Proxies that need the same expensive pass (per-example gradients, a hooked forward,
    a batch-graph Jacobian) fetch it with ``ctx.cached(key, fn)``, so it runs once.
    Keys should be namespaced and include every option the result depends on,
    e.g. ``("per_example_grads", n, "train_bn")``.
    """

    def __init__(self, model: nn.Module, batch: ProxyBatch, seed: int = 0):
        self.model = model
        self.batch = batch
        self.seed = seed
        self._cache: dict[Any, Any] = {}
        self.hits: dict[Any, int] = {}

    def cached(self, key, fn: Callable[[], Any]):
        if key in self._cache:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self._cache[key]
        value = fn()
        self._cache[key] = value
        return value

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return self.batch.x.device


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


@dataclass(frozen=True)
class ProxySpec:
    """Registry entry of one proxy.

    ``fn(model, batch, ctx, **options) -> float | ProxyResult``; it must not change ``model``
    (parameters, buffers, mode): work on ``copy.deepcopy(model)`` where the official code mutates.
    """

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool
    needs_labels: bool
    paper: str
    description: str
    degenerate: str  # documented value on a disconnected / degenerate network
    defaults: dict = field(default_factory=dict)

    @property
    def direction(self) -> int:
        """+1 when higher is better, -1 when lower is better."""
        return 1 if self.higher_is_better else -1
