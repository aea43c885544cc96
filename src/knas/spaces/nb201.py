"""NAS-Bench-201 behind the space interface: an adapter over :mod:`knas.nb201`.

Strings ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, 15,625 architectures in the benchmark API's
index order; sampling and mutation consume exactly the draws of :func:`knas.nb201.sample` /
:func:`knas.nb201.mutate` (``sample_unique(n, Random(s)) == knas.nb201.sample(n, s)``), so results
computed through this adapter are the ones computed through :mod:`knas.nb201` directly.
Network ``TinyNetwork`` with options ``C`` (16) and ``N`` (5); degenerate = disconnected cell.
Supernet :class:`knas.nb201.supernet.SuperNetwork` (TE-NAS's NB201 search network; weights a
``(6, 5)`` matrix over :data:`knas.nb201.EDGES` x :data:`knas.nb201.OPS`).
"""
from __future__ import annotations

import random
from typing import Sequence

from knas.nb201 import space as nb

from .base import NATS_DATASETS, Cost, Space, check_input_size, check_positive_int


class NB201Space(Space):
    name = "nb201"
    size = nb.num_archs
    has_index = True
    index_is_benchmark = True
    network_options = {"C": 16, "N": 5}
    datasets = NATS_DATASETS
    ops = nb.OPS
    edges = nb.EDGES
    # an "edges x ops" cell: strategies that act per edge (TEG's REINFORCE) use these
    num_edges = len(nb.EDGES)
    num_ops = len(nb.OPS)

    def parse(self, arch: str) -> tuple[str, ...]:
        return nb.parse(arch)

    def format(self, parsed: Sequence[str]) -> str:
        return nb.to_str(parsed)

    def index_of(self, arch: str) -> int:
        return nb.index_of(arch)

    def actions(self, arch: str) -> tuple[int, ...]:
        """Op index of every edge (in :data:`knas.nb201.EDGES` order)."""
        return tuple(self.ops.index(op) for op in nb.parse(arch))

    def to_str(self, actions: Sequence[int]) -> str:
        """Canonical string of one op index per edge (inverse of :meth:`actions`)."""
        actions = tuple(int(a) for a in actions)
        if len(actions) != self.num_edges or not all(0 <= a < self.num_ops for a in actions):
            raise ValueError(f"nb201: actions {actions!r} must be {self.num_edges} op indices in 0..{self.num_ops - 1}")
        return nb.to_str([self.ops[a] for a in actions])

    def encode(self, arch: str) -> int:
        return nb.encode(arch)

    def decode(self, code: int) -> str:
        return nb.decode(code)

    def arch_of(self, index: int) -> str:
        return nb.arch_of(index)

    def all_archs(self):
        return iter(nb.all_archs())

    def is_degenerate(self, arch: str) -> bool:
        return nb.is_disconnected(arch)

    def from_draw(self, k: int) -> str:
        return nb.decode(k)  # knas.nb201.sample draws base-5 codes, not benchmark indices

    def mutate(self, arch: str, rng: random.Random) -> str:
        return nb.mutate(arch, rng)

    def _check_size(self, input_size: int) -> int:
        return check_input_size(input_size, 4, "two stride-2 residual blocks")

    def build_network(self, arch, num_classes=10, input_size=32, seed=None, **options):
        from knas.nb201.model import build_network

        opts = self.options(**options)
        self._check_size(input_size)
        return build_network(arch, C=opts["C"], N=opts["N"], num_classes=check_positive_int("num_classes", num_classes),
                             seed=seed)

    def cost(self, arch, num_classes=10, input_size=32, **options) -> Cost:
        from knas.nb201.flops import nb201_cost

        opts = self.options(**options)
        params, flops = nb201_cost(arch, C=opts["C"], N=opts["N"], num_classes=num_classes,
                                   resolution=self._check_size(input_size))
        return Cost(params, flops)

    # ---- supernet ----------------------------------------------------------------------------------

    has_supernet = True

    def build_supernet(self, num_classes=10, **options):
        """The NB201 supernet (stem, 3 stages of ``N`` cells of width ``C``, every edge all five ops)."""
        from knas.nb201.supernet import SuperNetwork

        opts = self.options(**options)
        return SuperNetwork(opts["C"], opts["N"], check_positive_int("num_classes", num_classes))

    def build_thin_supernet(self, num_classes=10):
        """TE-NAS's thin linear-region supernet: one cell on one channel, no stem."""
        from knas.nb201.supernet import SuperNetwork

        return SuperNetwork(1, 1, check_positive_int("num_classes", num_classes), stem=False, depth=1)


SPACE_CLASS = NB201Space
