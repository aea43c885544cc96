"""Readers for the official raw formats, returning uint8 NCHW arrays and int64 labels.

* CIFAR-10/100 python pickles, read straight from the ``.tar.gz`` or from its extracted folder
  (``cifar-10-batches-py/data_batch_1..5``, ``test_batch``: ``data`` (N, 3072) uint8 in CHW-planar
  order and ``labels``; ``cifar-100-python/train``, ``test``: ``fine_labels``).
* Downsampled ImageNet 16x16 (Chrabaszcz et al. 2017) pickles ``train_data_batch_1..10`` and
  ``val_data``: ``data`` (N, 768) uint8 CHW-planar, ``labels`` 1-indexed. As NB201's
  ``ImageNet16(..., use_num_of_class_only=120)``, only labels 1..120 are kept, mapped to 0..119.
* scikit-learn's bundled ``load_digits`` (1,797 8x8 images, offline): values 0..16 are scaled to
  uint8 0..255 (``round(x * 255 / 16)``) and replicated to 3 channels so the NB201 stem is unchanged.

Pickles are loaded with a restricted unpickler that only rebuilds numpy arrays and plain Python
containers (what these formats contain), so a tampered file cannot run code.

Each reader returns ``{source: (x, y)}`` with ``x`` uint8 (N, C, H, W) and ``y`` int64 (N,):
sources ``train``/``test`` (CIFAR), ``train``/``val`` (ImageNet16-120), ``all`` (digits).
"""
from __future__ import annotations

import io
import logging
import os
import pickle
import tarfile
from pathlib import Path
from typing import IO

import numpy as np

from .files import imagenet16_missing_message, md5sum
from .specs import (
    CIFAR100_MEMBERS,
    CIFAR10_MEMBERS,
    IMAGENET16_DIR,
    IMAGENET16_MD5,
    get_spec,
)

log = logging.getLogger(__name__)

RawArrays = dict[str, tuple[np.ndarray, np.ndarray]]


class MissingRawDataError(FileNotFoundError):
    """A raw file is absent; the message names the file, its URL (if any) and where to put it."""


# ---------------------------------------------------------------------------------------------
# restricted unpickling


def _allowed_globals() -> dict[tuple[str, str], object]:
    from numpy._core import multiarray, numeric

    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    import codecs

    allowed[("_codecs", "encode")] = codecs.encode  # bytes in protocol-2 pickles written by Python 3
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    _allowed = None

    def find_class(self, module: str, name: str):
        if _ArrayUnpickler._allowed is None:
            _ArrayUnpickler._allowed = _allowed_globals()
        try:
            return _ArrayUnpickler._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: dataset pickles only hold numpy arrays and lists"
            ) from None


def _load_pickle(fh: IO[bytes], what: str) -> dict:
    # latin1: the official files are Python-2 pickles (numpy's recommended encoding for them)
    try:
        obj = _ArrayUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"{what}: not a readable dataset pickle ({err})") from err
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _field(d: dict, key: str, what: str):
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    raise ValueError(f"{what}: no {key!r} entry (keys: {sorted(map(str, d))})")


def _images(d: dict, label_key: str, shape: tuple[int, int, int], what: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(_field(d, "data", what))
    y = np.asarray(_field(d, label_key, what))
    size = int(np.prod(shape))
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != size:
        raise ValueError(f"{what}: 'data' is {x.dtype} {x.shape}, expected uint8 (N, {size})")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: {label_key!r} has shape {y.shape} ({y.dtype}), expected {x.shape[0]} integers")
    return x.reshape(-1, *shape), y.astype(np.int64)  # rows are CHW-planar -> (N, C, H, W)


def _check_md5(path: Path, md5: str) -> None:
    got = md5sum(path)
    if got != md5:
        raise ValueError(
            f"{path}: md5 is {got}, expected {md5} (a corrupt, incomplete or modified copy): delete it and "
            f"rerun (Snakemake downloads it again; with data.download: false put the official file there)"
        )


# ---------------------------------------------------------------------------------------------
# CIFAR


def _cifar_layout(name: str):
    if name == "cifar10":
        members = CIFAR10_MEMBERS
        sources = {"train": [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)],
                   "test": ["cifar-10-batches-py/test_batch"]}
        return members, sources, "labels"
    members = CIFAR100_MEMBERS
    return members, {"train": ["cifar-100-python/train"], "test": ["cifar-100-python/test"]}, "fine_labels"


