"""Small helpers shared across knas: devices, seeding, atomic writes, integrity-checked reads, tables.

torch is imported by the two functions that need it, so the workflow's parse path (which writes
nothing but imports modules that use :func:`atomic_path`) does not import it.

Every file knas writes goes through :func:`atomic_path`, which also records the file's size and
SHA-256 in a hidden sidecar (``.<name>.sha256`` beside it). The readers (:func:`read_table`,
:func:`read_json`, :func:`check_integrity` for the others) compare a file with its sidecar, so a
file truncated or changed after knas wrote it is reported (naming it and what to do) instead of
being read into a result.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import torch


def get_device(name: str = "auto") -> torch.device:
    """Resolve ``auto`` | ``cpu`` | ``cuda`` (| ``cuda:N``) to a device.

    ``auto`` picks CUDA when available, else CPU. Asking for CUDA on a machine
    without it is an error, not a silent fallback.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available (use 'cpu' or 'auto')")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; allowed: auto, cpu, cuda, cuda:N")
    return dev


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) RNGs."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, digest: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    A job that fails or is interrupted therefore never leaves a half-written file
    that Snakemake (or a resume) would trust. ``digest``: also record the file's size and
    SHA-256 for :func:`check_integrity` (off for downloads, which have their official md5).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual mode
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if digest:
            _write_digest(path, tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


class CorruptFileError(ValueError):
    """A file is truncated, damaged or was changed after knas wrote it; the message names it.

    ``path`` and ``why`` are the parts of the message (for callers that recover, e.g. by discarding)."""

    def __init__(self, path, why: str):
        self.path, self.why = Path(path), why
        super().__init__(f"{path} {why}; delete it and rerun (Snakemake then recomputes it and what depends on it)")


def digest_path(path: str | os.PathLike) -> Path:
    """The sidecar recording ``path``'s size and SHA-256 (``.<name>.sha256`` beside it)."""
    path = Path(path)
    return path.with_name(f".{path.name}.sha256")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_digest(path: Path, content: Path) -> None:
    # written before the file itself is renamed into place: an interruption in between leaves a
    # sidecar that does not match, which is reported as corrupt, never trusted
    side = digest_path(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(f"{file_sha256(content)} {content.stat().st_size}\n")
    os.replace(tmp, side)


def corrupt(path: str | os.PathLike, why: str) -> CorruptFileError:
    """The one error for an unusable file: names it, says why, says what to do."""
    return CorruptFileError(path, why)


def check_integrity(path: str | os.PathLike) -> Path:
    """Raise :class:`CorruptFileError` when ``path`` differs from what knas wrote (its sidecar).

    Files without a sidecar (written by other tools) are not checked here; their readers check
    their structure. Size first (a stat), the SHA-256 only when the size matches.
    """
    path = Path(path)
    side = digest_path(path)
    if not side.is_file() or not path.is_file():
        return path
    try:
        sha, size = side.read_text().split()
        size = int(size)
    except (OSError, ValueError):
        raise corrupt(side, "(the integrity record of " + path.name + ") is damaged") from None
    actual = path.stat().st_size
    if actual != size:
        raise corrupt(path, f"is truncated or was changed after knas wrote it ({actual} bytes, written {size})")
    if file_sha256(path) != sha:
        raise corrupt(path, "was changed after knas wrote it (its SHA-256 differs from the one recorded)")
    return path


def read_json(path: str | os.PathLike):
    """Load a JSON file knas wrote, checking its integrity; a damaged file is a CorruptFileError."""
    path = check_integrity(path)
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise corrupt(path, f"is not valid JSON ({err})") from None


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_table(path: str | os.PathLike, df) -> None:
    """Write a pandas DataFrame to ``.parquet`` or ``.csv`` (by suffix), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            raise ValueError(f"unsupported table format {path.suffix!r}; use .parquet or .csv")


def read_table(path: str | os.PathLike):
    """Read a ``.parquet`` or ``.csv`` table, checking its integrity (see :func:`check_integrity`).

    A file that cannot be parsed is a :class:`CorruptFileError` naming it."""
    import pandas as pd

    path = Path(path)
    if path.suffix not in (".parquet", ".csv"):
        raise ValueError(f"unsupported table format {path.suffix!r}; use .parquet or .csv")
    if not path.is_file():
        raise FileNotFoundError(f"table {path} does not exist")
    check_integrity(path)
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a table without columns (written so, integrity checked above)
        return pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise corrupt(path, f"cannot be read as a table ({first})") from None
