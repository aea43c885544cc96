"""NAS-Bench-101 (NB101): cell graphs of up to 7 vertices and 9 edges, as the benchmark defines them.

A *spec* (the benchmark's ``ModelSpec``) is an upper-triangular 0/1 adjacency matrix on ``V <= 7``
vertices (vertex 0 = ``input``, vertex V-1 = ``output``) and one op per interior vertex from
:data:`OPS` = ``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``.

* **Pruning** (``ModelSpec._prune``): vertices not on an input->output path are deleted; a spec
  whose input does not reach its output is invalid. A spec is in the space when its pruned form
  has at most :data:`MAX_EDGES` = 9 edges (``NASBench.is_valid``).
* **Hash** (:func:`graph_hash`): the benchmark's ``graph_util.hash_module`` (iterated MD5 of
  (out-degree, in-degree, label), labels input -1, output -2, ops 0/1/2) of the pruned spec; the
  key of the benchmark's files (``module_hash``).
* **Canonical string** ``"<bits>:<op>,<op>,..."``: ``bits`` = the strict upper triangle of the
  adjacency, row-major (``(0,1), (0,2), ..., (V-2,V-1)``, as ``adj_upper_bits`` in the shared
  NB101 table), then the interior ops in vertex order (none for V = 2: ``"1:"``). The canonical
  string of a spec is its pruned graph relabelled into the benchmark's own representative of its
  isomorphism class: the first graph of the class in the benchmark's generation order
  (``scripts/generate_graphs.py``: vertex count, then the edge bitmask of ``gen_is_edge_fn``, then
  the labeling in ``itertools.product`` order), which is the spec the benchmark trained and
  stores as ``module_adjacency`` / ``module_operations``. So isomorphic specs have one string,
  and the network built from it is the benchmark's (its channel split depends on vertex order).
* **Enumeration** (:func:`all_graphs`): the 423,624 classes, in generation order (the position in
  it is :meth:`NB101Space.index_of`; the benchmark files have no index order, their key is the
  hash). Computed in a few seconds with numpy (canonical forms under relabelling instead of
  hashing each of the 1.29 M labelled graphs), then cached in memory.

Random moves:

* :meth:`NB101Space.sample`: uniform over the 423,624 graphs, what NASWOT's released code does
  (``random.randint(0, len(api) - 1)`` over the benchmark's hashes); :meth:`NB101Space.random_spec`
  is the NB101 paper's ``random_spec()`` (7x7 matrix and ops uniform, redrawn until valid; not
  uniform over graphs).
* :meth:`NB101Space.mutate`: NASWOT's ``mutate_arch``: shuffle the upper-triangle positions of
  the (pruned) matrix, flip the first one whose result is in the space (ops never change);
  :meth:`NB101Space.mutate_spec` is the NB101 paper's ``mutate_spec`` (each upper-triangle entry
  of a 7x7 matrix flipped with probability ``rate/7``, each interior op resampled to a different
  op with probability ``rate/5``, until valid), applied to the canonical spec padded to 7
  vertices with unused vertices (the paper mutates the unpruned matrix it sampled, which a
  canonical string no longer has).

No graph in the space is degenerate (every vertex lies on an input->output path, every op
passes its input on).
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import random
from dataclasses import dataclass
from typing import Any, Sequence

from .base import Cost, DatasetShape, Space, check_input_size, check_positive_int, check_rng

INPUT, OUTPUT = "input", "output"
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # labels 0, 1, 2
MAX_VERTICES = 7
MAX_EDGES = 9
NUM_GRAPHS = 423_624
_OP_LABEL = {op: k for k, op in enumerate(OPS)}


@dataclass(frozen=True)
class Spec:
    """A (possibly unpruned) NB101 spec: ``matrix[i][j] = 1`` for an edge i -> j (i < j) and
    ``ops`` with ``input`` first and ``output`` last."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))


def _bad(arch: object, msg: str) -> ValueError:
    return ValueError(
        f"invalid NB101 architecture {arch!r}: {msg}; expected '<upper-triangle bits>:<op>,<op>,...' with at most "
        f"{MAX_VERTICES} vertices, at most {MAX_EDGES} edges, ops from {', '.join(OPS)}"
    )


