"""Search spaces for the strategies: every edge of a cell picks one operation.

A :class:`GridSpace` has ``num_edges`` edges and ``len(ops)`` candidate operations per edge,
so ``len(ops) ** num_edges`` architectures. Strategies see an architecture as a canonical
string (the key of the score cache and the oracle) and, where they need it (REINFORCE), as
its *actions*: the tuple of op indices, one per edge. :class:`NB201Space` is the NAS-Bench-201
cell (6 edges x 5 ops) with the benchmark's strings and index order; a small
``GridSpace(3, ("a", "b", "c"))`` is what the tests search.

Sampling and mutation take a :class:`random.Random` so a run is reproducible from its seed:

* :meth:`GridSpace.sample` draws one architecture uniformly (``rng.randrange(size)``), the
  ``random_arch()`` of NB201's REA / random search (independent draws, repeats possible);
* :meth:`GridSpace.mutate` is REA's one-edge mutation: an edge uniformly, then a *different*
  op uniformly (two ``randrange`` draws, the same draws as :func:`knas.nb201.mutate`).
"""
from __future__ import annotations

import random
from typing import Sequence


def _check_rng(rng: object) -> random.Random:
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random instance, got {type(rng).__name__}")
    return rng


class GridSpace:
    """``num_edges`` edges, each carrying one of ``ops``; arch strings are ``"op|op|...|op"``.

    Codes: ``encode`` reads the actions as a base-``len(ops)`` number, first edge most
    significant (the same convention as :func:`knas.nb201.encode`).
    """

    name = "grid"

    def __init__(self, num_edges: int, ops: Sequence[str], name: str | None = None):
        ops = tuple(ops)
        if not isinstance(num_edges, int) or isinstance(num_edges, bool) or num_edges < 1:
            raise ValueError(f"num_edges must be a positive integer, got {num_edges!r}")
        if len(ops) < 2 or len(set(ops)) != len(ops) or not all(isinstance(o, str) and o for o in ops):
            raise ValueError(f"ops must be at least 2 distinct non-empty strings, got {ops!r}")
        if any("|" in o for o in ops):
            raise ValueError(f"op names may not contain '|': {ops!r}")
        self.num_edges = num_edges
        self.ops = ops
        self._op_index = {op: k for k, op in enumerate(ops)}
        if name is not None:
            self.name = name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_edges={self.num_edges}, ops={self.ops!r})"

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    @property
    def size(self) -> int:
        """Number of architectures."""
        return self.num_ops ** self.num_edges

    # ---- strings <-> actions <-> codes ----------------------------------------------------------

    def to_str(self, actions: Sequence[int]) -> str:
        """Canonical string of a tuple of op indices (one per edge)."""
        actions = tuple(int(a) for a in actions)
        if len(actions) != self.num_edges or not all(0 <= a < self.num_ops for a in actions):
            raise ValueError(
                f"{self.name}: actions {actions!r} must be {self.num_edges} op indices in 0..{self.num_ops - 1}"
            )
        return "|".join(self.ops[a] for a in actions)

    def actions(self, arch: str) -> tuple[int, ...]:
        """Op indices of the edges of ``arch`` (inverse of :meth:`to_str`)."""
        parts = arch.split("|") if isinstance(arch, str) else []
        if len(parts) != self.num_edges or any(p not in self._op_index for p in parts):
            raise ValueError(
                f"{self.name}: invalid architecture {arch!r}; expected {self.num_edges} ops joined by '|', "
                f"allowed ops: {', '.join(self.ops)}"
            )
        return tuple(self._op_index[p] for p in parts)

    def validate(self, arch: str) -> str:
        """Canonical form of ``arch`` (ValueError if it is not in the space)."""
        return self.to_str(self.actions(arch))

    def encode(self, arch: str) -> int:
        code = 0
        for a in self.actions(arch):
            code = code * self.num_ops + a
        return code

    def decode(self, code: int) -> str:
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < self.size:
            raise ValueError(f"{self.name}: invalid code {code!r}; allowed: integers 0..{self.size - 1}")
        digits = []
        for _ in range(self.num_edges):
            code, d = divmod(code, self.num_ops)
            digits.append(d)
        return self.to_str(digits[::-1])

    def index_of(self, arch: str) -> int:
        """Index used in result tables (the code here; the benchmark index for NB201)."""
        return self.encode(arch)

    def all_archs(self) -> list[str]:
        return [self.decode(c) for c in range(self.size)]

    # ---- random moves ----------------------------------------------------------------------------

    def sample(self, rng: random.Random) -> str:
        """One architecture drawn uniformly (one ``rng.randrange`` draw)."""
        return self.decode(_check_rng(rng).randrange(self.size))

    def sample_unique(self, n: int, rng: random.Random) -> list[str]:
        """``n`` distinct architectures drawn uniformly without replacement, in draw order."""
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= self.size:
            raise ValueError(f"{self.name}: cannot draw n={n!r} distinct architectures from {self.size}")
        return [self.decode(c) for c in _check_rng(rng).sample(range(self.size), n)]

    def mutate(self, arch: str, rng: random.Random) -> str:
        """One-edge mutation: an edge uniformly, its op replaced by one of the other ops uniformly."""
        _check_rng(rng)
        acts = list(self.actions(arch))
        e = rng.randrange(self.num_edges)
        acts[e] = (acts[e] + 1 + rng.randrange(self.num_ops - 1)) % self.num_ops
        return self.to_str(acts)


class NB201Space(GridSpace):
    """The NAS-Bench-201 cell: 6 edges (:data:`knas.nb201.EDGES` order) x 5 ops.

    Strings are the benchmark's ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; :meth:`index_of` is the
    NB201 / NATS-Bench topology index. Codes, sampling and mutation agree with
    :mod:`knas.nb201.space` (``sample`` = one draw of ``knas.nb201.sample(1, ..., unique=False)``,
    ``mutate`` consumes the same draws as :func:`knas.nb201.mutate`).
    """

    name = "nb201"

    def __init__(self):
        from knas.nb201 import space as nb

        super().__init__(len(nb.EDGES), nb.OPS, name="nb201")
        self._nb = nb

    def __repr__(self) -> str:
        return "NB201Space()"

    def to_str(self, actions: Sequence[int]) -> str:
        actions = tuple(int(a) for a in actions)
        if len(actions) != self.num_edges or not all(0 <= a < self.num_ops for a in actions):
            raise ValueError(f"nb201: actions {actions!r} must be 6 op indices in 0..4")
        return self._nb.to_str([self.ops[a] for a in actions])

    def actions(self, arch: str) -> tuple[int, ...]:
        return tuple(self._op_index[op] for op in self._nb.parse(arch))

    def index_of(self, arch: str) -> int:
        return self._nb.index_of(arch)

    # ---- supernets (the supernet searches' view of the space: an (edges, ops) weight matrix) ----

    def build_supernet(self, C: int, N: int, num_classes: int):
        """The NB201 supernet (:class:`knas.nb201.supernet.SuperNetwork`, stem, 3 stages of N cells)."""
        from knas.nb201.supernet import SuperNetwork

        return SuperNetwork(C, N, num_classes)

    def build_thin_supernet(self, num_classes: int):
        """TE-NAS's thin linear-region supernet: one cell on one channel, no stem."""
        from knas.nb201.supernet import SuperNetwork

        return SuperNetwork(1, 1, num_classes, stem=False, depth=1)


SPACES = {"nb201": NB201Space}


def get_space(name: str) -> GridSpace:
    """A search space by name (``nb201``)."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; allowed: {', '.join(SPACES)}")
    return SPACES[name]()
