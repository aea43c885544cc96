"""The NAS-Bench-201 network (``TinyNetwork``), module-for-module equal to the benchmark's.

Reproduces xautodl ``models/cell_infers/tiny_network.py`` (TinyNetwork), ``cells.py``
(InferCell) and ``cell_operations.py`` (OPS, ReLUConvBN, ResNetBasicblock, Zero, POOLING):
modules are created in the same order and carry the same names, so under the same torch
seed ``state_dict()`` and outputs are identical to
``xautodl.models.get_cell_based_tiny_net({'name': 'infer.tiny', 'C': C, 'N': N,
'arch_str': arch, 'num_classes': k})`` and ``named_parameters()`` lists the same names in
the same order (KNAS's released code and TEG depend on that order / on names containing
``cell`` and ``weight``).

Differences from xautodl (documented deviations):
* ``forward`` returns the logits only (xautodl returns ``(features, logits)``); take the
  pooled features with a forward hook on ``classifier`` (its input) if needed.
* The inside of an NB201 cell always has ``C_in == C_out`` and stride 1, so the ``Zero`` op is
  always ``x.mul(0.)``, ``skip_connect`` is always the identity and ``avg_pool_3x3`` never has
  a 1x1 preprocessing conv; ``FactorizedReduce`` is unreachable and not implemented.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .space import EDGES, NUM_NODES, parse, validate

INIT_SCHEMES = ("default", "kaiming_normal", "kaiming_normal_fanout")


@dataclass(frozen=True)
class NB201Config:
    """Macro skeleton of the NB201 network (the benchmark uses the defaults)."""

    C: int = 16  # channels of the first stage (stages have C, 2C, 4C channels)
    N: int = 5  # cells per stage (3 stages, 2 residual reduction blocks between them)
    num_classes: int = 10  # 10 cifar10(-valid), 100 cifar100, 120 ImageNet16-120


# the operations (names follow xautodl so that parameter names match) are shared with NATS-Bench SSS
from knas.spaces.xautodl_ops import Identity, Pooling, ReLUConvBN, ResNetBasicblock, Zero  # noqa: E402,F401


def make_op(name: str, C: int) -> nn.Module:
    """Build one cell op on ``C`` channels (stride 1)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1)
    if name == "avg_pool_3x3":
        return Pooling()
    raise ValueError(f"unknown NB201 op {name!r}")


# ---- blocks --------------------------------------------------------------------------------------

class InferCell(nn.Module):
    """An NB201 cell as an edge list: ``layers[k]`` is the op on ``EDGES[k] = (i, j)``;
    ``node_i = sum_{j<i} op_{i<-j}(node_j)`` (summed in increasing j), output = node 3."""

    def __init__(self, arch: str, C: int):
        super().__init__()
        self.arch = validate(arch)
        self.edges = EDGES
        self.layers = nn.ModuleList(make_op(op, C) for op in parse(self.arch))
        self.in_dim = self.out_dim = C

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        nodes: list[torch.Tensor | None] = [x] + [None] * (NUM_NODES - 1)
        for (i, j), layer in zip(self.edges, self.layers):
            y = layer(nodes[j])
            nodes[i] = y if nodes[i] is None else nodes[i] + y
        return nodes[-1]

    def extra_repr(self) -> str:
        return f"arch={self.arch}, C={self.out_dim}"


# ---- network -------------------------------------------------------------------------------------

class TinyNetwork(nn.Module):
    """The NB201 network: stem Conv3x3(3->C)+BN; stages of N cells at C, 2C, 4C channels
    separated by residual reduction blocks (``cells`` holds all 3N+2 blocks in order);
    ``lastact`` = BN+ReLU; global average pooling; ``classifier`` Linear(4C, num_classes).

    ``forward(x)`` maps ``(B, 3, H, W)`` to logits ``(B, num_classes)``. A fresh module is in
    train mode with PyTorch's default initialisation (see :func:`init_network`).
    """

    def __init__(self, arch: str, C: int = 16, N: int = 5, num_classes: int = 10):
        super().__init__()
        for name, v in (("C", C), ("N", N), ("num_classes", num_classes)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.arch = validate(arch)
        self.config = NB201Config(C=C, N=N, num_classes=num_classes)

        self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in zip(channels, reductions):
            cell = ResNetBasicblock(C_prev, C_curr) if reduction else InferCell(self.arch, C_curr)
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, num_classes)
        h = self.stem(x)  # (B, C, H, W)
        for cell in self.cells:
            h = cell(h)  # (B, 4C, H/4, W/4) at the end
        h = self.global_pooling(self.lastact(h)).flatten(1)  # (B, 4C)
        return self.classifier(h)

    def extra_repr(self) -> str:
        c = self.config
        return f"arch={self.arch}, C={c.C}, N={c.N}, num_classes={c.num_classes}"


def build_network(
    arch: str, C: int = 16, N: int = 5, num_classes: int = 10, seed: int | None = None
) -> TinyNetwork:
    """Build a :class:`TinyNetwork` on the CPU (move it with ``.to(device)``).

    With ``seed`` given, the global torch RNG is seeded first (``torch.manual_seed(seed)``,
    as the official scripts' ``prepare_seed`` does before building), so the weights equal
    xautodl's network built under the same seed; the global RNG is left where construction
    leaves it, as in the official code. ``seed=None`` uses the current global RNG state.
    """
    if seed is not None:
        torch.manual_seed(seed)
    return TinyNetwork(arch, C=C, N=N, num_classes=num_classes)


def _kaiming_normal(net: nn.Module, mode: str) -> None:
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            m.reset_running_stats()


@torch.no_grad()
def init_network(net: nn.Module, scheme: str = "default", seed: int | None = None) -> nn.Module:
    """Re-initialise ``net`` in place (and return it) under ``seed``.

    Schemes:
    * ``"default"``: PyTorch's default init, i.e. ``reset_parameters()`` of every module in
      ``net.modules()`` order (conv/linear kaiming_uniform(a=sqrt(5)) weights and uniform
      biases; BN gamma 1, beta 0, running stats reset). For a :class:`TinyNetwork` this gives
      exactly the weights of ``build_network(arch, ..., seed=seed)``.
    * ``"kaiming_normal"``: conv/linear weights ``kaiming_normal_(mode='fan_in',
      nonlinearity='relu')``, their biases 0; BN gamma 1, beta 0, running stats reset
      (TE-NAS ``kaiming_normal_fanin_init``).
    * ``"kaiming_normal_fanout"``: the same with ``mode='fan_out'``.

    ``seed`` seeds the global torch RNG first (``None``: use its current state). The random
    draws are made on the CPU (the network is moved there and back), so a seed gives the same
    weights on CPU and CUDA.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; allowed: {', '.join(INIT_SCHEMES)}")
    tensors = list(net.parameters()) + list(net.buffers())
    device = tensors[0].device if tensors else torch.device("cpu")
    if device.type != "cpu":
        net.to("cpu")
    if seed is not None:
        torch.manual_seed(seed)
    if scheme == "default":
        for m in net.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    elif scheme == "kaiming_normal":
        _kaiming_normal(net, "fan_in")
    else:
        _kaiming_normal(net, "fan_out")
    if device.type != "cpu":
        net.to(device)
    return net