def make_spec(matrix: Any, ops: Sequence[str]) -> Spec:
    """Check a matrix (nested sequences or array) and ops (with or without ``input``/``output``
    at the ends) and return the :class:`Spec` (not pruned)."""
    rows = [list(map(int, r)) for r in matrix]
    ops = list(ops)
    n = len(rows)
    if ops and ops[0] == INPUT and ops[-1] == OUTPUT and len(ops) == n:
        inner = ops[1:-1]
    else:
        inner = ops
    if not 2 <= n <= MAX_VERTICES:
        raise _bad((matrix, ops), f"{n} vertices, need 2..{MAX_VERTICES}")
    if any(len(r) != n for r in rows):
        raise _bad((matrix, ops), "matrix must be square")
    if len(inner) != n - 2:
        raise _bad((matrix, ops), f"{len(inner)} interior ops for {n} vertices, need {n - 2}")
    for i, r in enumerate(rows):
        for j, v in enumerate(r):
            if v not in (0, 1):
                raise _bad((matrix, ops), f"matrix entry ({i},{j}) = {v}, must be 0 or 1")
            if v and j <= i:
                raise _bad((matrix, ops), f"edge {i}->{j} below the diagonal: the matrix must be upper-triangular")
    for k, op in enumerate(inner, start=1):
        if op not in _OP_LABEL:
            raise _bad((matrix, ops), f"vertex {k} has unknown op {op!r}")
    return Spec(tuple(tuple(r) for r in rows), (INPUT, *inner, OUTPUT))


