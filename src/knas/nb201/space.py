"""The NAS-Bench-201 (NB201) cell search space, in pure Python (no torch, no numpy).

A cell is a DAG on 4 nodes; node 0 is the cell input, node 3 the output, and every pair
``j < i`` is joined by one edge carrying one of 5 operations. An architecture is the tuple
of the 6 edge operations in :data:`EDGES` order, written as the benchmark's string::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
     1<-0   2<-0 2<-1   3<-0 3<-1 3<-2

There are ``5**6 = 15625`` architectures. :func:`index_of` / :func:`arch_of` use the
NB201 / NATS-Bench topology API's index order, which the benchmark shuffled; it ships as
package data (``nb201_order.txt.gz``, made by ``tools/make_nb201_order.py``).
"""
from __future__ import annotations

import functools
import gzip
import random
from importlib import resources
from typing import Sequence

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from)
NUM_NODES = 4
num_archs = len(OPS) ** len(EDGES)  # 15625

ORDER_FILE = "nb201_order.txt.gz"
_OP_INDEX = {op: k for k, op in enumerate(OPS)}


def _bad(msg: str, arch: object) -> ValueError:
    return ValueError(f"invalid NB201 architecture {arch!r}: {msg}; allowed ops: {', '.join(OPS)}")


def parse(arch: str) -> tuple[str, ...]:
    """Return the 6 edge ops of an NB201 string, in :data:`EDGES` order.

    The string must be in the canonical form (nodes 1..3 separated by ``+``, node ``i``
    listing its inputs ``~0 .. ~i-1`` in increasing order). Anything else raises a
    ValueError naming the node/edge, the bad token and the allowed ops.
    """
    if not isinstance(arch, str):
        raise _bad(f"expected a string, got {type(arch).__name__}", arch)
    nodes = arch.split("+")
    if len(nodes) != NUM_NODES - 1:
        raise _bad(f"expected {NUM_NODES - 1} nodes separated by '+', got {len(nodes)}", arch)
    ops: list[str] = []
    for i, node in enumerate(nodes, start=1):
        if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
            raise _bad(f"node {i} part {node!r} must look like '|op~0|...|' (start and end with '|')", arch)
        tokens = node[1:-1].split("|")
        if len(tokens) != i:
            raise _bad(f"node {i} part {node!r} must have {i} inputs (~0..~{i - 1}), got {len(tokens)}", arch)
        for j, tok in enumerate(tokens):
            op, sep, src = tok.partition("~")
            if not sep or src != str(j):
                raise _bad(
                    f"edge {i}<-{j}: token {tok!r} must be 'op~{j}' (inputs of node {i} in order ~0..~{i - 1})",
                    arch,
                )
            if op not in _OP_INDEX:
                raise _bad(f"edge {i}<-{j}: unknown op {op!r}", arch)
            ops.append(op)
    return tuple(ops)


def to_str(ops: Sequence[str]) -> str:
    """Canonical NB201 string of 6 edge ops given in :data:`EDGES` order."""
    ops = tuple(ops)
    if len(ops) != len(EDGES):
        raise _bad(f"expected {len(EDGES)} edge ops in EDGES order {EDGES}, got {len(ops)}", ops)
    for (i, j), op in zip(EDGES, ops):
        if op not in _OP_INDEX:
            raise _bad(f"edge {i}<-{j}: unknown op {op!r}", ops)
    it = iter(ops)
    return "+".join("|" + "|".join(f"{next(it)}~{j}" for j in range(i)) + "|" for i in range(1, NUM_NODES))


def validate(arch: str | Sequence[str]) -> str:
    """Check an architecture (string, or sequence of 6 ops in EDGES order); return its canonical string."""
    if isinstance(arch, str):
        return to_str(parse(arch))
    return to_str(arch)


# ---- encoding and index order ------------------------------------------------------------------

def encode(arch: str | Sequence[str]) -> int:
    """Base-5 code of an architecture: ``sum(OPS.index(op_k) * 5**(5-k))`` (edge 1<-0 most significant)."""
    ops = parse(arch) if isinstance(arch, str) else parse(to_str(arch))
    code = 0
    for op in ops:
        code = code * len(OPS) + _OP_INDEX[op]
    return code


