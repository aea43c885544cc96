"""Search time of TEG-NAS Table 2's training-free searches on this machine.

Runs each strategy once (seed 0) with real indicators on CIFAR-10 images
(``../shared/data/cifar10_test_2k.npz``: 1,000 images as the training split, 1,000 as the
validation split) and a reduced NB201 network: ``--C 8 --N 1`` for the single-path scoring of
``teg_reinforce`` / ``teg_evolution`` / ``fpnas_teg`` (the study's score stage, 64 + 64 images)
and for the supernet of ``tenas`` / ``tenas_teg``. Search time is counted as the strategies count
it (and TEG's Table 2, in GPU seconds): the seconds of the indicator computations, plus the
strategy's own wall time. Also printed: the evaluations (architectures scored / supernets
measured) and seconds per evaluation, so a run with fewer steps (``--reduced``) scales to the
paper's settings.

    python benchmarks/supernet_search.py --reduced          # minutes on 2 CPU cores
    python benchmarks/supernet_search.py --device cuda      # the papers' settings on a GPU
    python benchmarks/supernet_search.py --only tenas tenas_teg --markdown
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]
SHARED = Path(os.environ.get("KNAS_SHARED", ROOT.parent / "shared"))

METHODS = ("teg_reinforce", "teg_evolution", "fpnas_teg", "tenas", "tenas_teg")
# --reduced: fewer steps / repeats, the per-evaluation protocol unchanged except as noted
REDUCED = {
    "teg_reinforce": {"steps": 20},
    "teg_evolution": {"population": 10, "sample_size": 5, "steps": 10},
    "fpnas_teg": {"steps": 5},
    "tenas": {"repeat": 1},
    "tenas_teg": {"repeat": 1},
}


def cifar_data(path: Path):
    """A PreparedData of the 2k CIFAR-10 test images: train = first 1000, valid = last 1000."""
    import numpy as np
    import torch

    from knas.data import PreparedData

    z = np.load(path)
    x = torch.from_numpy(z["x"]).permute(0, 3, 1, 2).contiguous()  # (2000, 3, 32, 32) uint8
    y = torch.from_numpy(z["y"]).long()
    splits = {"train": (x[:1000], y[:1000]), "valid": (x[1000:], y[1000:]), "test": (x[1000:], y[1000:])}
    return PreparedData("cifar10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 4, True, 0,
                        "cifar10_test_2k", splits)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reduced", action="store_true", help="fewer steps/repeats (see REDUCED)")
    ap.add_argument("--only", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from knas.scoring import ScoringConfig
    from knas.search import NB201Space, ProxyCache, get_strategy, run_strategy, scoring_callback
    from knas.search.supernet import SupernetIndicators

    data = cifar_data(SHARED / "data" / "cifar10_test_2k.npz")
    space = NB201Space()
    cfg = ScoringConfig(C=args.C, N=args.N, batch_size=64, device=args.device)
    supernet = SupernetIndicators(space, data, args.device)
    rows = []
    for name in args.only:
        spec = get_strategy(name)
        params = dict(REDUCED[name]) if args.reduced else {}
        if spec.supernet:
            params.update(C=args.C, N=args.N)
        cache = ProxyCache(None, scoring_callback(data, cfg))
        t0 = time.perf_counter()
        res = run_strategy(name, space, None, cache, seed=0, supernet=supernet, **params)
        wall = time.perf_counter() - t0
        n = res.n_scored
        rows.append((name, spec.label(params), res.search_seconds, res.proxy_seconds, n,
                     res.proxy_seconds / max(n, 1), wall, res.arch))
        print(f"[{name}] search {res.search_seconds:.1f} s (indicators {res.proxy_seconds:.1f} s), "
              f"{n} evaluations, {res.proxy_seconds / max(n, 1):.2f} s each; wall {wall:.1f} s; {res.arch}",
              file=sys.stderr, flush=True)
    head = f"device={args.device} threads={args.threads} torch={torch.__version__} C={args.C} N={args.N}" \
           f" reduced={args.reduced}"
    print(head)
    if args.markdown:
        print("\n| method | run | search s | indicator s | evaluations | s / evaluation | found |")
        print("|---|---|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r[0]} | `{r[1]}` | {r[2]:.1f} | {r[3]:.1f} | {r[4]} | {r[5]:.2f} | `{r[7]}` |")
    else:
        for r in rows:
            print(f"{r[0]:14s} search {r[2]:9.1f} s  indicators {r[3]:9.1f} s  evaluations {r[4]:5d}  "
                  f"{r[5]:6.2f} s/eval  {r[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
