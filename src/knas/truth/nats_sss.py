"""NATS-Bench size search space (SSS) ground truth through the official ``nats_bench`` package.

``nats_bench.create(path, 'sss', fast_mode=...)`` on the archive directory
(``NATS-sss-v1_0-50262-simple``: ``meta.pickle.pbz2`` + one ``NNNNNN.pickle.pbz2`` per
architecture, read lazily, ``fast_mode=True``) or on the single ``.pickle.pbz2`` file
(``fast_mode=False``). Every query is ``get_more_info(index, setting, iepoch, hp, is_random=False)``:
the mean over the benchmark's seeds (the paper's metric; NATS-Bench issue #17).

Schedules (``hp``): ``"90"`` (the paper's full schedule, default), ``"12"``, ``"01"``.

Datasets and splits, the NB201 convention of :mod:`knas.truth.base`:

============== ===================================== =====================================
dataset        ``valid``                             ``test``
============== ===================================== =====================================
cifar10        ``cifar10-valid`` x-valid             ``cifar10`` ori-test
cifar10-valid  ``cifar10-valid`` x-valid             ``cifar10-valid`` ori-test
cifar100       ``cifar100`` x-valid                  ``cifar100`` x-test
ImageNet16-120 ``ImageNet16-120`` x-valid            ``ImageNet16-120`` x-test
============== ===================================== =====================================

``train`` is the training accuracy and the training time is ``train-all-time``, both of the run
behind ``valid``. The package unpickles its files fully: use files from a trusted source.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .base import Oracle, TruthError

HPS = ("90", "12", "01")
DATASETS = ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120")
_SETTINGS = {  # dataset -> (setting of valid / train, setting of test)
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar10-valid": ("cifar10-valid", "cifar10-valid"),
    "cifar100": ("cifar100", "cifar100"),
    "ImageNet16-120": ("ImageNet16-120", "ImageNet16-120"),
}
META = "meta.pickle.pbz2"
EXT = "pickle.pbz2"


class NATSSizeTruthError(TruthError):
    """A NATS-Bench SSS file or query is invalid; the message says what and where."""


def check_hp(hp: Any) -> str:
    hp = str(hp).zfill(2) if str(hp).isdigit() else str(hp)
    if hp not in HPS:
        raise NATSSizeTruthError(f"unknown NATS-Bench SSS schedule hp={hp!r}; allowed: {', '.join(HPS)}")
    return hp


KEYS = ("valid_acc", "test_acc", "train_loss",
        *(f"{k}_{int(hp)}ep" for hp in HPS for k in ("valid_acc", "test_acc", "train_seconds")))


class NATSSizeTruth(Oracle):
    """Results of a NATS-Bench SSS archive (see the module docstring). ``valid_acc``, ``test_acc``,
    ``train_loss`` are those of schedule ``hp``; ``<key>_<e>ep`` those of every schedule."""

    kind = "nats_sss"
    space = "nats_sss"
    datasets = DATASETS
    keys = KEYS
    fidelities = {int(hp): (f"valid_acc_{int(hp)}ep", f"test_acc_{int(hp)}ep", f"train_seconds_{int(hp)}ep")
                  for hp in HPS}

    def __init__(self, path: str | Path, hp: str = "90", fast_mode: bool | None = None):
        import nats_bench

        super().__init__(Path(path))
        self.hp = check_hp(hp)
        if self.path.is_dir():
            if not (self.path / META).is_file():
                raise NATSSizeTruthError(f"{str(path)!r} is a directory without {META}: not a NATS-Bench SSS archive")
        elif not self.path.is_file():
            raise NATSSizeTruthError(f"NATS-Bench SSS benchmark {str(path)!r} does not exist")
        fast = self.path.is_dir() if fast_mode is None else fast_mode
        try:
            self.api = nats_bench.create(str(self.path), "sss", fast_mode=fast, verbose=False)
        except MemoryError:
            raise
        except Exception as err:  # foreign/corrupt files: unpickling errors, the package's key checks
            raise NATSSizeTruthError(
                f"{str(path)!r} is not a NATS-Bench SSS benchmark ({type(err).__name__}: {err})") from err
        self._space = self.search_space
        if len(self.api.meta_archs) != self._space.size:
            raise NATSSizeTruthError(
                f"{str(path)!r} lists {len(self.api.meta_archs)} architectures; NATS-Bench SSS has {self._space.size}")

    def __repr__(self) -> str:
        return f"NATSSizeTruth(path={str(self.path)!r}, hp={self.hp!r})"

    @property
    def full_epochs(self) -> int:
        return int(self.hp)

    def _index(self, arch: str) -> int:
        index = self._space.index_of(arch)
        if self.api.meta_archs[index] != self._space.validate(arch):
            raise NATSSizeTruthError(
                f"{str(self.path)!r}: index {index} is {self.api.meta_archs[index]!r}, not {arch!r} "
                "(the archive's order is not the benchmark's)")
        if index not in self.api.arch2infos_dict and self.api.fast_mode:
            root = Path(self.api.archive_dir)
            if not any((root / f"{name}.{EXT}").is_file() for name in (f"{index:06d}", str(index))):
                raise NATSSizeTruthError(
                    f"architecture {arch} (index {index}) has no file {index:06d}.{EXT} in {str(root)!r}")
        return index

    def info(self, arch: str, setting: str, hp: str | None = None, iepoch: int | None = None) -> dict[str, Any]:
        """``get_more_info`` of one benchmark setting (``cifar10-valid``, ``cifar10``, ...)."""
        hp = self.hp if hp is None else check_hp(hp)
        index = self._index(arch)
        self.api._prepare_info(index)
        if index not in self.api.arch2infos_dict:
            raise NATSSizeTruthError(f"architecture {arch} (index {index}) has no results in {str(self.path)!r}")
        results = self.api.arch2infos_dict[index]
        if hp not in results or setting not in results[hp].get_dataset_names():
            raise NATSSizeTruthError(f"architecture {arch} (index {index}) has no hp={hp} results on {setting}")
        return self.api.get_more_info(index, setting, iepoch=iepoch, hp=hp, is_random=False)

    def _settings(self, dataset: str) -> tuple[str, str]:
        if dataset not in _SETTINGS:
            raise NATSSizeTruthError(f"unknown dataset {dataset!r} for NATS-Bench SSS; allowed: {', '.join(DATASETS)}")
        return _SETTINGS[dataset]

    def _accuracy(self, arch: str, dataset: str, split: str, hp: str | None, iepoch: int | None) -> float:
        valid_setting, test_setting = self._settings(dataset)
        if split == "valid":
            return float(self.info(arch, valid_setting, hp, iepoch)["valid-accuracy"])
        if split == "test":
            return float(self.info(arch, test_setting, hp, iepoch)["test-accuracy"])
        if split == "train":
            return float(self.info(arch, valid_setting, hp, iepoch)["train-accuracy"])
        raise NATSSizeTruthError(f"unknown split {split!r}; allowed: valid, test, train")

    def final_accuracy(self, arch: str, dataset: str, split: str = "valid", epochs: int | None = None) -> float:
        """Accuracy (%) after the last epoch of the ``epochs``-epoch schedule (90, 12 or 1;
        default: this reader's ``hp``); ``split`` valid, test or train."""
        return self._accuracy(self.validate(arch), dataset, split, self._hp(epochs), None)

    def accuracy_at(self, arch: str, epoch: int, dataset: str, split: str = "valid", epochs: int | None = None) -> float:
        """Accuracy (%) after ``epoch`` epochs (1-based) of the ``epochs``-epoch schedule (the
        benchmark records every epoch)."""
        hp = self._hp(epochs)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or not 1 <= epoch <= int(hp):
            raise NATSSizeTruthError(f"epoch {epoch!r}: the hp={hp} schedule has epochs 1..{int(hp)}")
        return self._accuracy(self.validate(arch), dataset, split, hp, epoch - 1)

    def train_seconds(self, arch: str, dataset: str, epochs: int | None = None) -> float:
        """Recorded training time (s) of the run behind ``valid`` (``train-all-time``, seed mean)."""
        return float(self.info(self.validate(arch), self._settings(dataset)[0], self._hp(epochs))["train-all-time"])

    def _hp(self, epochs: int | None) -> str:
        return self.hp if epochs is None else check_hp(self.check_epochs(epochs))

    def _lookup(self, arch: str, dataset: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for hp in HPS:
            sfx = f"_{int(hp)}ep"
            try:
                out[f"valid_acc{sfx}"] = self._accuracy(arch, dataset, "valid", hp, None)
                out[f"test_acc{sfx}"] = self._accuracy(arch, dataset, "test", hp, None)
                out[f"train_seconds{sfx}"] = float(self.info(arch, self._settings(dataset)[0], hp)["train-all-time"])
            except NATSSizeTruthError:
                if hp == self.hp:
                    raise
                out.update({f"valid_acc{sfx}": math.nan, f"test_acc{sfx}": math.nan, f"train_seconds{sfx}": math.nan})
        sfx = f"_{int(self.hp)}ep"
        out["valid_acc"], out["test_acc"] = out[f"valid_acc{sfx}"], out[f"test_acc{sfx}"]
        out["train_loss"] = float(self.info(arch, self._settings(dataset)[0], self.hp)["train-loss"])
        return out
