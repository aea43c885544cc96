"""``knas correlate``, ``knas select``, ``knas report``: the study's later stages (:mod:`knas.study`)."""
from __future__ import annotations

import argparse
import json


def cmd_correlate(a: argparse.Namespace) -> None:
    from knas.study.correlate import correlate

    correlate(a.scores, a.truth, a.out_dir, bootstrap=a.bootstrap, repeats=a.repeats, repeat_n=a.repeat_n,
              seed=a.seed, benchmark=a.benchmark)


def cmd_select(a: argparse.Namespace) -> None:
    from knas.study.select import select

    select(a.scores, a.archs, a.out, proxy=a.proxy, ks=a.k, naswot_n=a.naswot_n, random_seeds=a.random_seeds,
           seed=a.seed, pool=a.pool)


def cmd_report(a: argparse.Namespace) -> None:
    from knas.study.report import report

    report(a.scores, a.truth, a.correlation_dir, a.selection, a.histories, a.out_dir, config=json.loads(a.config),
           archs_path=a.archs, text_report=a.text_report, search_summary=a.search_summary)


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("correlate", help="correlations, repeated sampling, rank groups, figures")
    p.add_argument("--scores", required=True, help="merged score table (`knas merge-scores`)")
    p.add_argument("--truth", required=True, help="ground-truth table (`knas truth`)")
    p.add_argument("--out-dir", required=True, help="folder for the tables and figures/")
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="bootstrap resamples for the 95%% intervals (analysis.bootstrap, default 1000; 0: none)")
    p.add_argument("--repeats", type=int, default=50,
                   help="KNAS repeated-sampling repetitions (analysis.repeats, default 50; 0: skip)")
    p.add_argument("--repeat-n", type=int, default=200,
                   help="architectures per repetition (analysis.repeat_n, default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the repetitions (default 0)")
    p.add_argument("--benchmark", default=None, help="truth.benchmark (train: rank by validation accuracy)")
    p.set_defaults(func=cmd_correlate)

    p = sub.add_parser("select", help="architectures picked by each search method")
    from knas import proxies  # the catalog: no torch to build the parser

    p.add_argument("--scores", required=True, help="merged score table (`knas merge-scores`)")
    p.add_argument("--archs", required=True, help="the study's architecture table (`knas sample`)")
    p.add_argument("--out", required=True, help="selection table (.csv or .parquet)")
    p.add_argument("--proxy", default="mgm", metavar="PROXY",
                   help="score ranking the KNAS top-k (select.proxy, default mgm); one of: "
                   + ", ".join(sorted(proxies.catalog())))
    p.add_argument("--k", type=int, nargs="+", default=[20, 40], help="top-k sizes (select.k, default 20 40)")
    p.add_argument("--naswot-n", type=int, nargs="+", default=[10, 100],
                   help="NASWOT best-of-N sizes (select.naswot_n, default 10 100)")
    p.add_argument("--random-seeds", type=int, default=10,
                   help="random picks, seeds SEED .. SEED+n-1 (select.random_seeds, default 10)")
    p.add_argument("--seed", type=int, default=0, help="first seed of the random picks (default 0)")
    p.add_argument("--pool", type=int, default=None,
                   help="search pool: the first POOL architectures of the sample (select.pool; default: all scored)")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("report", help="report.md and tables of a study")
    p.add_argument("--scores", required=True, help="merged score table (`knas merge-scores`)")
    p.add_argument("--truth", required=True, help="ground-truth table (`knas truth`)")
    p.add_argument("--correlation-dir", required=True, help="output folder of `knas correlate`")
    p.add_argument("--selection", required=True, help="selection table (`knas select`)")
    p.add_argument("--archs", default=None,
                   help="the study's architecture table (`knas sample`): its order sets the search pool (select.pool)")
    p.add_argument("--histories", nargs="*", default=[], help="history.json of every trained top-k architecture")
    p.add_argument("--config", required=True, help="the study config as a JSON string")
    p.add_argument("--out-dir", required=True, help="folder for report.md, methods.csv, proxies.csv, figures/")
    p.add_argument("--text-report", default=None, help="text study section to append")
    p.add_argument("--search-summary", default=None, help="search strategies table (Markdown) to append")
    p.set_defaults(func=cmd_report)
