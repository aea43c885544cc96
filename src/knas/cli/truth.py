"""``knas truth``: the ground-truth table of the study's architectures (:mod:`knas.truth`)."""
from __future__ import annotations

import argparse
from typing import Any


def add_cli(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``knas truth`` (ground-truth table of the study's architectures)."""
    from knas.truth import BENCHMARK_DATASETS, BENCHMARKS

    p = sub.add_parser(
        "truth",
        help="ground-truth table (accuracies, times) of a list of architectures",
        description="Query a benchmark (or our own training runs) for every architecture of a table "
        "with an 'arch' column; write arch_id, arch and the standard keys.",
    )
    p.add_argument("--benchmark", required=True, choices=BENCHMARKS, help="ground-truth backend (truth.benchmark)")
    p.add_argument("--path", default=None, help="benchmark file/folder (truth.path); train: folder of history.json")
    p.add_argument("--archs", required=True, help="table (.csv/.parquet) with an 'arch' column, e.g. archs.csv")
    p.add_argument("--dataset", required=True, help=f"one of {', '.join(BENCHMARK_DATASETS)} (train: also digits)")
    p.add_argument("--out", required=True, help="output table (.csv or .parquet)")
    p.add_argument("--histories", nargs="*", default=[], help="train: history.json files")
    p.add_argument("--allow-pickle", action="store_true", help="nb201: unpickle the .pth fully (trusted file only)")
    from knas.spaces import names

    p.add_argument("--space", default="nb201", choices=names(), help="search space of the architectures (space.name)")
    p.add_argument("--hp", default=None, help="nats_sss: schedule of valid_acc/test_acc (90, 12 or 01; default 90)")
    p.add_argument("--agg", default=None, help="nb101: aggregation over repeats (mean, max, repeat:K; default mean)")
    p.set_defaults(func=cmd_truth)
    return p


def cmd_truth(args: argparse.Namespace) -> int:
    """Entry point of ``knas truth``."""
    from knas.study.sample import read_archs
    from knas.truth import BENCHMARK_SPACE, load_oracle, truth_table
    from knas.utils import write_table

    kw: dict[str, Any] = {}
    if args.benchmark == "nb201" and args.allow_pickle:
        kw["allow_pickle"] = True
    if args.benchmark == "train":
        kw.update(histories=args.histories, dataset=args.dataset)
    if args.benchmark in ("table", "train"):
        kw["space"] = args.space
    elif args.space != BENCHMARK_SPACE[args.benchmark]:
        kw["space"] = args.space  # load_oracle names the mismatch
    if args.hp is not None and args.benchmark == "nats_sss":
        kw["hp"] = args.hp
    if args.agg is not None and args.benchmark == "nb101":
        kw["agg"] = args.agg
    oracle = load_oracle(args.benchmark, args.path, **kw)
    archs = read_archs(args.archs, args.space)
    table = truth_table(oracle, archs["arch"].tolist(), args.dataset)
    write_table(args.out, table)
    print(f"{len(table)} architectures -> {args.out}")
    return 0
