"""NAS-Bench-201: search space (:mod:`.space`), network (:mod:`.model`), cost counts (:mod:`.flops`).

The space API is pure Python and imported eagerly; the torch-based names (network, init,
FLOP counts) are loaded on first access, so ``import knas.nb201`` (e.g. from a Snakefile that
only enumerates architectures) does not import torch.
"""
from __future__ import annotations

from knas.lazy import lazy_attributes

from .space import (
    EDGES,
    OPS,
    all_archs,
    arch_of,
    decode,
    encode,
    index_of,
    is_disconnected,
    mutate,
    num_archs,
    parse,
    sample,
    to_str,
    validate,
)

_LAZY = {
    "NB201Config": "model",
    "TinyNetwork": "model",
    "InferCell": "model",
    "ResNetBasicblock": "model",
    "INIT_SCHEMES": "model",
    "build_network": "model",
    "init_network": "model",
    "count_params": "flops",
    "count_flops": "flops",
    "nb201_cost": "flops",
    "FLOP_CONVENTIONS": "flops",
}

__all__ = [
    "OPS", "EDGES", "num_archs", "parse", "to_str", "validate", "encode", "decode",
    "all_archs", "index_of", "arch_of", "is_disconnected", "mutate", "sample",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
