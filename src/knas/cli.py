"""The ``knas`` command (also ``python -m knas``). Every Snakemake rule is one call of it.

Sub-commands parse arguments and call the library; no logic lives here.
"""
from __future__ import annotations

import argparse
import logging
import sys


def _data_download(args) -> None:
    from knas.data import download_raw, raw_files

    files = [args.file] if args.file else raw_files(args.dataset)
    for f in files:
        print(download_raw(args.dataset, f, args.root))


def _data_prepare(args) -> None:
    from knas.data import prepare

    prepare(args.dataset, args.root, args.out, seed=args.seed, split_file=args.split_file, download=args.download)


def _sample(args) -> None:
    from knas.study import sample_table
    from knas.utils import write_table

    n = args.n if args.n == "all" else int(args.n)
    table = sample_table(n, args.seed, args.arch or (), args.file)
    write_table(args.out, table)
    print(f"{len(table)} architectures -> {args.out}")


def _train_summary(args) -> None:
    from knas.study import train_summary
    from knas.utils import write_table

    write_table(args.out, train_summary(args.histories))


def build_parser() -> argparse.ArgumentParser:
    from knas import __version__
    from knas.data import DATASETS

    DATASET_NAMES = tuple(DATASETS)

    parser = argparse.ArgumentParser(prog="knas", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"knas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="download or prepare a dataset")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = dsub.add_parser("download", help="download raw files (md5-checked) into --root")
    p.add_argument("--dataset", required=True, choices=DATASET_NAMES)
    p.add_argument("--file", help="one raw file (relative to --root); default: all of the dataset's")
    p.add_argument("--root", required=True)
    p.set_defaults(func=_data_download)
    p = dsub.add_parser("prepare", help="read raw files, split as NB201, write one .npz")
    p.add_argument("--dataset", required=True, choices=DATASET_NAMES)
    p.add_argument("--root", default=None, help="raw-data folder (not needed for digits)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-file", default=None, help="official NB201 split file")
    p.add_argument("--download", action="store_true", help="download missing CIFAR tarballs")
    p.set_defaults(func=_data_prepare)

    p = sub.add_parser("sample", help="the study's architectures (random, all, or a list) -> table")
    p.add_argument("--n", default="100", help="number of architectures, or 'all'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch", action="append", help="explicit arch string (repeatable)")
    p.add_argument("--file", default=None, help="file with one arch string per line")
    p.add_argument("--out", required=True, help=".csv or .parquet")
    p.set_defaults(func=_sample)

    from knas import pipeline, scoring, search, train, truth

    train.add_cli(sub)
    scoring.add_cli(sub)
    truth.add_cli(sub)
    pipeline.add_cli(sub)
    search.add_cli(sub)
    from knas.text import cli as text_cli

    text_cli.add_cli(sub)

    p = sub.add_parser("train-summary", help="final metrics of trained architectures -> table")
    p.add_argument("histories", nargs="+", help="history.json files written by `knas train`")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_train_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # A clear one-line error for input problems; the traceback only with --verbose.
        if args.verbose:
            raise
        print(f"knas {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
