"""Seconds and peak memory of every proxy on every space's network at benchmark size.

For each space, three architectures: the smallest, the median and the largest (by parameter
count) of 2,000 sampled with seed 0 (NB101's networks reach 50 M parameters), at the benchmark's
size (NB201 C=16 N=5; NATS-SSS its own channels; NB101 128 stem channels, 3 x 3 cells), 10
classes, a batch of random 32x32 images. Each (architecture, proxy) is measured in a fresh
process after a warm-up on the smallest network, so the peak (RSS on CPU, allocated GPU memory on
CUDA) is that proxy's. A proxy that fails prints its error in the table.

    python benchmarks/spaces_proxies.py --device cuda --markdown
    python benchmarks/spaces_proxies.py --spaces nb101 --proxies naswot synflow --batch 32
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(Path(__file__).resolve().parent)]

from proxies import _peak  # noqa: E402  (benchmarks/proxies.py)

SPACES = ("nb201", "nats_sss", "nb101")


def pick_archs(name: str, n: int = 2000, seed: int = 0) -> list[tuple[str, str, int]]:
    """(label, arch, params) of the smallest, median and largest of ``n`` sampled archs."""
    from knas.spaces import get_space

    space = get_space(name)
    archs = space.sample_unique(n, random.Random(seed))
    ranked = sorted(archs, key=lambda a: space.cost(a).params)
    picks = [("small", ranked[0]), ("median", ranked[len(ranked) // 2]), ("large", ranked[-1])]
    return [(label, a, space.cost(a).params) for label, a in picks]


def _child(space_name, arch, small_arch, proxy, args, q):
    try:
        import torch

        from knas import proxies as P
        from knas.spaces import get_space

        torch.set_num_threads(args.threads)
        space = get_space(space_name)
        g = torch.Generator().manual_seed(0)
        mk = lambda: (torch.randn(args.batch, 3, 32, 32, generator=g).to(args.device),  # noqa: E731
                      torch.randint(0, 10, (args.batch,), generator=g).to(args.device))
        (x, y), (xv, yv) = mk(), mk()
        batch = P.ProxyBatch(x, y, 10, xv, yv)

        def run(a):
            net = space.build_network(a, num_classes=10, input_size=32, seed=0).to(args.device)
            ctx = P.Context(net, batch, planned=[proxy])
            t0 = time.perf_counter()
            res = P.compute(proxy, net, batch, ctx)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return res, time.perf_counter() - t0

        run(small_arch)  # warm-up: imports, kernels
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        res, dt = run(arch)
        q.put({"seconds": dt, "value": res.value, "flag": res.flag, "peak_mib": _peak(args.device)})
    except Exception as err:  # report, never hang the parent
        q.put({"error": f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"})


def measure(*a):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(*a, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", nargs="*", default=list(SPACES), choices=SPACES)
    ap.add_argument("--proxies", nargs="*", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from knas import proxies as P

    names = args.proxies or P.names()
    rows = []
    for space in args.spaces:
        picks = pick_archs(space)
        for label, arch, params in picks:
            for proxy in names:
                r = measure(space, arch, picks[0][1], proxy, args)
                rows.append({"space": space, "arch": label, "arch_str": arch, "params_M": params / 1e6,
                             "proxy": proxy, **r})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    import torch

    print(f"\ndevice={args.device} threads={args.threads} torch={torch.__version__} batch={args.batch} "
          "(one fresh process per cell)\n")
    cols = [(s, lab) for s in args.spaces for lab in ("small", "median", "large")]
    if args.markdown:
        sizes = {(r["space"], r["arch"]): r["params_M"] for r in rows}
        print("| proxy | " + " | ".join(f"{s} {lab} ({sizes[(s, lab)]:.2f} M)" for s, lab in cols) + " |")
        print("|---|" + "---:|" * len(cols))
    for proxy in names:
        cells = []
        for s, lab in cols:
            r = next(r for r in rows if (r["space"], r["arch"], r["proxy"]) == (s, lab, proxy))
            cells.append(r["error"] if "error" in r else f"{r['seconds']:.2f} s / {r['peak_mib']:.0f} MiB")
        print(("| " + proxy + " | " + " | ".join(cells) + " |") if args.markdown else f"{proxy:16s} " + "  ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
