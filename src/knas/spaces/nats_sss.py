"""NATS-Bench size search space (SSS): one fixed cell, the channels of the 5 layers searched.

An architecture is ``"c0:c1:c2:c3:c4"`` with every ``c`` in :data:`CHANNELS` = {8, 16, ..., 64},
so ``8**5 = 32768`` architectures. The index order is the benchmark's (``meta_archs`` of the
``NATS-sss-v1_0-50262`` archive): ``itertools.product(CHANNELS, repeat=5)``, index 0 =
``8:8:8:8:8``, 32767 = ``64:64:64:64:64``.

The network (:mod:`.nats_sss_model`) is xautodl's ``DynamicShapeTinyNet`` (config
``infer.shape.tiny``): stem conv3x3(3->c0)+BN, cell(c0->c0), residual block(c0->c1, stride 2),
cell(c1->c2), residual block(c2->c3, stride 2), cell(c3->c4), BN+ReLU, global pooling,
Linear(c4 -> classes); every cell is the topology :data:`GENOTYPE` (the best NB201 cell on
CIFAR-10). No cell has an input-output path through zero ops only, so no SSS architecture is
degenerate.

Random moves, as NATS-Bench's REA / random search (``exps/NATS-algos``, ``random_size_func`` /
``mutate_size_func``) make them: :meth:`NATSSizeSpace.sample` draws uniformly over the 32,768
(one ``randrange`` over the index); :meth:`NATSSizeSpace.mutate` picks one of the 5 layers
uniformly (``rng.randrange(5)``, the ``random.randint(0, 4)`` of the official code) and sets it to
a channel count drawn uniformly from all 8 (``rng.choice(CHANNELS)``), which may be the one it
had: a mutation returns the parent itself with probability 1/8, as in the benchmark's code.
"""
from __future__ import annotations

import random
from typing import Sequence

from .base import NATS_DATASETS, Cost, Space, check_input_size, check_positive_int, check_rng

CHANNELS: tuple[int, ...] = (8, 16, 24, 32, 40, 48, 56, 64)
NUM_LAYERS = 5
GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
_CH_INDEX = {c: k for k, c in enumerate(CHANNELS)}


def _bad(arch: object, msg: str) -> ValueError:
    return ValueError(
        f"invalid NATS-Bench SSS architecture {arch!r}: {msg}; expected {NUM_LAYERS} channel counts "
        f"'c0:c1:c2:c3:c4', each one of {', '.join(map(str, CHANNELS))}"
    )


def parse(arch: str) -> tuple[int, ...]:
    """Channels of the 5 layers of an SSS string."""
    if not isinstance(arch, str):
        raise _bad(arch, f"expected a string, got {type(arch).__name__}")
    parts = arch.split(":")
    if len(parts) != NUM_LAYERS:
        raise _bad(arch, f"{len(parts)} part(s) separated by ':', need {NUM_LAYERS}")
    out = []
    for i, p in enumerate(parts):
        if not (p.isascii() and p.isdigit()) or str(int(p)) != p or int(p) not in _CH_INDEX:
            raise _bad(arch, f"layer {i} channel count {p!r} is not in the set")
        out.append(int(p))
    return tuple(out)


def to_str(channels: Sequence[int]) -> str:
    channels = tuple(channels)
    if len(channels) != NUM_LAYERS:
        raise _bad(channels, f"{len(channels)} channel counts, need {NUM_LAYERS}")
    for i, c in enumerate(channels):
        if isinstance(c, bool) or not isinstance(c, int) or c not in _CH_INDEX:
            raise _bad(channels, f"layer {i} channel count {c!r} is not in the set")
    return ":".join(str(c) for c in channels)


def index_of(arch: str) -> int:
    code = 0
    for c in parse(arch):
        code = code * len(CHANNELS) + _CH_INDEX[c]
    return code


