"""The leaf of :mod:`knas.data`: md5 sums of raw files and the messages about missing ones.

Imported by :mod:`.download` and :mod:`.readers`, importing neither (only :mod:`.specs`).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .specs import IMAGENET16_DIR, IMAGENET16_PAGE

CHUNK = 1 << 20


def md5sum(path: str | os.PathLike, chunk_size: int = CHUNK) -> str:
    """Hex md5 of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            h.update(chunk)
    return h.hexdigest()


def imagenet16_missing_message(raw_dir: Path, missing: list[str]) -> str:
    """The error text for absent ImageNet16 pickles (no automatic download: it needs a login)."""
    where = (Path(raw_dir) / IMAGENET16_DIR).resolve()
    names = ", ".join(Path(m).name for m in missing)
    return (
        f"ImageNet16-120: missing raw file(s) {names}. The Downsampled ImageNet 16x16 pickles "
        f"(train_data_batch_1..10 and val_data) cannot be downloaded automatically: get them from "
        f"{IMAGENET16_PAGE}, extract them and put the files in {where}/"
    )
