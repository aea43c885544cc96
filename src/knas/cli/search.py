"""``knas search`` (R seeded runs of one strategy -> runs table) and ``knas search-summary``
(runs tables -> NASWOT-Table-2-style summary, Markdown table, accuracy-vs-time plot); :mod:`knas.search`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import scoring_config, scoring_flags


def parse_param(text: str) -> tuple[str, object]:
    """``key=value`` -> (key, value); the value is read as JSON when it parses (``10``,
    ``0.5``, ``null``, ``true``), else kept as a string (``proxy=params``)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param {text!r}: expected key=value, e.g. n=10")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.replace("-", "_"), value


def parse_direction(text: str) -> tuple[str, bool]:
    """``name=higher|lower`` -> (name, higher_is_better)."""
    name, sep, way = text.partition("=")
    if not sep or not name or way not in ("higher", "lower"):
        raise ValueError(f"--direction {text!r}: expected NAME=higher or NAME=lower; allowed: higher, lower")
    return name, way == "higher"


def cmd_search(args: argparse.Namespace) -> None:
    from knas.search import ProxyCache, load_all, run_repeats
    from knas.search import oracle as oracles
    from knas.search import space as spaces
    from knas.utils import read_table, write_table

    load_all()
    space = spaces.get_space(args.space)
    params = dict(parse_param(p) for p in args.param or [])
    for key in ("max_trained", "max_scored", "max_seconds", "max_wall_seconds"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    cache = None
    tables = [read_table(t) for t in (args.scores, args.score_cache) if t and Path(t).exists()]
    compute = None
    if args.data:  # architectures outside the score table are scored on demand, then cached
        from knas.data import load_prepared
        from knas.search import scoring_callback

        compute = scoring_callback(load_prepared(args.data), scoring_config(args))
    if tables or compute:
        import pandas as pd

        directions = dict(parse_direction(d) for d in args.direction or [])
        table = pd.concat(tables, ignore_index=True).drop_duplicates("arch", keep="first") if tables else None
        cache = ProxyCache(table, compute, canonical=space.validate, higher_is_better=directions)
    if args.train_found:
        if args.truth_kind != "train":
            raise ValueError(f"--train-found trains the found architectures: it needs --truth-kind train, "
                             f"not {args.truth_kind!r}")
        from knas.search.train_oracle import training_oracle

        oracle = training_oracle(space, args.data, args.truth, args.train_found, args.dataset)
    else:
        opts = dict(args.truth_options)
        if args.truth_kind in ("table", "train"):
            opts["space"] = args.space
        oracle = oracles.load_truth_oracle(args.truth_kind, args.truth, args.dataset, **opts)
    supernet = None
    if load_all()[args.strategy].supernet:
        from knas.search.supernet import supernet_indicators

        supernet = supernet_indicators(space, args.data, args.device)
    runs = run_repeats(
        args.strategy, space, oracle, cache, repeats=args.repeats, seed=args.seed, label=args.label,
        eval_datasets=args.eval_datasets, supernet=supernet, **params,
    )
    write_table(args.out, runs)
    if args.score_cache and cache is not None:
        write_table(args.score_cache, cache.to_frame())
    print(f"[knas search] {args.strategy}: {len(runs)} runs -> {args.out}; "
          f"mean {args.dataset} test acc {runs['test_acc'].mean():.2f}, "
          f"mean search time {runs['search_seconds'].mean():.1f} s", file=sys.stderr)


def cmd_summary(args: argparse.Namespace) -> None:
    import pandas as pd

    from knas.search import format_table, plot_search, summary_table
    from knas.utils import atomic_path, read_table, write_table

    summary = summary_table(pd.concat([read_table(p) for p in args.runs], ignore_index=True))
    write_table(args.out, summary)
    if args.markdown:
        with atomic_path(args.markdown) as tmp:
            tmp.write_text(format_table(summary))
    if args.plot:
        plot_search(summary, args.plot, dataset=args.plot_dataset, split=args.split)


def add_cli(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``knas search`` and ``knas search-summary``; returns the ``search`` parser."""
    from knas.search import load_all
    from knas.search.oracle import BENCHMARK_DATASETS, TRUTH_KINDS

    reg = load_all()
    p = sub.add_parser(
        "search", parents=[scoring_flags()],
        help="run a search strategy R times with the benchmark as oracle -> runs table",
        description="Run one search strategy R times (seeds S, S+1, ...); proxy values come from the score "
        "table, trainings from the benchmark. Strategies and their parameters (defaults): "
        + "; ".join(f"{s.name} ({', '.join(f'{k}={v}' for k, v in s.defaults.items()) or '-'})" for s in reg.values()),
    )
    p.add_argument("--strategy", required=True, choices=sorted(reg), help="search strategy: " + ", ".join(sorted(reg)))
    p.add_argument("--scores", default=None, help="score table (.parquet/.csv: arch, <proxy>, <proxy>__seconds)")
    p.add_argument("--truth", required=True, help="benchmark file (table .parquet/.csv, NB201 .pth, NATS-tss/-sss "
                   "dir, NB101 .tfrecord/.pkl)")
    p.add_argument("--truth-options", type=json.loads, default={},
                   help='JSON options of the backend, e.g. \'{"hp": "12"}\' (nats_sss), \'{"agg": "max"}\' (nb101)')
    p.add_argument("--truth-kind", default="table", choices=TRUTH_KINDS, help="benchmark backend (default table)")
    p.add_argument("--dataset", default="cifar10", help="search dataset (default cifar10)")
    p.add_argument("--eval-datasets", nargs="+", default=None,
                   help=f"datasets the found architecture is reported on (default: all the benchmark has, "
                        f"e.g. {' '.join(BENCHMARK_DATASETS)})")
    p.add_argument("--repeats", type=int, default=None, help="number of runs (default: the strategy's, 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first run (default 0)")
    p.add_argument("--label", default=None, help="strategy label in the tables (default: name + changed params)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="strategy parameter (repeatable), e.g. n=10")
    p.add_argument("--direction", action="append", metavar="NAME=higher|lower",
                   help="direction of a score column that is not a registered proxy (repeatable)")
    p.add_argument("--max-trained", type=int, default=None, help="budget: oracle queries per run")
    p.add_argument("--max-scored", type=int, default=None, help="budget: architectures scored per run")
    p.add_argument("--max-seconds", type=float, default=None, help="budget: simulated seconds per run")
    p.add_argument("--max-wall-seconds", type=float, default=None, help="budget: real seconds per run")
    p.add_argument("--data", default=None, help="prepared dataset: score architectures missing from the "
                   "score table on demand (knas.scoring; same settings as the study's score stage)")
    p.add_argument("--score-cache", default=None, help="table of on-demand scores, read first and rewritten "
                   "at the end, so reruns with new seeds score nothing again")
    p.add_argument("--train-found", default=None, metavar="JSON",
                   help="no benchmark: train each found architecture (knas.train_config.TrainConfig fields as "
                        "JSON) into the --truth folder and report its accuracies (strategies that train nothing)")
    p.add_argument("--out", required=True, help="runs table (.parquet or .csv)")
    p.set_defaults(func=cmd_search)

    s = sub.add_parser("search-summary", help="runs tables -> summary table (+ Markdown, plot)")
    s.add_argument("runs", nargs="+", help="runs tables written by `knas search`")
    s.add_argument("--out", required=True, help="summary table (.parquet or .csv)")
    s.add_argument("--markdown", default=None, help="also write the summary as a Markdown table")
    s.add_argument("--plot", default=None, help="also plot accuracy against search time (.png/.pdf/.svg)")
    s.add_argument("--plot-dataset", default=None, help="dataset of the plot (default: the first)")
    s.add_argument("--split", default="test", choices=["valid", "test"], help="accuracy plotted (default test)")
    s.set_defaults(func=cmd_summary)
    return p
