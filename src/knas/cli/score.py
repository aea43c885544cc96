"""``knas score`` (one proxy x shard table) and ``knas merge-scores``."""
from __future__ import annotations

import argparse
import json

from .common import scoring_config, scoring_flags


def cmd_score(args: argparse.Namespace) -> None:
    from knas.data import load_prepared
    from knas.scoring import parse_shard, score_architectures, shard_slice
    from knas.study.sample import read_archs
    from knas.utils import write_table

    archs = read_archs(args.archs, args.space)["arch"].tolist()
    if args.shard:
        i, n = parse_shard(args.shard)
        archs = archs[shard_slice(len(archs), i, n)]
    cfg = scoring_config(args, augment=args.augment, options=json.loads(args.options) if args.options else {})
    table = score_architectures(archs, args.proxy, load_prepared(args.data), cfg, progress=args.progress)
    write_table(args.out, table)


def cmd_merge(args: argparse.Namespace) -> None:
    from knas.scoring import merge_score_tables
    from knas.utils import read_table, write_table

    write_table(args.out, merge_score_tables([read_table(p) for p in args.tables]))


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", parents=[scoring_flags()], help="score architectures with training-free proxies")
    from knas import proxies  # the catalog: no torch to build the parser

    names = [n for n, s in sorted(proxies.catalog().items()) if not isinstance(s, proxies.CombinedSpec)]
    p.add_argument("--proxy", action="append", required=True, metavar="PROXY",
                   help="proxy to compute (repeatable); one of: " + ", ".join(names))
    p.add_argument("--archs", required=True, help="table with an 'arch' column (knas sample output)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--out", required=True, help=".parquet or .csv")
    p.add_argument("--shard", default=None, help="i/n: score only the i-th of n contiguous slices")
    p.add_argument("--augment", action="store_true", help="train-time augmentation (crop + flip) on the scoring batch")
    p.add_argument("--options", default=None, help='JSON per-proxy options, e.g. \'{"mgm": {"n": 50}}\'')
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress line per architecture (default: only when stderr is a terminal)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("merge-scores", help="merge per-proxy/per-shard score tables")
    p.add_argument("tables", nargs="+", help="score tables written by `knas score` (every proxy and shard)")
    p.add_argument("--out", required=True, help="merged table, one row per architecture (.parquet or .csv)")
    p.set_defaults(func=cmd_merge)
