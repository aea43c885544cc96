"""Datasets without torchvision: download, read the official formats, split as NB201, cache, batch.

Config names: ``cifar10``, ``cifar100``, ``ImageNet16-120``, ``digits``.

Usage::

    from knas import data
    data.prepare("cifar10", "resources/data", "results/x/data/cifar10.npz", download=True)
    d = data.load_prepared("results/x/data/cifar10.npz")
    x, y = data.sample_batch(d, "train", 64, seed=42, augment=True, device="cuda")
    for xb, yb in data.iterate_batches(d, "train", 256, shuffle=True, augment=True,
                                       generator=torch.Generator().manual_seed(0)):
        ...

Modules: :mod:`.specs` (what each dataset is), :mod:`.download`, :mod:`.readers`, :mod:`.splits`,
:mod:`.prepared` (the ``.npz`` cache), :mod:`.transforms`, :mod:`.loader`; :mod:`.files` (md5 sums and
messages, the leaf the others import). The torch-based names load on first access, so importing
the package (e.g. from the Snakefile) does not import torch.
"""
from __future__ import annotations

from knas.lazy import lazy_attributes

from .download import DownloadError, download, download_raw
from .files import md5sum
from .readers import MissingRawDataError, read_cifar, read_digits, read_imagenet16, read_raw
from .specs import DATASETS, DatasetSpec, get_spec, md5_of, raw_files, url_of
from .splits import make_splits, read_split_file

# torch-based names, loaded on first access: the workflow's parse (raw_files, url_of) needs no torch
_LAZY = {
    "iterate_batches": "loader",
    "sample_batch": "loader",
    "sample_batches": "loader",
    "PreparedData": "prepared",
    "load_prepared": "prepared",
    "prepare": "prepared",
    "normalize": "transforms",
    "random_crop_flip": "transforms",
}

__all__ = [
    "DATASETS", "DatasetSpec", "DownloadError", "MissingRawDataError", "PreparedData",
    "download", "download_raw", "get_spec", "iterate_batches", "load_prepared", "make_splits",
    "md5_of", "md5sum", "normalize", "prepare", "random_crop_flip", "raw_files", "read_cifar",
    "read_digits", "read_imagenet16", "read_raw", "read_split_file", "sample_batch", "sample_batches", "url_of",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
