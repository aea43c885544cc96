"""The prepared cache: one ``.npz`` per dataset, written once by the Snakemake ``data`` rule.

The file holds uint8 NCHW images and int64 labels for ``train``/``valid``/``test``
(``x_train, y_train, ...``), the indices of each split into its raw source (``idx_*``, for
traceability) and metadata: ``name, num_classes, mean, std, padding, flip, seed, split_source,
format_version``. It is written atomically: a failed ``prepare`` leaves no output.
"""
from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from knas.utils import atomic_path, check_integrity, corrupt

from .readers import read_raw
from .specs import get_spec
from .splits import check_split_file, make_splits

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "valid", "test")


def prepare(name: str, raw_dir: str | os.PathLike | None, out_path: str | os.PathLike, seed: int = 0,
            split_file: str | os.PathLike | None = None, download: bool = False, *, verify_md5: bool = True) -> Path:
    """Read dataset ``name`` from ``raw_dir``, split it as NB201 does and write ``out_path`` (.npz).

    ``split_file``: an official NB201 split file (see :mod:`~knas.data.splits`); without it the
    split is seeded by ``seed``. ``download``: fetch missing CIFAR tarballs (md5-checked).
    ``verify_md5``: check raw files against the official md5 sums. ``digits`` needs no ``raw_dir``;
    its mean/std are computed on its train split (the others use NB201's constants).
    """
    spec = check_split_file(name, split_file)  # fail before the (slow) raw read
    raw = read_raw(name, raw_dir, download=download, verify_md5=verify_md5)
    splits = make_splits(name, {k: len(v[1]) for k, v in raw.items()}, {k: v[1] for k, v in raw.items()},
                         seed=seed, split_file=split_file)
    arrays: dict[str, np.ndarray] = {}
    for split, (source, idx) in splits.items():
        x, y = raw[source]
        xs, ys = np.ascontiguousarray(x[idx]), y[idx].astype(np.int64)  # (N, C, H, W) uint8, (N,)
        bad = (ys < 0) | (ys >= spec.num_classes)
        if bad.any():
            raise ValueError(f"{name} {split}: labels outside [0, {spec.num_classes}): {np.unique(ys[bad])[:5]}")
        if xs.shape[1:] != spec.input_shape:
            raise ValueError(f"{name} {split}: images are {xs.shape[1:]}, expected {spec.input_shape}")
        arrays[f"x_{split}"], arrays[f"y_{split}"], arrays[f"idx_{split}"] = xs, ys, idx.astype(np.int64)
    if spec.mean is None:  # digits: statistics of the train split (per channel, population std)
        xt = arrays["x_train"].astype(np.float64) / 255.0
        mean, std = xt.mean(axis=(0, 2, 3)), xt.std(axis=(0, 2, 3))
    else:
        mean, std = np.asarray(spec.mean), np.asarray(spec.std)
    meta = {
        "name": np.array(name),
        "num_classes": np.array(spec.num_classes, dtype=np.int64),
        "mean": np.asarray(mean, dtype=np.float64),
        "std": np.asarray(std, dtype=np.float64),
        "padding": np.array(spec.padding, dtype=np.int64),
        "flip": np.array(spec.flip),
        "seed": np.array(seed, dtype=np.int64),
        "split_source": np.array(f"file:{Path(split_file).name}" if split_file else f"seeded:{seed}"),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
    }
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:  # a file handle: np.savez would append ".npz" to a bare path
            np.savez(fh, **arrays, **meta)
    log.info("wrote %s (%s)", out_path, ", ".join(f"{s}={len(arrays[f'y_{s}'])}" for s in SPLITS))
    return out_path


@dataclass
class PreparedData:
    """A prepared dataset in memory: uint8 NCHW images and int64 labels per split (CPU tensors)."""

    name: str
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    padding: int
    flip: bool
    seed: int
    split_source: str
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(repr=False)
    _joined: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.splits["train"][0].shape[1:])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x uint8 (N, C, H, W), y int64 (N,))`` of ``train``, ``valid``, ``test`` or ``train+valid``.

        ``train+valid`` concatenates train and valid: for cifar10 that is the full 50k CIFAR-10
        train set (NB201's ``cifar10`` training set; KNAS scores on it), in split order.
        """
        if name in self.splits:
            return self.splits[name]
        if name == "train+valid":
            if name not in self._joined:  # built once, reused by later calls
                (xa, ya), (xb, yb) = self.splits["train"], self.splits["valid"]
                self._joined[name] = (torch.cat([xa, xb]), torch.cat([ya, yb]))
            return self._joined[name]
        raise ValueError(f"unknown split {name!r}; allowed: {', '.join(SPLITS)}, train+valid")

    def size(self, name: str) -> int:
        """Number of images in split ``name`` (same names as :meth:`split`)."""
        if name == "train+valid":
            return len(self.splits["train"][1]) + len(self.splits["valid"][1])
        return len(self.split(name)[1])


def load_prepared(path: str | os.PathLike) -> PreparedData:
    """Load a file written by :func:`prepare` (no pickles are read)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"prepared dataset {path} not found; create it with knas.data.prepare (the Snakemake data rule)")
    check_integrity(path)
    try:
        return _load_npz(path)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:  # truncated or damaged zip
        raise corrupt(path, f"is not a readable prepared dataset ({type(err).__name__}: {err})") from None
    except ValueError as err:
        if str(err).startswith(f"{path}:"):  # our own format checks below
            raise
        raise corrupt(path, f"is not a readable prepared dataset ({err})") from None


def _load_npz(path: Path) -> PreparedData:
    with np.load(path, allow_pickle=False) as z:
        required = [f"{p}_{s}" for s in SPLITS for p in ("x", "y")] + [
            "name", "num_classes", "mean", "std", "padding", "flip", "format_version"]
        missing = [k for k in required if k not in z.files]
        if missing:
            raise ValueError(f"{path}: not a knas prepared dataset (missing {', '.join(missing)})")
        if int(z["format_version"]) != FORMAT_VERSION:
            version = int(z["format_version"])
            raise ValueError(f"{path}: format_version {version}, expected {FORMAT_VERSION}; prepare it again")
        splits = {}
        for s in SPLITS:
            x, y = z[f"x_{s}"], z[f"y_{s}"]
            if x.dtype != np.uint8 or x.ndim != 4 or y.shape != (x.shape[0],):
                raise ValueError(f"{path}: split {s!r} has x {x.dtype} {x.shape}, y {y.shape}")
            splits[s] = (torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))
        return PreparedData(
            name=str(z["name"]),
            num_classes=int(z["num_classes"]),
            mean=tuple(float(v) for v in z["mean"]),
            std=tuple(float(v) for v in z["std"]),
            padding=int(z["padding"]),
            flip=bool(z["flip"]),
            seed=int(z["seed"]) if "seed" in z.files else 0,
            split_source=str(z["split_source"]) if "split_source" in z.files else "",
            splits=splits,
        )
