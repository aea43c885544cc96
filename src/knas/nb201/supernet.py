"""The NB201 supernet: every edge of every cell holds all five operations, mixed by weights.

The network of TE-NAS's pruning (VITA-Group/TENAS ``TinyNetworkDarts`` with
``NAS201SearchCell``): the NB201 skeleton of :class:`~knas.nb201.model.TinyNetwork` (stem,
3 stages of N cells, residual reduction blocks, lastact, classifier), each cell edge
``e`` computing ``sum_k w[e, k] * op_k(x)`` over the candidate ops of :data:`~knas.nb201.space.OPS`
whose weight is positive (ops with weight 0 are not run, as TE-NAS skips ``w <= 0.01``). All
cells share one ``(6, 5)`` weight matrix (NB201 has one cell type).

Weights: :meth:`SuperNetwork.set_weights` takes any ``(6, 5)`` matrix (e.g. ``softmax(theta)``
of architecture parameters, or TE-NAS's weights of a 0/1 mask of surviving ops,
:func:`knas.search.supernet.mask_weights`; a single path's are its :func:`one_hot` mask). The
network starts with the full supernet's weights, ``1/5`` on every op.

Parameter names follow xautodl's search network where they can and knas's TinyNetwork for the
shared skeleton (``stem``, ``cells.<i>`` for reduction blocks, ``lastact``, ``classifier``);
candidate op ``k`` of edge ``e`` in cell ``i`` is ``cells.<i>.edges.<e>.<k>``. Every name
contains ``cell`` or ``weight`` exactly where the single-path network's does, so the TE-NAS /
TEG parameter filters select the same kind of tensors. :func:`load_single_path` copies a
:class:`TinyNetwork`'s weights into the supernet: with the one-hot mask of that architecture
the supernet then computes the same logits (tests).

``stem=False`` and ``depth`` give TE-NAS's thin linear-region network
(``C=1, N=1, depth=1, use_stem=False``: the input goes straight into the first cell).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .model import ResNetBasicblock, make_op
from .space import EDGES, NUM_NODES, OPS, parse, validate


def one_hot(arch: str) -> torch.Tensor:
    """The ``(6, 5)`` 0/1 mask of a single NB201 architecture."""
    m = torch.zeros(len(EDGES), len(OPS))
    for e, op in enumerate(parse(validate(arch))):
        m[e, OPS.index(op)] = 1.0
    return m


class SearchCell(nn.Module):
    """An NB201 cell whose every edge holds all candidate ops: ``edges[e][k]`` is op ``OPS[k]``
    on edge ``EDGES[e]``; ``node_i = sum_{j<i} sum_k w[e(i,j), k] * op_k(node_j)``."""

    def __init__(self, C: int, ops=OPS):
        super().__init__()
        self.ops = tuple(ops)
        self.edge_list = EDGES
        self.edges = nn.ModuleList(nn.ModuleList(make_op(op, C) for op in self.ops) for _ in EDGES)
        self.in_dim = self.out_dim = C

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        nodes: list[torch.Tensor | None] = [x] + [None] * (NUM_NODES - 1)
        for e, ((i, j), layers) in enumerate(zip(self.edge_list, self.edges)):
            y = None
            for k, layer in enumerate(layers):
                w = weights[e, k]
                if w > 0:
                    term = layer(nodes[j]) * w
                    y = term if y is None else y + term
            if y is None:  # cannot happen with valid weights (checked in set_weights)
                raise RuntimeError(f"edge {e} has no op with a positive weight")
            nodes[i] = y if nodes[i] is None else nodes[i] + y
        return nodes[-1]


class SuperNetwork(nn.Module):
    """The NB201 supernet (see the module docstring). ``forward(x)`` -> logits ``(B, num_classes)``.

    ``stem=False``: no stem (the input must have ``C`` channels); ``depth``: keep only the
    first ``depth`` blocks of ``cells`` (TE-NAS's thin network: ``C=1, N=1, depth=1, stem=False``).
    Starts with the full supernet's weights (every op ``1/5``).
    """

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, *, stem: bool = True,
                 depth: int | None = None):
        super().__init__()
        for name, v in (("C", C), ("N", N), ("num_classes", num_classes)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
            raise ValueError(f"depth must be a positive integer or None, got {depth!r}")
        self.ops = OPS
        self.num_edges = len(EDGES)
        self.use_stem = stem
        self.stem = None
        if stem:
            self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        if depth is not None:
            channels, reductions = channels[:depth], reductions[:depth]
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in zip(channels, reductions):
            cell = ResNetBasicblock(C_prev, C_curr) if reduction else SearchCell(C_curr)
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.register_buffer("arch_weights", torch.full((len(EDGES), len(OPS)), 1.0 / len(OPS)), persistent=False)

    def set_weights(self, weights: torch.Tensor) -> "SuperNetwork":
        """Set the ``(6, 5)`` mixture weights (non-negative, at least one positive per edge)."""
        w = torch.as_tensor(weights, dtype=torch.float32).detach()
        if tuple(w.shape) != (self.num_edges, len(self.ops)):
            raise ValueError(f"weights must have shape ({self.num_edges}, {len(self.ops)}), got {tuple(w.shape)}")
        if bool((w < 0).any()) or not bool((w > 0).any(1).all()) or not bool(torch.isfinite(w).all()):
            raise ValueError("weights must be finite, >= 0, with at least one positive weight per edge")
        self.arch_weights = w.to(self.arch_weights.device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x) if self.stem is not None else x
        w = self.arch_weights.cpu()  # read on the host: the per-op "w > 0" tests stay off the device
        for cell in self.cells:
            h = cell(h, w) if isinstance(cell, SearchCell) else cell(h)
        h = self.global_pooling(self.lastact(h)).flatten(1)
        return self.classifier(h)


def build_supernet(C: int = 16, N: int = 5, num_classes: int = 10, seed: int | None = None, *,
                   stem: bool = True, depth: int | None = None) -> SuperNetwork:
    """A :class:`SuperNetwork` on the CPU, built after ``torch.manual_seed(seed)`` if given."""
    if seed is not None:
        torch.manual_seed(seed)
    return SuperNetwork(C, N, num_classes, stem=stem, depth=depth)


@torch.no_grad()
def load_single_path(supernet: SuperNetwork, net: nn.Module, arch: str | None = None) -> SuperNetwork:
    """Copy the weights of a single-path :class:`~knas.nb201.model.TinyNetwork` into ``supernet``
    (skeleton to skeleton, each cell op ``cells.<i>.layers.<e>`` to candidate
    ``cells.<i>.edges.<e>.<k>`` of its op) and set the one-hot mask of its architecture."""
    arch = validate(arch if arch is not None else net.arch)
    ops = parse(arch)
    own = supernet.state_dict()
    for name, value in net.state_dict().items():
        parts = name.split(".")
        if len(parts) > 3 and parts[0] == "cells" and parts[2] == "layers":
            e = int(parts[3])
            target = ".".join(["cells", parts[1], "edges", parts[3], str(OPS.index(ops[e]))] + parts[4:])
        else:
            target = name
        if target not in own or own[target].shape != value.shape:
            raise ValueError(f"single-path tensor {name!r} has no counterpart {target!r} in the supernet "
                             f"(same C, N and num_classes needed)")
        own[target].copy_(value)
    return supernet.set_weights(one_hot(arch))
