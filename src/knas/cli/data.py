"""``knas data download|prepare`` and ``knas sample``."""
from __future__ import annotations

import argparse


def cmd_download(args: argparse.Namespace) -> None:
    from knas.data import download_raw, raw_files

    files = [args.file] if args.file else raw_files(args.dataset)
    for f in files:
        print(download_raw(args.dataset, f, args.root))


def cmd_prepare(args: argparse.Namespace) -> None:
    from knas.data import prepare

    prepare(args.dataset, args.root, args.out, seed=args.seed, split_file=args.split_file, download=args.download)


def cmd_sample(args: argparse.Namespace) -> None:
    from knas.study import sample_table
    from knas.utils import write_table

    n = args.n if args.n == "all" else int(args.n)
    table = sample_table(n, args.seed, args.arch or (), args.file, space=args.space)
    write_table(args.out, table)
    print(f"{len(table)} architectures -> {args.out}")


def add_cli(sub: argparse._SubParsersAction) -> None:
    from knas.data.specs import DATASETS

    names = tuple(DATASETS)
    data = sub.add_parser("data", help="download or prepare a dataset")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = dsub.add_parser("download", help="download raw files (md5-checked) into --root")
    p.add_argument("--dataset", required=True, choices=names, help=f"dataset (data.dataset): {', '.join(names)}")
    p.add_argument("--file", help="one raw file (relative to --root); default: all of the dataset's")
    p.add_argument("--root", required=True, help="folder the raw files go to (data.root)")
    p.set_defaults(func=cmd_download)
    p = dsub.add_parser("prepare", help="read raw files, split as NB201, write one .npz")
    p.add_argument("--dataset", required=True, choices=names, help=f"dataset (data.dataset): {', '.join(names)}")
    p.add_argument("--root", default=None, help="raw-data folder (not needed for digits)")
    p.add_argument("--out", required=True, help="prepared dataset to write (.npz)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split when no --split-file is given (default 0)")
    p.add_argument("--split-file", default=None, help="official NB201 split file")
    p.add_argument("--download", action="store_true", help="download missing CIFAR tarballs")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("sample", help="the study's architectures (random, all, or a list) -> table")
    p.add_argument("--n", default="100", help="number of architectures, or 'all'")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sample (sample.seed, default 0)")
    p.add_argument("--arch", action="append", help="explicit arch string (repeatable)")
    p.add_argument("--file", default=None, help="file with one arch string per line")
    from knas.spaces import names

    p.add_argument("--space", default="nb201", choices=names(), help="search space (space.name; default nb201)")
    p.add_argument("--out", required=True, help=".csv or .parquet")
    p.set_defaults(func=cmd_sample)
