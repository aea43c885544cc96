"""The cell operations of xautodl (``models/cell_operations.py``) that the NAS-Bench-201 and
NATS-Bench networks share, with xautodl's module names (so parameter names and the order of
``state_dict()`` match xautodl's networks)."""
from __future__ import annotations

import torch
import torch.nn as nn


# ---- operations (names follow xautodl so that parameter names match) ---------------------------

class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d(bias=False) -> BatchNorm2d(affine, track_running_stats); params ``op.1``, ``op.2``."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` op: ``x.mul(0.)`` — zeros that stay in the autograd graph (upstream
    parameters get zero gradients, not ``None``; NaN/inf inputs propagate as NaN)."""

    is_zero = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class Identity(nn.Module):
    """The ``skip_connect`` op inside a cell (stride 1, same channels)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Pooling(nn.Module):
    """The ``avg_pool_3x3`` op: AvgPool2d(3, 1, 1, count_include_pad=False) (xautodl POOLING, C_in == C_out)."""

    def __init__(self):
        super().__init__()
        self.op = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResNetBasicblock(nn.Module):
    """Residual reduction block between stages (stride 2): conv_a (ReLUConvBN 3x3 s2),
    conv_b (ReLUConvBN 3x3), shortcut ``downsample`` = AvgPool2d(2, 2) + Conv1x1(bias=False)."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(C_in, C_out, kernel_size=1, stride=1, padding=0, bias=False),
        )
        self.in_dim, self.out_dim, self.stride = C_in, C_out, 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H/2, W/2)
        return self.downsample(x) + self.conv_b(self.conv_a(x))
