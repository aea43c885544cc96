"""NB201's train/valid/test splits, from the official split files or seeded.

NB201 (AutoDL-Projects ``configs/nas-benchmark/``) ships JSON split files whose values are
``["int", ["0", "5", ...]]`` (type tag + decimal strings), indices into a source set:

* ``cifar-split.txt`` — ``train``/``valid``: a 25k/25k partition of the CIFAR-10 train set
  (``cifar10-valid``: train on one half, validate on the other; test = the 10k test set);
* ``cifar100-test-split.txt`` — ``xvalid``/``xtest``: 5k/5k halves of the CIFAR-100 test set
  (train = all 50k);
* ``imagenet-16-120-test-split.txt`` — ``xvalid``/``xtest``: 3k/3k halves of the 6k
  ImageNet16-120 val set (train = all ~151k).

Deviation: without ``split_file`` the halves are a seeded random partition of the same sizes
(``numpy.random.default_rng(seed)``), not NB201's indices; pass the official file to reproduce
NB201 exactly. ``digits`` has no official split: a seeded stratified 60/20/20 split.
Indices within every split are sorted (as in the official files), so a split keeps source order.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .specs import get_spec

# split name -> (source name, indices into that source)
Splits = dict[str, tuple[str, np.ndarray]]


def read_split_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Parse an NB201 split file into ``{key: int64 indices}``.

    Accepts the official ``{"key": ["int", ["0", "5", ...]]}`` form and a plain ``{"key": [0, 5, ...]}``.
    """
    try:
        with open(path) as fh:
            obj = json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(f"split file {path}: not JSON ({err})") from err
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"split file {path}: expected a JSON object of index lists")
    out = {}
    for key, value in obj.items():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], list):
            tag, values = value
            if tag != "int":
                raise ValueError(f"split file {path}: key {key!r} has type tag {tag!r}, expected 'int'")
        elif isinstance(value, list):
            values = value
        else:
            raise ValueError(f"split file {path}: key {key!r} is not an index list")
        try:
            out[key] = np.array([int(v) for v in values], dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"split file {path}: key {key!r} holds a non-integer index ({err})") from None
    return out


def _halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    first = n - n // 2
    return np.sort(perm[:first]), np.sort(perm[first:])


def _from_file(name: str, path, n_source: int) -> tuple[np.ndarray, np.ndarray]:
    keys = get_spec(name).split_keys
    if keys is None:
        raise ValueError(f"dataset {name!r} has no official split file; leave split_file unset")
    table = read_split_file(path)
    if not all(k in table for k in keys):
        raise ValueError(
            f"split file {path} has keys {sorted(table)}, but {name} needs {list(keys)} "
            f"(cifar10: cifar-split.txt; cifar100: cifar100-test-split.txt; ImageNet16-120: imagenet-16-120-test-split.txt)"
        )
    a, b = (table[k] for k in keys)
    for key, idx in zip(keys, (a, b)):
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n_source:
            raise ValueError(f"split file {path}: {key!r} indices must lie in [0, {n_source}) for {name}")
        if np.unique(idx).size != idx.size:
            raise ValueError(f"split file {path}: {key!r} repeats indices")
    if np.intersect1d(a, b).size:
        raise ValueError(f"split file {path}: {keys[0]!r} and {keys[1]!r} overlap")
    return np.sort(a), np.sort(b)


def _stratified(y: np.ndarray, fractions: tuple[float, float, float], rng) -> tuple[np.ndarray, ...]:
    parts = [[], [], []]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_valid = int(round(fractions[1] * idx.size))
        n_test = int(round(fractions[2] * idx.size))
        parts[0].append(idx[n_valid + n_test:])
        parts[1].append(idx[:n_valid])
        parts[2].append(idx[n_valid:n_valid + n_test])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def make_splits(name: str, sizes: dict[str, int], labels: dict[str, np.ndarray] | None = None, *,
                seed: int = 0, split_file: str | os.PathLike | None = None) -> Splits:
    """The ``train``/``valid``/``test`` splits of dataset ``name`` as indices into its sources.

    ``sizes`` maps source name (as returned by :mod:`~knas.data.readers`) to its length;
    ``labels`` (source -> labels) is needed for the stratified ``digits`` split.
    """
    get_spec(name)
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        n = sizes["train"]
        tr, va = _from_file(name, split_file, n) if split_file else _halves(n, rng)
        return {"train": ("train", tr), "valid": ("train", va), "test": ("test", np.arange(sizes["test"]))}
    if name in ("cifar100", "ImageNet16-120"):
        held = "test" if name == "cifar100" else "val"
        n = sizes[held]
        va, te = _from_file(name, split_file, n) if split_file else _halves(n, rng)
        return {"train": ("train", np.arange(sizes["train"])), "valid": (held, va), "test": (held, te)}
    # digits
    if split_file:
        _from_file(name, split_file, sizes["all"])  # raises: no official file
    if labels is None or "all" not in labels:
        raise ValueError("make_splits('digits', ...) needs labels={'all': y} for the stratified split")
    tr, va, te = _stratified(labels["all"], (0.6, 0.2, 0.2), rng)
    return {"train": ("all", tr), "valid": ("all", va), "test": ("all", te)}


def check_split_file(name: str, split_file: str | os.PathLike | None, key: str = "split_file"):
    """Check that dataset ``name`` can use ``split_file`` (None: always); returns the dataset spec.

    Called by :func:`knas.data.prepare` and, at parse time, by ``knas.config.check_config``
    (``key`` = ``data.split_file`` there)."""
    spec = get_spec(name)
    if split_file is None:
        return spec
    if spec.split_keys is None:
        raise ValueError(f"{key} = {str(split_file)!r}: dataset {name!r} has no official split file (NB201's are for cifar10, cifar100, ImageNet16-120); "
                         f"leave {key} unset (null)")
    if not Path(split_file).is_file():
        raise FileNotFoundError(f"{key}: split file {split_file} not found")
    return spec
