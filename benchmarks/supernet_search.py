"""Search time of TEG-NAS Table 2's training-free searches on this machine.

On CIFAR-10 images (``../shared/data/cifar10_test_2k.npz``: 1,000 images as the training split,
1,000 as the validation split) and a reduced NB201 network (``--C 8 --N 1``), this measures what
one evaluation of each search costs, with the papers' per-evaluation protocol:

* single-path TEG scoring (``teg_reinforce``, ``teg_evolution``, ``fpnas_teg``): ``ntk_cond`` +
  ``ntk_mse`` + ``linear_regions`` of one architecture, 64 + 64 images (the study's score stage),
  mean over ``--archs`` random architectures;
* one supernet measurement of the pruning (``tenas``: NTK condition number on 72 images + linear
  regions on 3 x 1000 crops; ``tenas_teg``: + NTK-MSE on 64 validation images), at each round's
  density (5, 4, 3, 2 ops per edge),

and prints each method's search time as the papers count it (seconds of the indicator
computations; the strategies' own bookkeeping is milliseconds), in wall seconds and in CPU
seconds of this process (``time.process_time``: on a shared, loaded machine the better measure
of what the computation needs): exact for the pruning
(``3 x sum over rounds of (candidates + 1)`` supernets = 264), an upper bound for the
single-path searches (every sampled architecture distinct: REINFORCE 500, evolution 256 + 1000,
FP-NAS at most 100 steps x 3 samples). ``--run`` instead runs the strategies end to end once
(seed 0), e.g. on a GPU.

    python benchmarks/supernet_search.py                 # per-evaluation costs, estimates (CPU)
    python benchmarks/supernet_search.py --device cuda --run --markdown
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
# evaluations per run: architectures scored at most (single path), supernets measured (pruning)
MAX_ARCHS = {"teg_reinforce": 500, "teg_evolution": 256 + 1000, "fpnas_teg": 100 * 3}


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


def per_evaluation(args, data):
    """Seconds of one single-path TEG scoring and of one supernet measurement per round."""
    import random

    import numpy as np

    from knas.scoring import ScoringConfig
    from knas.search import get_space, scoring_callback
    from knas.search.prune import TEG_PRUNE_INDICATORS, TENAS_INDICATORS
    from knas.search.supernet import SupernetIndicators, SupernetProtocol, mask_weights

    space = get_space("nb201")
    compute = scoring_callback(data, ScoringConfig(C=args.C, N=args.N, batch_size=64, device=args.device))
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(args.archs)]
    compute(archs[0], ["params"])  # warm-up (imports, the pooling self-check)
    per_arch = []
    for a in archs:
        t0, c0 = time.perf_counter(), time.process_time()
        compute(a, ["ntk_cond", "ntk_mse", "linear_regions"])
        per_arch.append((time.perf_counter() - t0, time.process_time() - c0))
        print(f"single path {a}: {per_arch[-1][0]:.1f} s wall, {per_arch[-1][1]:.1f} s CPU", file=sys.stderr,
              flush=True)
    ev = SupernetIndicators(space, data, args.device)
    proto = SupernetProtocol(C=args.C, N=args.N)
    rounds = {}
    for names in (TENAS_INDICATORS, TEG_PRUNE_INDICATORS):
        for ops in (5, 4, 3, 2):  # a supernet of each round: the last `ops` ops on every edge
            mask = np.zeros((6, 5))
            mask[:, 5 - ops:] = 1
            c0 = time.process_time()
            _, sec = ev.measure([mask_weights(mask)], names, 0, proto)
            rounds[(names, ops)] = (sec, time.process_time() - c0)
            print(f"supernet {'+'.join(names)}, {ops} ops per edge: {sec:.1f} s wall, "
                  f"{rounds[(names, ops)][1]:.1f} s CPU", file=sys.stderr, flush=True)
    return archs, per_arch, rounds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", type=int, default=1, help="architectures timed for the single-path scoring")
    ap.add_argument("--run", action="store_true", help="run the strategies end to end instead (slow on CPU)")
    ap.add_argument("--only", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    data = cifar_data(SHARED / "data" / "cifar10_test_2k.npz")
    print(f"device={args.device} threads={args.threads} torch={torch.__version__} C={args.C} N={args.N} "
          f"load={os.getloadavg()[0]:.1f}")
    if args.run:
        return run_all(args, data)
    from knas.search.prune import TEG_PRUNE_INDICATORS, TENAS_INDICATORS

    archs, per_arch, rounds = per_evaluation(args, data)
    rows = []
    for k, unit in ((0, "wall"), (1, "CPU")):
        arch_s = sum(p[k] for p in per_arch) / len(per_arch)
        for name in args.only:
            if name in MAX_ARCHS:
                n = MAX_ARCHS[name]
                rows.append((f"{name} ({unit})", f"<= {n} architectures", f"{arch_s:.2f} s / architecture",
                             f"<= {n * arch_s:.0f}"))
            else:
                names = TENAS_INDICATORS if name == "tenas" else TEG_PRUNE_INDICATORS
                total = sum(3 * (6 * ops + 1) * rounds[(names, ops)][k] for ops in (5, 4, 3, 2))
                per = ", ".join(f"{rounds[(names, ops)][k]:.2f}" for ops in (5, 4, 3, 2))
                rows.append((f"{name} ({unit})", "264 supernets", f"{per} s / supernet (5, 4, 3, 2 ops per edge)",
                             f"{total:.0f}"))
    if args.markdown:
        print("\n| method (seconds) | evaluations per run | measured cost | search time (s) |")
        print("|---|---|---|---:|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        for r in rows:
            print(f"{r[0]:14s} {r[1]:22s} {r[2]:55s} {r[3]:>8s} s")
    return 0


def run_all(args, data) -> int:
    from knas.scoring import ScoringConfig
    from knas.search import ProxyCache, get_space, get_strategy, run_strategy, scoring_callback
    from knas.search.supernet import SupernetIndicators

    space = get_space("nb201")
    cfg = ScoringConfig(C=args.C, N=args.N, batch_size=64, device=args.device)
    supernet = SupernetIndicators(space, data, args.device)
    for name in args.only:
        params = {"C": args.C, "N": args.N} if get_strategy(name).supernet else {}
        cache = ProxyCache(None, scoring_callback(data, cfg))
        res = run_strategy(name, space, None, cache, seed=0, supernet=supernet, **params)
        print(f"{name:14s} search {res.search_seconds:9.1f} s  indicators {res.proxy_seconds:9.1f} s  "
              f"evaluations {res.n_scored:5d}  {res.arch}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
