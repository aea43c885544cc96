"""Package attributes loaded on first access, so that importing a package stays cheap (no torch
on the workflow's parse path: ``knas.nb201``, ``knas.data``, ``knas.proxies``)."""
from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_attributes(package: str, names: dict[str, str]) -> tuple[Callable, Callable]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` whose ``names`` (attribute ->
    submodule) are imported from that submodule when first used, then kept."""

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(f".{names[name]}", package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