def decode(code: int) -> str:
    """Inverse of :func:`encode`."""
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < num_archs:
        raise ValueError(f"invalid NB201 code {code!r}; allowed: integers 0..{num_archs - 1}")
    digits = []
    for _ in EDGES:
        code, d = divmod(code, len(OPS))
        digits.append(OPS[d])
    return to_str(digits[::-1])


@functools.lru_cache(maxsize=1)
def _order() -> tuple[tuple[int, ...], dict[int, int]]:
    """(code of each NB201 index, index of each code), loaded once from package data."""
    raw = resources.files(__package__).joinpath(ORDER_FILE).read_bytes()
    lines = [ln for ln in gzip.decompress(raw).decode("ascii").splitlines() if ln and not ln.startswith("#")]
    codes = tuple(int(ln) for ln in lines)
    if len(codes) != num_archs or sorted(codes) != list(range(num_archs)):
        raise RuntimeError(f"corrupt package data {ORDER_FILE}: not a permutation of 0..{num_archs - 1}")
    return codes, {c: i for i, c in enumerate(codes)}


@functools.lru_cache(maxsize=1)
def _all_archs() -> tuple[str, ...]:
    return tuple(decode(c) for c in _order()[0])


def all_archs() -> list[str]:
    """All 15,625 canonical strings in the benchmark API's index order (``all_archs()[i] == arch_of(i)``)."""
    return list(_all_archs())


def index_of(arch: str | Sequence[str]) -> int:
    """NB201 / NATS-Bench topology index (0..15624) of an architecture."""
    return _order()[1][encode(arch)]


def arch_of(index: int) -> str:
    """Canonical string of the architecture at NB201 index ``index``."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < num_archs:
        raise ValueError(f"invalid NB201 index {index!r}; allowed: integers 0..{num_archs - 1}")
    return _all_archs()[index]


# ---- structure ----------------------------------------------------------------------------------

def is_disconnected(arch: str | Sequence[str]) -> bool:
    """True when no path from node 0 to node 3 avoids ``none`` edges (the cell output is always 0).

    Same test as xautodl ``Structure.check_valid`` (negated). 341 of the 15,625 cells are
    disconnected; they train to chance accuracy in the benchmark.
    """
    ops = parse(validate(arch))
    reach = [True, False, False, False]  # node reachable from the input through non-`none` edges
    for (i, j), op in zip(EDGES, ops):  # EDGES is topologically ordered (by target node)
        if op != "none" and reach[j]:
            reach[i] = True
    return not reach[NUM_NODES - 1]


def mutate(arch: str | Sequence[str], rng: random.Random) -> str:
    """One-edge mutation: pick one of the 6 edges uniformly, replace its op by a different op
    chosen uniformly among the other 4. ``rng`` must be a :class:`random.Random` (seed it for
    determinism); the result may be a disconnected cell.

    Consumes exactly two ``rng.randrange`` draws (edge, then op offset).
    """
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random instance, got {type(rng).__name__}")
    ops = list(parse(validate(arch)))
    e = rng.randrange(len(EDGES))
    new = (_OP_INDEX[ops[e]] + 1 + rng.randrange(len(OPS) - 1)) % len(OPS)
    ops[e] = OPS[new]
    return to_str(ops)


def sample(n: int, seed: int, unique: bool = True) -> list[str]:
    """``n`` architectures drawn uniformly with ``random.Random(seed)``.

    ``unique=True`` samples without replacement (needs ``n <= 15625``); ``unique=False``
    draws independently. Order is the draw order; the same ``(n, seed, unique)`` always gives
    the same list.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if unique and n > num_archs:
        raise ValueError(f"n={n} > {num_archs} architectures: cannot sample unique=True; use unique=False")
    rng = random.Random(seed)
    codes = rng.sample(range(num_archs), n) if unique else [rng.randrange(num_archs) for _ in range(n)]
    return [decode(c) for c in codes]
