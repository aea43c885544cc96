"""What each dataset is: raw files (name, URL, md5), classes, normalisation and augmentation.

Config names: ``cifar10``, ``cifar100``, ``ImageNet16-120``, ``digits``. The numbers are NB201's
(``xautodl/datasets/get_dataset_with_transform.py``: mean/std, ``RandomCrop(32, padding=4)`` for
CIFAR and ``RandomCrop(16, padding=2)`` for ImageNet16, both with ``RandomHorizontalFlip``), and the
md5 sums are the ones torchvision and NB201 (``DownsampledImageNet.py``) check.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawFile:
    """One raw file, by its path relative to the raw-data folder (``data.root``)."""

    relpath: str
    md5: str
    url: str | None  # None: no automatic download (ImageNet16 needs an image-net.org login)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    num_classes: int
    input_shape: tuple[int, int, int]  # (C, H, W)
    mean: tuple[float, ...] | None  # None: computed on the train split at prepare time
    std: tuple[float, ...] | None
    padding: int  # zero padding of the random crop (train augmentation)
    flip: bool  # random horizontal flip (train augmentation)
    raw: tuple[RawFile, ...]  # canonical raw files (what a download produces)
    split_keys: tuple[str, str] | None  # keys of the official NB201 split file, None: no official file


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
IMAGENET16_PAGE = "https://image-net.org/download-images.php (Downsampled ImageNet 16x16, login required)"

# Members of the extracted CIFAR folders (accepted instead of the tarball), with torchvision's md5s.
CIFAR10_MEMBERS = {
    "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
    "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a",
    "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR100_MEMBERS = {
    "cifar-100-python/train": "16019d7e3df5f24257cddd939b257f8d",
    "cifar-100-python/test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
}
IMAGENET16_DIR = "ImageNet16"
IMAGENET16_MD5 = {
    "train_data_batch_1": "27846dcaa50de8e21a7d1a35f30f0e91",
    "train_data_batch_2": "c7254a054e0e795c69120a5727050e3f",
    "train_data_batch_3": "4333d3df2e5ffb114b05d2ffc19b1e87",
    "train_data_batch_4": "1620cdf193304f4a92677b695d70d10f",
    "train_data_batch_5": "348b3c2fdbb3940c4e9e834affd3b18d",
    "train_data_batch_6": "6e765307c242a1b3d7d5ef9139b48945",
    "train_data_batch_7": "564926d8cbf8fc4818ba23d2faac7564",
    "train_data_batch_8": "f4755871f718ccb653440b9dd0ebac66",
    "train_data_batch_9": "bb6dd660c38c58552125b1a92f86b5d4",
    "train_data_batch_10": "8f03f34ac4b42271a294f91bf480f29b",
    "val_data": "3410e3017fdaefba8d5073aaa65e4bd6",
}


def _rgb(values) -> tuple[float, ...]:
    return tuple(v / 255 for v in values)


DATASETS: dict[str, DatasetSpec] = {
    "cifar10": DatasetSpec(
        name="cifar10",
        num_classes=10,
        input_shape=(3, 32, 32),
        mean=_rgb([125.3, 123.0, 113.9]),
        std=_rgb([63.0, 62.1, 66.7]),
        padding=4,
        flip=True,
        raw=(RawFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", CIFAR10_URL),),
        split_keys=("train", "valid"),  # cifar-split.txt: a partition of the 50k train set
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        num_classes=100,
        input_shape=(3, 32, 32),
        mean=_rgb([129.3, 124.1, 112.4]),
        std=_rgb([68.2, 65.4, 70.4]),
        padding=4,
        flip=True,
        raw=(RawFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", CIFAR100_URL),),
        split_keys=("xvalid", "xtest"),  # cifar100-test-split.txt: halves of the 10k test set
    ),
    "ImageNet16-120": DatasetSpec(
        name="ImageNet16-120",
        num_classes=120,
        input_shape=(3, 16, 16),
        mean=_rgb([122.68, 116.66, 104.01]),
        std=_rgb([63.22, 61.26, 65.09]),
        padding=2,
        flip=True,
        raw=tuple(RawFile(f"{IMAGENET16_DIR}/{f}", m, None) for f, m in IMAGENET16_MD5.items()),
        split_keys=("xvalid", "xtest"),  # imagenet-16-120-test-split.txt: halves of the 6k val set
    ),
    "digits": DatasetSpec(
        name="digits",
        num_classes=10,
        input_shape=(3, 8, 8),
        mean=None,
        std=None,
        padding=1,
        flip=False,  # mirrored digits are other digits (or none)
        raw=(),  # bundled with scikit-learn
        split_keys=None,
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of a config name; ValueError naming the allowed names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}") from None


def raw_files(name: str) -> list[str]:
    """Canonical raw files of a dataset, relative to the raw-data folder (empty for ``digits``).

    CIFAR: the official tarball (its extracted folder is accepted too by :func:`~knas.data.prepare`).
    ImageNet16-120: ``ImageNet16/train_data_batch_1..10`` and ``ImageNet16/val_data``.
    """
    return [f.relpath for f in get_spec(name).raw]


def _raw_entry(name: str, relpath: str) -> RawFile:
    for f in get_spec(name).raw:
        if f.relpath == relpath:
            return f
    raise ValueError(f"{relpath!r} is not a raw file of dataset {name!r}; allowed: {', '.join(raw_files(name)) or '(none)'}")


def url_of(name: str, relpath: str) -> str | None:
    """Download URL of one raw file, or None when it cannot be downloaded automatically."""
    return _raw_entry(name, relpath).url


def md5_of(name: str, relpath: str) -> str:
    """Expected md5 of one raw file."""
    return _raw_entry(name, relpath).md5
