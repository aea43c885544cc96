"""The proxy registry: training-free scores, one module per paper.

Usage::

    from knas import proxies
    res = proxies.compute("mgm", model, batch)          # ProxyResult(value, flag)
    proxies.spec("naswot").higher_is_better              # direction for the analysis (no torch)
    proxies.spec("teg").components                       # a combined score's members
    proxies.pass_groups(["mgm", "knas_code", "naswot"])  # {"per_example_grads": [...], ...}

Modules are imported by name in ``MODULES`` (no directory scanning), so every run sees the
same registry. Each proxy registers itself with :func:`register`, declaring its direction,
options, labels and the passes it ``shares`` (:mod:`.registry`). Importing this package does
not import torch: the registry and catalog names are loaded eagerly, the computing names
(``compute``, ``Context``, ``ProxyBatch``, ...) from :mod:`.base` on first access.
"""
from __future__ import annotations

import importlib

from .registry import (
    COMBINED,
    MODULES,
    PROXIES,
    CombinedSpec,
    ProxySpec,
    build_catalog,
    catalog,
    get,
    load_all,
    members,
    names,
    pass_groups,
    register,
    register_combined,
    spec,
    write_catalog,
)

_LAZY = ("Context", "Keys", "ProxyBatch", "ProxyResult", "check_batch", "compute", "forward_logits", "logits_of")

__all__ = [
    "COMBINED", "MODULES", "PROXIES", "CombinedSpec", "ProxySpec", "build_catalog", "catalog", "get",
    "load_all", "members", "names", "pass_groups", "register", "register_combined", "spec", "write_catalog",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(".base", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
