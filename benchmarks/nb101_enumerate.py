"""Enumerate the NAS-Bench-101 space: all unique cell graphs (<= 7 vertices, <= 9 edges, 3 ops).

Prints the number of graphs and the seconds it took with knas's enumeration
(:func:`knas.spaces.nb101.all_graphs`: canonical forms under vertex relabelling, numpy), then
checks the result the benchmark's way: with ``--verify``, the graph hash (``module_hash``) of
every enumerated graph must be distinct (423,624 distinct hashes) and every graph must be its own
canonical representative; with ``--full``, the benchmark's ``generate_graphs.py`` procedure
(hash every labelled full DAG, keep the first of each hash) is replayed in pure Python and its
output compared graph by graph with the enumeration (about 1.3 M hashes: minutes).

    python benchmarks/nb101_enumerate.py
    python benchmarks/nb101_enumerate.py --verify
    python benchmarks/nb101_enumerate.py --full
"""
from __future__ import annotations

import argparse
import itertools
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from knas.spaces import get_space, nb101  # noqa: E402


def replay_generate_graphs() -> list[str]:
    """``nasbench/scripts/generate_graphs.py``: first labelled graph of each hash, in order."""
    out, seen = [], set()
    for n in range(2, nb101.MAX_VERTICES + 1):
        masks, mats = nb101._full_dags(n)
        for m in mats:
            m = tuple(tuple(int(v) for v in row) for row in m)
            for lab in itertools.product(range(len(nb101.OPS)), repeat=n - 2):
                spec = nb101.Spec(m, ("input", *(nb101.OPS[k] for k in lab), "output"))
                h = nb101.graph_hash(spec)
                if h not in seen:
                    seen.add(h)
                    out.append(nb101.to_str(spec))
        print(f"  up to {n} vertices: {len(out)} graphs", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verify", action="store_true", help="hash every graph (about 20 s)")
    ap.add_argument("--full", action="store_true", help="replay generate_graphs.py and compare (minutes)")
    args = ap.parse_args()

    t = time.perf_counter()
    graphs = nb101.all_graphs()
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"enumerated {len(graphs)} unique NB101 graphs in {dt:.2f} s (peak RSS {peak:.0f} MiB)")
    by_n = {}
    for g in graphs:
        n = len(nb101.parse(g).ops)
        by_n[n] = by_n.get(n, 0) + 1
    print("  per vertex count:", ", ".join(f"{n}: {c}" for n, c in sorted(by_n.items())))
    space = get_space("nb101")
    if args.verify:
        t = time.perf_counter()
        hashes = {nb101.graph_hash(nb101.parse(g)) for g in graphs}
        canonical = sum(space.validate(g) == g for g in graphs[::97])
        print(f"distinct hashes: {len(hashes)}; canonical: {canonical}/{len(graphs[::97])} (every 97th) "
              f"({time.perf_counter() - t:.1f} s)")
    if args.full:
        t = time.perf_counter()
        want = replay_generate_graphs()
        print(f"generate_graphs.py replay: {len(want)} graphs in {time.perf_counter() - t:.1f} s; "
              f"identical to the enumeration, in order: {want == graphs}")


if __name__ == "__main__":
    main()