def read_cifar(name: str, raw_dir: str | os.PathLike, *, download: bool = False, verify_md5: bool = True) -> RawArrays:
    """Read ``cifar10`` or ``cifar100`` from ``raw_dir``: the official tarball, else its extracted folder.

    With ``download=True`` a missing tarball is downloaded (md5-checked). ``verify_md5`` checks the
    tarball (or each extracted member) against the official md5 sums.
    """
    if name not in ("cifar10", "cifar100"):
        raise ValueError(f"read_cifar: unknown dataset {name!r}; allowed: cifar10, cifar100")
    spec = get_spec(name)
    raw_dir = Path(raw_dir)
    archive_entry = spec.raw[0]
    archive = raw_dir / archive_entry.relpath
    members, sources, label_key = _cifar_layout(name)
    extracted = all((raw_dir / m).is_file() for m in members)

    if not archive.exists() and not extracted:
        if download:
            from .download import download as fetch  # looked up when called (a test redirects it)

            fetch(archive_entry.url, archive, archive_entry.md5)
        else:
            folder = raw_dir / next(iter(members)).split("/")[0]
            raise MissingRawDataError(
                f"{name}: raw file {archive_entry.relpath} not found. Expected {archive.resolve()} "
                f"(download it from {archive_entry.url}, md5 {archive_entry.md5}) or its extracted folder "
                f"{folder.resolve()}/ ({', '.join(m.split('/')[1] for m in members)}). "
                f"Pass download=True (config data.download: true) or put the file there by hand."
            )

    blobs: dict[str, dict] = {}
    if archive.exists():
        if verify_md5:
            _check_md5(archive, archive_entry.md5)
        log.info("reading %s", archive)
        with tarfile.open(archive, "r:gz") as tf:
            for member in tf:
                if member.name in members:
                    fh = tf.extractfile(member)
                    blobs[member.name] = _load_pickle(io.BytesIO(fh.read()), f"{archive}:{member.name}")
        missing = [m for m in members if m not in blobs]
        if missing:
            raise ValueError(f"{archive}: not a {name} archive, members missing: {', '.join(missing)}")
    else:
        for m, md5 in members.items():
            path = raw_dir / m
            if verify_md5:
                _check_md5(path, md5)
            with open(path, "rb") as fh:
                blobs[m] = _load_pickle(fh, str(path))

    out: RawArrays = {}
    for source, files in sources.items():
        parts = [_images(blobs[f], label_key, spec.input_shape, f) for f in files]
        out[source] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return out


# ---------------------------------------------------------------------------------------------
# ImageNet16-120


def _imagenet16_dir(raw_dir: Path) -> Path:
    canonical = raw_dir / IMAGENET16_DIR
    if not (canonical / "val_data").exists() and (raw_dir / "val_data").exists():
        return raw_dir  # files placed directly in raw_dir
    return canonical


def read_imagenet16(raw_dir: str | os.PathLike, *, num_classes: int = 120, verify_md5: bool = True) -> RawArrays:
    """Read the ImageNet16 pickles from ``raw_dir/ImageNet16/`` (or ``raw_dir/``), keeping only
    labels ``1..num_classes`` and mapping them to ``0..num_classes-1`` (NB201's ImageNet16-120)."""
    raw_dir = Path(raw_dir)
    folder = _imagenet16_dir(raw_dir)
    missing = [f"{IMAGENET16_DIR}/{f}" for f in IMAGENET16_MD5 if not (folder / f).is_file()]
    if missing:
        raise MissingRawDataError(imagenet16_missing_message(raw_dir, missing))
    out: RawArrays = {}
    for source, files in (("train", [f"train_data_batch_{i}" for i in range(1, 11)]), ("val", ["val_data"])):
        xs, ys = [], []
        for f in files:
            path = folder / f
            if verify_md5:
                _check_md5(path, IMAGENET16_MD5[f])
            with open(path, "rb") as fh:
                x, y = _images(_load_pickle(fh, str(path)), "labels", (3, 16, 16), str(path))
            keep = (y >= 1) & (y <= num_classes)  # filter per file: keeps peak memory low
            xs.append(x[keep])
            ys.append(y[keep] - 1)
        out[source] = (np.concatenate(xs), np.concatenate(ys))
    return out


# ---------------------------------------------------------------------------------------------
# digits


def read_digits() -> RawArrays:
    """scikit-learn's 8x8 digits as uint8 (N, 3, 8, 8): ``round(x * 255 / 16)`` on 3 equal channels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)  # (N, 8, 8)
    x = np.repeat(x[:, None], 3, axis=1)  # (N, 3, 8, 8)
    return {"all": (np.ascontiguousarray(x), d.target.astype(np.int64))}


def read_raw(name: str, raw_dir: str | os.PathLike | None, *, download: bool = False, verify_md5: bool = True) -> RawArrays:
    """Read any supported dataset by config name (``raw_dir`` is ignored for ``digits``)."""
    get_spec(name)
    if name == "digits":
        return read_digits()
    if raw_dir is None:
        raise ValueError(f"dataset {name!r} needs raw_dir (the folder holding its raw files)")
    if name == "ImageNet16-120":
        return read_imagenet16(raw_dir, num_classes=120, verify_md5=verify_md5)
    return read_cifar(name, raw_dir, download=download, verify_md5=verify_md5)
