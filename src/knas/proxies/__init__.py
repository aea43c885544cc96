"""The proxy registry: training-free scores, one module per paper.

Usage::

    from knas import proxies
    res = proxies.compute("mgm", model, batch)          # ProxyResult(value, flag)
    proxies.PROXIES["naswot"].higher_is_better           # direction for the analysis

Modules are imported by name in ``MODULES`` (no directory scanning), so every run sees the
same registry. Each proxy registers itself with :func:`register`.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .base import Context, ProxyBatch, ProxyResult, ProxySpec, forward_logits, logits_of

MODULES = ("knas", "gtnas", "naswot", "tenas", "zero_cost")

PROXIES: dict[str, ProxySpec] = {}


@dataclass(frozen=True)
class CombinedSpec:
    """A score defined over a *set* of architectures from per-architecture proxies
    (e.g. TEG's rank-sum). ``fn(table) -> pandas.Series`` takes a DataFrame with one row per
    architecture and one column per component proxy and returns the combined score per row."""

    name: str
    components: tuple[str, ...]
    fn: Callable
    higher_is_better: bool
    paper: str
    description: str


COMBINED: dict[str, CombinedSpec] = {}


def register_combined(name: str, *, components, higher_is_better: bool, paper: str) -> Callable:
    """Decorator registering a set-level score built from registered per-architecture proxies."""

    def deco(fn):
        if name in COMBINED or name in PROXIES:
            raise KeyError(f"score {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        COMBINED[name] = CombinedSpec(name, tuple(components), fn, higher_is_better, paper, doc[0] if doc else "")
        return fn

    return deco


def register(
    name: str,
    *,
    higher_is_better: bool,
    needs_labels: bool,
    paper: str,
    degenerate: str,
    **defaults,
) -> Callable:
    """Decorator registering ``fn(model, batch, ctx, **options)`` as proxy ``name``.

    May be stacked to register one function under several names with different defaults.
    """

    def deco(fn):
        if name in PROXIES:
            raise KeyError(f"proxy {name!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        PROXIES[name] = ProxySpec(
            name=name,
            fn=fn,
            higher_is_better=higher_is_better,
            needs_labels=needs_labels,
            paper=paper,
            description=doc[0] if doc else "",
            degenerate=degenerate,
            defaults=dict(defaults),
        )
        return fn

    return deco


_loaded = False


def load_all() -> dict[str, ProxySpec]:
    global _loaded
    if not _loaded:
        for mod in MODULES:
            importlib.import_module(f"{__name__}.{mod}")
        _loaded = True
    return PROXIES


def names() -> list[str]:
    return sorted(load_all())


def get(name: str) -> ProxySpec:
    reg = load_all()
    if name not in reg:
        raise ValueError(f"unknown proxy {name!r}; allowed: {', '.join(sorted(reg))}")
    return reg[name]


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
    unknown = set(options) - set(spec.defaults)
    if unknown:
        raise ValueError(
            f"proxy {name!r}: unknown option(s) {sorted(unknown)}; allowed: {sorted(spec.defaults) or 'none'}"
        )
    if spec.needs_labels and batch.y is None:
        raise ValueError(f"proxy {name!r} needs labels but the batch has none")
    if ctx is None:
        ctx = Context(model, batch)
    opts = {**spec.defaults, **options}
    out = spec.fn(model, batch, ctx, **opts)
    if isinstance(out, ProxyResult):
        return out
    value = float(out)
    return ProxyResult(value, None if math.isfinite(value) else "nan")


__all__ = [
    "COMBINED",
    "CombinedSpec",
    "PROXIES",
    "Context",
    "ProxyBatch",
    "ProxyResult",
    "ProxySpec",
    "check_batch",
    "compute",
    "forward_logits",
    "get",
    "load_all",
    "logits_of",
    "names",
    "register",
    "register_combined",
]
