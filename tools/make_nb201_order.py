"""Dev-time generator of ``src/knas/nb201/nb201_order.txt.gz`` (the NB201 index order).

The NB201 / NATS-Bench topology API numbers its 15,625 architectures in a shuffled order.
This script reads a table with columns ``nb201_index`` and ``arch_str`` (the repository's
reference copy is ``../shared/data/nb201_accuracy.csv``) and writes, for every index
0..15624 in turn, the base-5 code of its architecture (``knas.nb201.space.encode``) as one
line of a gzip file (deterministic bytes: mtime 0, no file name in the header).

Usage: PYTHONPATH=src python tools/make_nb201_order.py [CSV] [OUT]
"""
from __future__ import annotations

import csv
import gzip
import io
import sys
from pathlib import Path

from knas.nb201.space import ORDER_FILE, encode, num_archs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "nb201_accuracy.csv"
DEFAULT_OUT = ROOT / "src" / "knas" / "nb201" / ORDER_FILE


def build_codes(csv_path: Path) -> list[int]:
    codes: dict[int, int] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            idx = int(row["nb201_index"])
            if idx in codes:
                raise ValueError(f"duplicate nb201_index {idx} in {csv_path}")
            codes[idx] = encode(row["arch_str"])
    if sorted(codes) != list(range(num_archs)) or sorted(codes.values()) != list(range(num_archs)):
        raise ValueError(f"{csv_path} does not map indices 0..{num_archs - 1} one-to-one onto the space")
    return [codes[i] for i in range(num_archs)]


def main(argv: list[str]) -> None:
    csv_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_CSV
    out = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    codes = build_codes(csv_path)
    text = (
        "# NB201 index order: line k (after comments) = base-5 code of architecture k\n"
        "# code = sum(OPS.index(op_e) * 5**(5-e)), e over edges 1<-0,2<-0,2<-1,3<-0,3<-1,3<-2\n"
        "# OPS = none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3\n"
        + "".join(f"{c}\n" for c in codes)
    )
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("ascii"))
    out.write_bytes(buf.getvalue())
    print(f"wrote {out} ({len(buf.getvalue())} bytes, {len(codes)} architectures)")


if __name__ == "__main__":
    main(sys.argv)
