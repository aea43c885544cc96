"""Search spaces for the strategies: every edge of a cell picks one operation.

A :class:`GridSpace` has ``num_edges`` edges and ``len(ops)`` candidate operations per edge,
so ``len(ops) ** num_edges`` architectures. Strategies see an architecture as a canonical
string (the key of the score cache and the oracle) and, where they need it (REINFORCE), as
its *actions*: the tuple of op indices, one per edge. The benchmark spaces (NB201, NATS-SSS,
NB101) are those of :mod:`knas.spaces` (:func:`get_space`; NB201's keeps the draws and actions
described here); a small ``GridSpace(3, ("a", "b", "c"))`` is what the
tests search.

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


# The benchmark spaces are knas.spaces' (one implementation per space); GridSpace stays the toy
# edges x ops space the tests search.
from knas.spaces import get_space as _registered  # noqa: E402
from knas.spaces import names as _names  # noqa: E402

SPACES = {name: (lambda n=name: _registered(n)) for name in _names()}


def get_space(name: str):
    """A search space by name (``space.name``: the spaces of :mod:`knas.spaces`)."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; allowed: {', '.join(SPACES)}")
    return SPACES[name]()
