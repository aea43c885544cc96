"""Search spaces behind one interface (:class:`knas.spaces.base.Space`).

``get_space(name)`` returns the space registered under ``name`` (the config key ``space.name``)::

    from knas.spaces import get_space
    space = get_space("nats_sss")
    arch = space.sample(random.Random(0))        # '40:8:64:24:16'
    net = space.build_network(arch, num_classes=100)

Registered spaces (one module each; importing this package imports no space and no torch):

- ``nb201``: NAS-Bench-201 / NATS-Bench topology cells (:mod:`.nb201`, over :mod:`knas.nb201`);
- ``nats_sss``: NATS-Bench size search space, 32,768 channel configurations (:mod:`.nats_sss`);
- ``nb101``: NAS-Bench-101 cell graphs, 423,624 unique graphs (:mod:`.nb101`).

Adding a space: write ``knas/spaces/<name>.py`` with a :class:`~knas.spaces.base.Space`
subclass named ``SPACE_CLASS`` in it, add ``<name>`` to :data:`SPACES` below.
"""
from __future__ import annotations

import functools
import importlib

from .base import Cost, DatasetShape, Space

# name -> module (relative to this package) that defines SPACE_CLASS
SPACES: dict[str, str] = {"nb201": ".nb201", "nats_sss": ".nats_sss", "nb101": ".nb101"}

__all__ = ["SPACES", "Cost", "DatasetShape", "Space", "get_space", "names"]


def names() -> tuple[str, ...]:
    """Names of the registered spaces (the allowed values of ``space.name``)."""
    return tuple(SPACES)


@functools.lru_cache(maxsize=None)
def get_space(name: str) -> Space:
    """The space registered as ``name`` (one shared instance per name)."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; allowed: {', '.join(SPACES)}")
    module = importlib.import_module(SPACES[name], __name__)
    return module.SPACE_CLASS()
