"""``knas score`` (architectures x proxies -> score tables) and ``knas merge-scores``."""
from __future__ import annotations

import argparse
import os
import signal

from .common import scoring_config, scoring_flags


def _proxies_and_outputs(args: argparse.Namespace) -> tuple[list[str], dict, dict, dict[str, str]]:
    """(proxies, options, batch sizes, {proxy: output path}) from --proxy/--options/--batch-sizes/--out
    or from --out-files."""
    if args.out_files:
        if args.proxy or args.options or args.batch_sizes or args.out:
            raise SystemExit("knas score: --out-files names the proxies, their options and batch sizes; "
                             "do not give --proxy, --options, --batch-sizes or --out with it")
        from knas.study.score_files import parse_score_file

        outs, options, sizes = {}, {}, {}
        for path in args.out_files:
            try:
                proxy, opts, size = parse_score_file(path)
            except ValueError as err:
                raise SystemExit(f"knas score --out-files: {err}") from None
            if proxy in outs:
                raise SystemExit(f"knas score --out-files: proxy {proxy} named twice ({outs[proxy]}, {path})")
            outs[proxy] = path
            sizes[proxy] = size
            if opts:
                options[proxy] = opts
        return list(outs), options, sizes, outs
    if not (args.proxy and args.out):
        raise SystemExit("knas score: give --proxy (repeatable) and --out, or --out-files")
    return args.proxy, args.options, args.batch_sizes, {}


def _stop_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds, so the rows scored so far are kept (--partial)


def cmd_score(args: argparse.Namespace) -> None:
    from knas.data import load_prepared
    from knas.scoring import parse_shard, proxy_table, score_architectures, shard_slice
    from knas.study.sample import read_archs
    from knas.utils import write_table

    proxies, options, sizes, outs = _proxies_and_outputs(args)
    archs = read_archs(args.archs, args.space)["arch"].tolist()
    if args.shard:
        i, n = parse_shard(args.shard)
        archs = archs[shard_slice(len(archs), i, n)]
    cfg = scoring_config(args, options=options, batch_sizes=sizes)
    partial = args.partial
    if partial is None and outs:
        root, ext = os.path.splitext(next(iter(outs.values())))
        partial = f"{root}.partial{ext}"
    st = os.stat(args.data)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)  # SLURM's time limit, snakemake's cancel
    table = score_architectures(archs, proxies, load_prepared(args.data), cfg, progress=args.progress,
                                partial=partial or None, data_id=f"{os.path.basename(args.data)}:{st.st_size}:"
                                f"{st.st_mtime_ns}")
    if outs:
        for proxy, path in outs.items():
            write_table(path, proxy_table(table, proxy))
    else:
        write_table(args.out, table)


def cmd_merge(args: argparse.Namespace) -> None:
    from knas.scoring import merge_score_tables
    from knas.utils import read_table, write_table

    write_table(args.out, merge_score_tables([read_table(p) for p in args.tables]))


def add_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", parents=[scoring_flags()], help="score architectures with training-free proxies")
    from knas import proxies  # the catalog: no torch to build the parser

    names = [n for n, s in sorted(proxies.catalog().items()) if not isinstance(s, proxies.CombinedSpec)]
    p.add_argument("--proxy", action="append", metavar="PROXY",
                   help="proxy to compute (repeatable; with --out); one of: " + ", ".join(names))
    p.add_argument("--archs", required=True, help="table with an 'arch' column (knas sample output)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--out", help="one table of every --proxy (.parquet or .csv)")
    p.add_argument("--out-files", nargs="+", metavar="PATH",
                   help="one table per proxy at <root>/<proxy>/<options>/batch<B>/<name>.parquet (knas.study.score_files): "
                        "the proxies, their options and batch sizes are read from the paths; one Context per batch size")
    p.add_argument("--shard", default=None, help="i/n: score only the i-th of n contiguous slices")
    p.add_argument("--partial", default=None,
                   help="keep the rows scored so far here and resume from them (default with --out-files: "
                        "<first path>.partial.parquet; '' for none)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress line per architecture (default: only when stderr is a terminal)")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("merge-scores", help="merge per-proxy/per-shard score tables")
    p.add_argument("tables", nargs="+", help="score tables written by `knas score` (every proxy and shard)")
    p.add_argument("--out", required=True, help="merged table, one row per architecture (.parquet or .csv)")
    p.set_defaults(func=cmd_merge)
