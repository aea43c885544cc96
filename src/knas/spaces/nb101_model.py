"""The NAS-Bench-101 network in PyTorch, following the benchmark's ``nasbench/lib/model_builder.py``.

* stem: conv3x3(3 -> ``stem_channels``) + BN + ReLU;
* ``num_stacks`` stacks of ``cells_per_stack`` cells; before every stack but the first a 2x2
  max pool (stride 2, 'same' padding: ``ceil_mode=True``) and the channels double;
* a cell (``build_module``) with ``C_in`` input and ``C_out`` output channels: vertex channels
  from :func:`knas.spaces.nb101.vertex_channels`; the input of interior vertex t is the sum of its
  interior predecessors (truncated to the vertex's channels: the first channels, when a
  predecessor got one extra) and, for an edge from the cell input, a 1x1 conv-BN-ReLU
  *projection* of the cell input; the cell output concatenates the interior vertices feeding the
  output (in vertex order) and adds a projection of the cell input when input -> output is an
  edge (with no interior vertex feeding it, the output is that projection alone);
* ops: ``conv3x3-bn-relu`` / ``conv1x1-bn-relu`` (conv without bias, 'same' padding, BN, ReLU),
  ``maxpool3x3`` (stride 1, 'same');
* global average pooling, ``classifier`` = Linear(C, num_classes) with bias.

BN: ``eps=1e-5`` and ``momentum=0.003`` (TensorFlow's ``momentum=0.997`` of the benchmark:
running = 0.997 running + 0.003 batch). The parameters are the benchmark's trainable variables
(conv kernels, BN gamma/beta, dense kernel and bias): their count equals ``trainable_parameters``.
Initialisation is PyTorch's default (the benchmark used TensorFlow's ``variance_scaling`` for
convs and Glorot-uniform for the dense layer); re-initialise with ``knas.nb201.init_network``'s
schemes where a protocol asks for another.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .nb101 import Spec, stack_channels, vertex_channels

BN_MOMENTUM = 0.003  # = 1 - TF's 0.997
BN_EPS = 1e-5


class ConvBnRelu(nn.Module):
    def __init__(self, C_in: int, C_out: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(C_in, C_out, kernel_size, stride=1, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _vertex_op(op: str, C: int) -> nn.Module:
    if op == "conv3x3-bn-relu":
        return ConvBnRelu(C, C, 3)
    if op == "conv1x1-bn-relu":
        return ConvBnRelu(C, C, 1)
    if op == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NB101 op {op!r}")


class Cell(nn.Module):
    """One NB101 module. ``ops[t-1]`` is interior vertex t's op; ``proj[str(t)]`` projects the cell
    input for vertex t (t = V-1: the output)."""

    def __init__(self, spec: Spec, C_in: int, C_out: int):
        super().__init__()
        self.matrix = spec.matrix
        n = spec.num_vertices
        self.vc = vertex_channels(C_in, C_out, spec.matrix)
        self.ops = nn.ModuleList(_vertex_op(spec.ops[t], self.vc[t]) for t in range(1, n - 1))
        self.proj = nn.ModuleDict(
            {str(t): ConvBnRelu(C_in, self.vc[t], 1) for t in range(1, n) if spec.matrix[0][t]}
        )
        self.in_dim, self.out_dim = C_in, C_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, vc = self.matrix, self.vc
        n = len(m)
        tensors = [x]
        concat = []
        for t in range(1, n - 1):
            fan_in = [tensors[s][:, : vc[t]] for s in range(1, t) if m[s][t]]
            if m[0][t]:
                fan_in.append(self.proj[str(t)](x))
            h = fan_in[0]
            for y in fan_in[1:]:
                h = h + y
            tensors.append(self.ops[t - 1](h))
            if m[t][n - 1]:
                concat.append(tensors[t])
        if not concat:
            return self.proj[str(n - 1)](x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        if m[0][n - 1]:
            out = out + self.proj[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    def __init__(self, spec: Spec, num_classes: int = 10, stem_channels: int = 128, num_stacks: int = 3,
                 cells_per_stack: int = 3):
        super().__init__()
        self.stem = ConvBnRelu(3, stem_channels, 3)
        layers: list[nn.Module] = []
        c_in = stem_channels
        for s, c in enumerate(stack_channels(stem_channels, num_stacks)):
            if s > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
            for _ in range(cells_per_stack):
                layers.append(Cell(spec, c_in, c))
                c_in = c
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, num_classes)
        return self.classifier(self.layers(self.stem(x)).mean((2, 3)))


def build_network(spec: Spec, num_classes: int = 10, seed: int | None = None, **options: int) -> NB101Network:
    """Build on the CPU; ``seed`` seeds torch's global RNG first."""
    if seed is not None:
        torch.manual_seed(seed)
    return NB101Network(spec, num_classes=num_classes, **options)