def parse(arch: str) -> Spec:
    """The (unpruned) spec of a string ``"<bits>:<op>,..."``."""
    if not isinstance(arch, str):
        raise _bad(arch, f"expected a string, got {type(arch).__name__}")
    bits, sep, ops_part = arch.partition(":")
    if not sep:
        raise _bad(arch, "no ':' between the adjacency bits and the ops")
    if not bits or set(bits) - {"0", "1"}:
        raise _bad(arch, f"adjacency bits {bits!r} must be a non-empty string of 0/1")
    n = next((v for v in range(2, MAX_VERTICES + 1) if v * (v - 1) // 2 == len(bits)), None)
    if n is None:
        sizes = ", ".join(str(v * (v - 1) // 2) for v in range(2, MAX_VERTICES + 1))
        raise _bad(arch, f"{len(bits)} adjacency bits: the upper triangle of a 2..{MAX_VERTICES}-vertex matrix has {sizes}")
    inner = ops_part.split(",") if ops_part else []
    if len(inner) != n - 2:
        raise _bad(arch, f"{len(inner)} op(s) for {n} vertices ({len(bits)} bits), need {n - 2}")
    for k, op in enumerate(inner, start=1):
        if op not in _OP_LABEL:
            raise _bad(arch, f"vertex {k} has unknown op {op!r}")
    m = [[0] * n for _ in range(n)]
    it = iter(bits)
    for i in range(n):
        for j in range(i + 1, n):
            m[i][j] = int(next(it))
    return Spec(tuple(tuple(r) for r in m), (INPUT, *inner, OUTPUT))


def to_str(spec: Spec) -> str:
    """The string of ``spec`` as it is (no pruning, no relabelling)."""
    n = spec.num_vertices
    bits = "".join(str(spec.matrix[i][j]) for i in range(n) for j in range(i + 1, n))
    return f"{bits}:{','.join(spec.ops[1:-1])}"


def prune(spec: Spec) -> Spec | None:
    """``ModelSpec._prune``: drop vertices off every input->output path; None if the input does
    not reach the output."""
    n, m = spec.num_vertices, spec.matrix
    fwd, stack = {0}, [0]
    while stack:
        v = stack.pop()
        for w in range(v + 1, n):
            if m[v][w] and w not in fwd:
                fwd.add(w)
                stack.append(w)
    bwd, stack = {n - 1}, [n - 1]
    while stack:
        v = stack.pop()
        for u in range(v):
            if m[u][v] and u not in bwd:
                bwd.add(u)
                stack.append(u)
    keep = sorted(fwd & bwd)
    if len(keep) < 2:  # input and output not both kept: no path
        return None
    return Spec(tuple(tuple(m[i][j] for j in keep) for i in keep), tuple(spec.ops[i] for i in keep))


def _labels(spec: Spec) -> list[int]:
    return [-1] + [_OP_LABEL[op] for op in spec.ops[1:-1]] + [-2]


def graph_hash(spec: Spec) -> str:
    """The benchmark's ``module_hash`` of a pruned spec (``graph_util.hash_module``)."""
    n, m = spec.num_vertices, spec.matrix
    labels = _labels(spec)
    in_deg = [sum(m[i][j] for i in range(n)) for j in range(n)]
    out_deg = [sum(m[i]) for i in range(n)]
    hashes = [hashlib.md5(str((out_deg[v], in_deg[v], labels[v])).encode("utf-8")).hexdigest() for v in range(n)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                ("".join(sorted(hashes[w] for w in range(n) if m[w][v])) + "|"
                 + "".join(sorted(hashes[w] for w in range(n) if m[v][w])) + "|" + hashes[v]).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def _bitmask(m: Sequence[Sequence[int]], n: int) -> int:
    """``gen_is_edge_fn`` bit order: edge x -> y is bit ``x + y*(y-1)/2``."""
    return sum(1 << (x + y * (y - 1) // 2) for y in range(n) for x in range(y) if m[x][y])


def _labcode(labels: Sequence[int]) -> int:
    code = 0
    for lab in labels:
        code = code * len(OPS) + lab
    return code


@functools.lru_cache(maxsize=8)
def _perms(n: int) -> tuple[tuple[int, ...], ...]:
    """Relabellings fixing input and output: ``new vertex a = old vertex p[a]``."""
    return tuple((0, *p, n - 1) for p in itertools.permutations(range(1, n - 1)))


def canonical(spec: Spec) -> Spec:
    """The benchmark's representative of the pruned spec's class (see the module docstring);
    ValueError if the spec is not in the space."""
    pruned = prune(spec)
    if pruned is None:
        raise _bad(to_str(spec), "the input does not reach the output (no input->output path)")
    if pruned.num_edges > MAX_EDGES:
        raise _bad(to_str(spec), f"{pruned.num_edges} edges after pruning, at most {MAX_EDGES} allowed")
    n, m, labels = pruned.num_vertices, pruned.matrix, _labels(pruned)
    best = None
    for p in _perms(n):
        if any(m[p[a]][p[b]] for b in range(n) for a in range(b, n)):  # not upper-triangular
            continue
        pm = [[m[p[a]][p[b]] for b in range(n)] for a in range(n)]
        key = (_bitmask(pm, n), _labcode([labels[p[a]] for a in range(1, n - 1)]), pm, p)
        if best is None or key[:2] < best[:2]:
            best = key
    _, _, pm, p = best
    return Spec(tuple(map(tuple, pm)), tuple(pruned.ops[p[a]] for a in range(n)))


# ---- enumeration ------------------------------------------------------------------------------

def _full_dags(n: int):
    """(bitmask, matrix) of every ``n``-vertex upper-triangular matrix with at most 9 edges and no
    vertex off an input->output path (``is_full_dag``), in increasing bitmask order."""
    import numpy as np

    pos = [(x, y) for y in range(n) for x in range(y)]  # bit k <-> pos[k]
    codes = np.arange(1 << len(pos), dtype=np.int64)
    codes = codes[np.bitwise_count(codes) <= MAX_EDGES]
    bits = ((codes[:, None] >> np.arange(len(pos))) & 1).astype(np.int8)
    M = np.zeros((len(codes), n, n), dtype=np.int8)
    for k, (x, y) in enumerate(pos):
        M[:, x, y] = bits[:, k]
    full = np.all(M[:, : n - 1, :].any(2), 1) & np.all(M[:, :, 1:].any(1), 1)
    return codes[full], M[full]


@functools.lru_cache(maxsize=1)
def _enumeration() -> tuple[tuple[int, ...], dict[int, int]]:
    """(code of every graph in generation order, index of each code); code =
    ``(n << 40) | (bitmask << 8) | labcode``."""
    import numpy as np

    out: list[int] = []
    for n in range(2, MAX_VERTICES + 1):
        masks, M = _full_dags(n)
        k = n - 2
        labs = np.array(list(itertools.product(range(len(OPS)), repeat=k)) if k else [[]], dtype=np.int64)
        P = np.array(_perms(n), dtype=np.int64)  # (p, n)
        # canonical code of (matrix, labels) under all relabellings: min over p of (matrix bits, labels)
        mw = np.int64(1) << np.arange(n * n, dtype=np.int64).reshape(n, n)
        lw = (np.int64(len(OPS)) ** np.arange(k - 1, -1, -1, dtype=np.int64)) if k else np.zeros(0, np.int64)
        Q = P[:, 1:-1] - 1  # (p, k)
        lcode = (labs[:, Q] * lw).sum(-1) if k else np.zeros((1, len(P)), np.int64)  # (L, p)
        shift = np.int64(2 * k)
        canon_all = []
        for start in range(0, len(M), 256):
            Mc = M[start:start + 256].astype(np.int64)
            Mp = Mc[:, P[:, :, None], P[:, None, :]]  # (c, p, n, n)
            mcode = (Mp * mw).sum((-1, -2))  # (c, p)
            both = (mcode[:, :, None] << shift) | lcode.T[None]  # (c, p, L)
            canon_all.append(both.min(1))  # (c, L)
        canon = np.concatenate(canon_all).reshape(-1)  # flat index = matrix * L + labeling
        _, first = np.unique(canon, return_index=True)
        first.sort()
        L = len(labs) if k else 1
        gm, gl = first // L, first % L
        labc = (labs * lw).sum(-1) if k else np.zeros(1, np.int64)
        out.extend(((n << 40) | (int(masks[a]) << 8) | int(labc[b])) for a, b in zip(gm, gl))
    codes = tuple(out)
    if len(codes) != NUM_GRAPHS:
        raise RuntimeError(f"NB101 enumeration found {len(codes)} graphs, expected {NUM_GRAPHS}")
    return codes, {c: i for i, c in enumerate(codes)}


def _code(spec: Spec) -> int:
    n = spec.num_vertices
    return (n << 40) | (_bitmask(spec.matrix, n) << 8) | _labcode(_labels(spec)[1:-1])


def _decode(code: int) -> Spec:
    n, mask, lab = code >> 40, (code >> 8) & ((1 << 32) - 1), code & 0xFF
    m = [[0] * n for _ in range(n)]
    for y in range(n):
        for x in range(y):
            m[x][y] = (mask >> (x + y * (y - 1) // 2)) & 1
    inner = []
    for _ in range(n - 2):
        lab, d = divmod(lab, len(OPS))
        inner.append(OPS[d])
    return Spec(tuple(map(tuple, m)), (INPUT, *inner[::-1], OUTPUT))


def all_graphs() -> list[str]:
    """The canonical strings of all 423,624 graphs, in the benchmark's generation order."""
    return [to_str(_decode(c)) for c in _enumeration()[0]]


# ---- the space ---------------------------------------------------------------------------------

class NB101Space(Space):
    name = "nb101"
    size = NUM_GRAPHS
    has_index = True
    index_is_benchmark = False  # generation order; the benchmark's files are keyed by hash
    network_options = {"stem_channels": 128, "num_stacks": 3, "cells_per_stack": 3}
    datasets = {"cifar10": DatasetShape(10, 32)}
    ops = OPS

    def parse(self, arch: str) -> Spec:
        return parse(arch)

    def format(self, parsed: Spec | tuple) -> str:
        if not isinstance(parsed, Spec):
            parsed = make_spec(*parsed)
        return to_str(canonical(parsed))

    def spec(self, arch: str) -> Spec:
        """The canonical (pruned, benchmark-labelled) spec of ``arch``."""
        return canonical(parse(arch) if isinstance(arch, str) else make_spec(*arch))

    def key(self, arch: str) -> str:
        """The benchmark's ``module_hash``."""
        return graph_hash(self.spec(arch))

    def index_of(self, arch: str) -> int:
        return _enumeration()[1][_code(self.spec(arch))]

    def arch_of(self, index: int) -> str:
        return to_str(_decode(_enumeration()[0][self.check_index(index)]))

    def all_archs(self):
        return iter(all_graphs())

    # -- random moves --

    def random_spec(self, rng: random.Random) -> str:
        """NB101 paper ``random_spec()``: 7x7 upper-triangular matrix with entries uniform in
        {0, 1} and interior ops uniform, redrawn until the spec is in the space."""
        check_rng(rng)
        n = MAX_VERTICES
        while True:
            m = [[rng.randrange(2) if j > i else 0 for j in range(n)] for i in range(n)]
            ops = [OPS[rng.randrange(len(OPS))] for _ in range(n - 2)]
            spec = Spec(tuple(map(tuple, m)), (INPUT, *ops, OUTPUT))
            try:
                return to_str(canonical(spec))
            except ValueError:
                continue

    def mutate(self, arch: str, rng: random.Random) -> str:
        """NASWOT ``mutate_arch`` (see the module docstring). A graph none of whose single edge
        flips stays in the space (e.g. ``"1:"``) is returned unchanged."""
        check_rng(rng)
        spec = self.spec(arch)
        n = spec.num_vertices
        coords = [(i, j) for i in range(n) for j in range(i + 1, n)]
        rng.shuffle(coords)
        for i, j in coords:
            m = [list(r) for r in spec.matrix]
            m[i][j] = 1 - m[i][j]
            try:
                return to_str(canonical(Spec(tuple(map(tuple, m)), spec.ops)))
            except ValueError:
                continue
        return to_str(spec)

    def mutate_spec(self, arch: str, rng: random.Random, mutation_rate: float = 1.0) -> str:
        """NB101 paper ``mutate_spec`` (see the module docstring)."""
        check_rng(rng)
        spec = self.spec(arch)
        n0, V = spec.num_vertices, MAX_VERTICES
        # pad to 7 vertices: the spec's vertices first, unused ones before the output
        m = [[0] * V for _ in range(V)]
        where = list(range(n0 - 1)) + [V - 1]
        for a in range(n0):
            for b in range(n0):
                m[where[a]][where[b]] = spec.matrix[a][b]
        ops = list(spec.ops[:-1]) + [OPS[0]] * (V - n0) + [OUTPUT]
        while True:
            new_m = [r[:] for r in m]
            new_ops = ops[:]
            for src in range(V - 1):
                for dst in range(src + 1, V):
                    if rng.random() < mutation_rate / V:
                        new_m[src][dst] = 1 - new_m[src][dst]
            for ind in range(1, V - 1):
                if rng.random() < mutation_rate / (V - 2):
                    new_ops[ind] = rng.choice([o for o in OPS if o != new_ops[ind]])
            try:
                return to_str(canonical(Spec(tuple(map(tuple, new_m)), tuple(new_ops))))
            except ValueError:
                continue

    # -- network --

    def build_network(self, arch, num_classes=10, input_size=32, seed=None, **options):
        from .nb101_model import build_network

        opts = self.options(**options)
        check_input_size(input_size)
        return build_network(self.spec(arch), num_classes=check_positive_int("num_classes", num_classes),
                             seed=seed, **opts)

    def cost(self, arch, num_classes=10, input_size=32, **options) -> Cost:
        opts = self.options(**options)
        return network_cost(self.spec(arch), check_positive_int("num_classes", num_classes),
                            check_input_size(input_size), **opts)


def vertex_channels(in_channels: int, out_channels: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """``model_builder.compute_vertex_channels``: the output channels are split over the vertices
    feeding the output (the first ``out % fan_in`` of them in vertex order get one more); every
    other interior vertex gets the max over the vertices it feeds."""
    n = len(matrix)
    vc = [0] * n
    vc[0], vc[n - 1] = in_channels, out_channels
    if n == 2:
        return vc
    fan_in = sum(matrix[v][n - 1] for v in range(1, n))
    interior, correction = divmod(out_channels, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            vc[v] = interior + (1 if correction else 0)
            correction -= 1 if correction else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v][dst]:
                    vc[v] = max(vc[v], vc[dst])
        if vc[v] <= 0:
            raise ValueError(f"vertex {v} gets no channels (out_channels={out_channels} over {fan_in} inputs)")
    return vc


def stack_channels(stem_channels: int, num_stacks: int) -> list[int]:
    return [stem_channels * 2 ** s for s in range(num_stacks)]


def network_cost(spec: Spec, num_classes: int = 10, input_size: int = 32, stem_channels: int = 128,
                 num_stacks: int = 3, cells_per_stack: int = 3) -> Cost:
    """Trainable parameters (the benchmark's ``trainable_parameters``: conv kernels, BN gamma and
    beta, dense kernel and bias) and FLOPs (conv/dense multiply-adds + dense bias, the NB201
    convention; max pooling, BN, ReLU, additions 0) of the NB101 network, in closed form."""
    n, m = spec.num_vertices, spec.matrix
    H = input_size
    params = 27 * stem_channels + 2 * stem_channels
    flops = 27 * stem_channels * H * H
    c_in = stem_channels
    for s, c in enumerate(stack_channels(stem_channels, num_stacks)):
        if s > 0:
            H = -(-H // 2)  # 2x2 max pool, stride 2, 'same' padding
        for _ in range(cells_per_stack):
            vc = vertex_channels(c_in, c, m)
            for t in range(1, n - 1):
                k = {"conv3x3-bn-relu": 9, "conv1x1-bn-relu": 1}.get(spec.ops[t], 0)
                if k:
                    params += k * vc[t] * vc[t] + 2 * vc[t]
                    flops += k * vc[t] * vc[t] * H * H
            for t in range(1, n):
                if m[0][t]:  # 1x1 projection of the cell input
                    params += c_in * vc[t] + 2 * vc[t]
                    flops += c_in * vc[t] * H * H
            c_in = c
    params += c_in * num_classes + num_classes
    flops += c_in * num_classes + num_classes
    return Cost(params, flops)


SPACE_CLASS = NB101Space