def arch_of(index: int) -> str:
    digits = []
    for _ in range(NUM_LAYERS):
        index, d = divmod(index, len(CHANNELS))
        digits.append(CHANNELS[d])
    return to_str(digits[::-1])


def _conv_out(size: int) -> int:  # 3x3 conv, stride 2, padding 1
    return (size - 1) // 2 + 1


def cost(channels: Sequence[int], num_classes: int = 10, input_size: int = 32) -> Cost:
    """Closed-form parameters and FLOPs of the SSS network (what xautodl's ``get_model_infos``
    measures: conv and linear multiply-adds plus bias adds; BN, ReLU, pooling, additions 0).

    Per cell ``cin -> cout`` at ``H x W``: two 3x3 convs ``cin -> cout`` (edges 1<-0, 2<-0), three
    3x3 convs ``cout -> cout``, and for ``skip_connect~0`` with ``cin != cout`` a 1x1 conv + BN
    (xautodl's stride-1 ``FactorizedReduce``). Residual block ``cin -> cout``: 3x3 s2 conv, 3x3 conv
    (each + BN), shortcut 1x1 conv after 2x2 average pooling.
    """
    c0, c1, c2, c3, c4 = channels
    H = input_size
    params = 27 * c0 + 2 * c0
    flops = 27 * c0 * H * H

    def cell(cin: int, cout: int, hw: int) -> tuple[int, int]:
        p = 2 * (9 * cin * cout + 2 * cout) + 3 * (9 * cout * cout + 2 * cout)
        f = 2 * 9 * cin * cout + 3 * 9 * cout * cout
        if cin != cout:
            p += cin * cout + 2 * cout
            f += cin * cout
        return p, f * hw

    def block(cin: int, cout: int, hw: int) -> tuple[int, int]:
        p = 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout + cin * cout
        return p, (9 * cin * cout + 9 * cout * cout + cin * cout) * hw

    H1, H2 = _conv_out(H), _conv_out(_conv_out(H))
    for p, f in (cell(c0, c0, H * H), block(c0, c1, H1 * H1), cell(c1, c2, H1 * H1),
                 block(c2, c3, H2 * H2), cell(c3, c4, H2 * H2)):
        params += p
        flops += f
    params += 2 * c4 + c4 * num_classes + num_classes
    flops += c4 * num_classes + num_classes
    return Cost(params, flops)


class NATSSizeSpace(Space):
    name = "nats_sss"
    size = len(CHANNELS) ** NUM_LAYERS  # 32768
    has_index = True
    index_is_benchmark = True
    network_options: dict[str, int] = {}  # the channels are the architecture
    datasets = NATS_DATASETS
    channels = CHANNELS
    genotype = GENOTYPE

    def parse(self, arch: str) -> tuple[int, ...]:
        return parse(arch)

    def format(self, parsed: Sequence[int]) -> str:
        return to_str(parsed)

    def index_of(self, arch: str) -> int:
        return index_of(arch)

    def arch_of(self, index: int) -> str:
        return arch_of(self.check_index(index))

    def mutate(self, arch: str, rng: random.Random) -> str:
        check_rng(rng)
        channels = list(parse(arch))
        layer = rng.randrange(NUM_LAYERS)
        channels[layer] = rng.choice(CHANNELS)
        return to_str(channels)

    def _check_size(self, input_size: int) -> int:
        return check_input_size(input_size, 4, "two stride-2 residual blocks")

    def build_network(self, arch, num_classes=10, input_size=32, seed=None, **options):
        from .nats_sss_model import build_network

        self.options(**options)
        self._check_size(input_size)
        return build_network(parse(arch), check_positive_int("num_classes", num_classes), seed=seed)

    def cost(self, arch, num_classes=10, input_size=32, **options) -> Cost:
        self.options(**options)
        return cost(parse(arch), check_positive_int("num_classes", num_classes), self._check_size(input_size))


SPACE_CLASS = NATSSizeSpace
