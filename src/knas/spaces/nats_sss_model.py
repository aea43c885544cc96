"""The NATS-Bench SSS network, module-for-module equal to xautodl's ``DynamicShapeTinyNet``.

Reproduces ``xautodl/models/shape_infers/InferTinyCellNet.py`` with ``cell_infers/cells.py``
``InferCell`` (``C_in != C_out`` allowed) and the ops of ``cell_operations.py``: modules are
created in the same order with the same names, so under the same torch seed ``state_dict()`` and
outputs equal ``xautodl.models.get_cell_based_tiny_net({'name': 'infer.shape.tiny', 'channels':
arch, 'genotype': GENOTYPE, 'num_classes': k})``. The ops shared with NB201 (``ReLUConvBN``,
``ResNetBasicblock``) are :mod:`knas.spaces.xautodl_ops`, which NB201's network uses too. Differences: ``forward`` returns the logits only (xautodl: ``(features, logits)``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .xautodl_ops import Identity, ReLUConvBN, ResNetBasicblock

from .nats_sss import NUM_LAYERS, to_str


class ChannelSkip(nn.Module):
    """``skip_connect`` between different channel counts at stride 1: xautodl's
    ``FactorizedReduce(C_in, C_out, stride=1)`` = Conv1x1(bias=False) -> BN (its ``relu`` module
    exists but is not applied at stride 1; kept so that module lists match)."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def _op(name: str, C_in: int, C_out: int) -> nn.Module:
    if name == "nor_conv_3x3":
        return ReLUConvBN(C_in, C_out, 3, 1, 1)
    if name == "skip_connect":
        return Identity() if C_in == C_out else ChannelSkip(C_in, C_out)
    raise ValueError(f"op {name!r} does not occur in the SSS cell")


# the fixed cell GENOTYPE as (to, from, op) edges, in the order xautodl's InferCell builds them
CELL_EDGES = ((1, 0, "nor_conv_3x3"), (2, 0, "nor_conv_3x3"), (2, 1, "nor_conv_3x3"),
              (3, 0, "skip_connect"), (3, 1, "nor_conv_3x3"), (3, 2, "nor_conv_3x3"))


class ShapeCell(nn.Module):
    """The fixed SSS cell ``C_in -> C_out``: edges leaving node 0 map ``C_in -> C_out``, the
    others ``C_out -> C_out``; ``layers[k]`` is the op on ``CELL_EDGES[k]``, node i = sum over j<i."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.edges = tuple((i, j) for i, j, _ in CELL_EDGES)
        self.layers = nn.ModuleList(_op(op, C_in if j == 0 else C_out, C_out) for i, j, op in CELL_EDGES)
        self.in_dim, self.out_dim = C_in, C_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (i, j), layer in zip(self.edges, self.layers):
            y = layer(nodes[j])
            nodes[i] = y if nodes[i] is None else nodes[i] + y
        return nodes[-1]


class SizeNetwork(nn.Module):
    """``DynamicShapeTinyNet``: stem, then the 5 layers (cell, residual block, cell, residual
    block, cell) at the arch's channels, ``lastact`` BN+ReLU, global pooling, ``classifier``."""

    def __init__(self, channels: Sequence[int], num_classes: int = 10):
        super().__init__()
        channels = tuple(channels)
        self.channels = channels
        self.stem = nn.Sequential(nn.Conv2d(3, channels[0], 3, padding=1, bias=False), nn.BatchNorm2d(channels[0]))
        self.cells = nn.ModuleList()
        c_prev = channels[0]
        for k, c in enumerate(channels):
            cell = ResNetBasicblock(c_prev, c) if k % 2 else ShapeCell(c_prev, c)
            self.cells.append(cell)
            c_prev = c
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, num_classes)
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.classifier(self.global_pooling(self.lastact(h)).flatten(1))

    def extra_repr(self) -> str:
        return f"channels={to_str(self.channels)}, num_classes={self.classifier.out_features}"


def build_network(channels: Sequence[int], num_classes: int = 10, seed: int | None = None) -> SizeNetwork:
    """Build on the CPU; ``seed`` seeds torch's global RNG first (as the official scripts do)."""
    if len(tuple(channels)) != NUM_LAYERS:
        raise ValueError(f"expected {NUM_LAYERS} channel counts, got {channels!r}")
    if seed is not None:
        torch.manual_seed(seed)
    return SizeNetwork(channels, num_classes)
