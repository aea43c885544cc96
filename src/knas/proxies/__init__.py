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

from knas.lazy import lazy_attributes

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

_LAZY = dict.fromkeys(
    ("Context", "INITS", "Keys", "ProxyBatch", "ProxyResult", "check_batch", "compute", "forward_logits", "initialise",
     "logits_of"), "base"
)

__all__ = [
    "COMBINED", "MODULES", "PROXIES", "CombinedSpec", "ProxySpec", "build_catalog", "catalog", "get",
    "load_all", "members", "names", "pass_groups", "register", "register_combined", "spec", "write_catalog",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
