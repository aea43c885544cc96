"""The ``knas`` command (also ``python -m knas``). Every Snakemake rule is one call of it.

One module per area registers that area's sub-commands with ``add_cli(subparsers)``; the
library modules hold no argparse. Commands parse arguments and call the library; no logic lives here.

==============  ====================================================================
:mod:`.data`    ``data download``, ``data prepare``, ``sample``
:mod:`.score`   ``score``, ``merge-scores``
:mod:`.train`   ``train``
:mod:`.truth`   ``truth``
:mod:`.study`   ``correlate``, ``select``, ``report``
:mod:`.search`  ``search``, ``search-summary``
:mod:`.text`    ``text-data``, ``text-score``, ``text-finetune``, ``text-summary``, ``text-report``
:mod:`.common`  shared parent parsers (the scoring flags of ``score`` and ``search``)
==============  ====================================================================
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

AREAS = ("data", "score", "train", "truth", "study", "search", "text")


def build_parser() -> argparse.ArgumentParser:
    from knas import __version__

    parser = argparse.ArgumentParser(prog="knas", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"knas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for area in AREAS:
        importlib.import_module(f"{__name__}.{area}").add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    import pickle
    import zipfile

    try:
        args.func(args)
    except (ValueError, OSError, RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as err:
        # A clear one-line error for input problems (bad values, missing, unreadable or corrupt
        # files); the traceback only with --verbose.
        if args.verbose:
            raise
        msg = " ".join(str(err).split()) or type(err).__name__
        print(f"knas {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"knas {args.command}: interrupted (nothing half-written is kept; rerun to continue)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
