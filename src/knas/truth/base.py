"""What every ground-truth backend answers: the standard keys, the datasets, the Oracle base class.

Standard keys (accuracies in %, times in seconds, NaN when the backend does not know):

- ``valid_acc``, ``test_acc``: after the full (200-epoch) schedule.
  NB201 / NATS-Bench convention, mean over the benchmark's seeds:

  ========== ============================================ ============================================
  dataset    ``valid_acc``                                ``test_acc``
  ========== ============================================ ============================================
  cifar10    ``cifar10-valid`` (trained on 25k), x-valid  ``cifar10`` (trained on 50k), ori-test
  cifar100   ``cifar100``, x-valid (half of the test set) ``cifar100``, x-test (the other half)
  ImNet16    ``ImageNet16-120``, x-valid (half of val)    ``ImageNet16-120``, x-test (other half)
  ========== ============================================ ============================================

  For cifar10 the two numbers therefore come from *different* training runs.
- ``valid_acc_12ep``, ``test_acc_12ep``: the same after the 12-epoch schedule (``hp='12'``).
- ``train_seconds_200ep``, ``train_seconds_12ep``: the benchmark's recorded training time of the
  run behind ``valid_acc`` (``train-all-time``; for cifar10 the ``cifar10-valid`` run, as NB201's
  ``simulate_train_eval`` counts it), mean over seeds.
- ``train_loss``: last-epoch training loss of that same run (200-epoch schedule).
"""
from __future__ import annotations

import abc
import copy
import math
from pathlib import Path
from typing import Any


STANDARD_KEYS: tuple[str, ...] = (
    "valid_acc",
    "test_acc",
    "valid_acc_12ep",
    "test_acc_12ep",
    "train_seconds_200ep",
    "train_seconds_12ep",
    "train_loss",
)
BENCHMARK_DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
PATH_KEY = "truth.path"  # config keys named in error messages
KIND_KEY = "truth.benchmark"


class TruthError(ValueError):
    """A ground-truth query or benchmark file is invalid; the message says what and where."""


def to_float(value: Any) -> float:
    """``None`` -> NaN; numbers (python or numpy) -> python float."""
    return math.nan if value is None else float(value)


class Oracle(abc.ABC):
    """Answers ``query(arch, dataset)`` with the :attr:`keys` for one benchmark.

    Subclasses implement :meth:`_lookup` (canonical arch string, checked dataset) and may
    return only the keys they know; :meth:`query` fills the rest with NaN. Architectures are
    strings of the search space :attr:`space` (a name of :mod:`knas.spaces`).

    Beside the table row, the queries the papers need: :meth:`final_accuracy` (per dataset and
    split), :meth:`accuracy_at` (after ``epoch`` epochs: the schedules in :attr:`fidelities`, or
    any epoch where a backend records every epoch) and :meth:`train_seconds`.
    """

    kind: str = ""
    space: str | None = "nb201"  # None: strings are taken as they are (tests' toy spaces)
    dataset: str | None = None  # the search dataset: the default of fidelity()
    datasets: tuple[str, ...] = BENCHMARK_DATASETS
    keys: tuple[str, ...] = STANDARD_KEYS  # the row of every architecture (NB201's standard keys)
    extra_keys: tuple[str, ...] = ()  # backend-specific keys returned after the standard ones
    # schedule length (epochs) -> (valid accuracy key, test accuracy key, training seconds key)
    fidelities: dict[int, tuple[str, str, str]] = {
        200: ("valid_acc", "test_acc", "train_seconds_200ep"),
        12: ("valid_acc_12ep", "test_acc_12ep", "train_seconds_12ep"),
    }

    def __init__(self, path: Path | None):
        self.path = path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, path={str(self.path)!r})"

    def check_dataset(self, dataset: str) -> str:
        if dataset not in self.datasets:
            raise TruthError(
                f"unknown dataset {dataset!r} for the {self.kind!r} ground truth; allowed: {', '.join(self.datasets)}"
            )
        return dataset

    @property
    def search_space(self):
        from knas.spaces import get_space

        return get_space(self.space)

    def validate(self, arch: str) -> str:
        """Canonical string of ``arch`` in this benchmark's space (ValueError naming the bad part)."""
        return arch if self.space is None else self.search_space.validate(arch)

    def query(self, arch: str, dataset: str) -> dict[str, float]:
        """The :attr:`keys` (then :attr:`extra_keys`) of ``arch`` on ``dataset`` (memoised)."""
        memo = self.__dict__.setdefault("_memo", {})
        hit = memo.get((arch, dataset))
        if hit is None:
            canon = self.validate(arch)
            self.check_dataset(dataset)
            found = self._lookup(canon, dataset)
            hit = memo[arch, dataset] = {k: to_float(found.get(k)) for k in (*self.keys, *self.extra_keys)}
        return dict(hit)

    def with_dataset(self, dataset: str) -> "Oracle":
        """A copy of this oracle whose default (search) dataset is ``dataset``."""
        other = copy.copy(self)
        other.dataset = self.check_dataset(dataset)
        return other

    def fidelity(self, arch: str, dataset: str | None = None, epochs: int | None = None) -> dict[str, float]:
        """What a search "training" of ``arch`` returns: ``{valid_acc, test_acc, train_seconds}``
        after the ``epochs``-epoch schedule (default: the full one) on ``dataset`` (default: the
        search dataset :attr:`dataset`)."""
        ds = self.dataset if dataset is None else dataset
        if ds is None:
            raise TruthError(f"no dataset given and the {self.kind!r} oracle has no search dataset (with_dataset)")
        keys = self.fidelities[self.check_epochs(self.full_epochs if epochs is None else epochs)]
        rec = self.query(arch, ds)
        return {"valid_acc": rec[keys[0]], "test_acc": rec[keys[1]], "train_seconds": rec[keys[2]]}

    def check_epochs(self, epochs: int) -> int:
        if epochs not in self.fidelities:
            raise TruthError(f"epochs={epochs!r}: the {self.kind!r} ground truth records schedules of "
                             f"{', '.join(map(str, sorted(self.fidelities)))} epochs")
        return epochs

    @property
    def full_epochs(self) -> int:
        """The benchmark's full schedule (the one ``valid_acc`` / ``test_acc`` hold)."""
        return max(self.fidelities)

    def final_accuracy(self, arch: str, dataset: str, split: str = "valid", epochs: int | None = None) -> float:
        """Accuracy (%) at the end of the ``epochs``-epoch schedule (default: the full one);
        ``split`` is ``valid`` or ``test`` (the dataset conventions of the module docstring)."""
        if split not in ("valid", "test"):
            raise TruthError(f"unknown split {split!r}; allowed: valid, test")
        keys = self.fidelities[self.check_epochs(self.full_epochs if epochs is None else epochs)]
        return self.query(arch, dataset)[keys[0] if split == "valid" else keys[1]]

    def accuracy_at(self, arch: str, epoch: int, dataset: str, split: str = "valid") -> float:
        """Accuracy (%) after ``epoch`` epochs: here the end of an ``epoch``-epoch schedule
        (backends recording every epoch of a schedule override this)."""
        return self.final_accuracy(arch, dataset, split, epoch)

    def train_seconds(self, arch: str, dataset: str, epochs: int | None = None) -> float:
        """Recorded training time (s) of the run behind ``valid`` for the ``epochs`` schedule."""
        keys = self.fidelities[self.check_epochs(self.full_epochs if epochs is None else epochs)]
        return self.query(arch, dataset)[keys[2]]

    @abc.abstractmethod
    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        """Known standard keys of a canonical ``arch``; raise :class:`TruthError` if it is absent."""

    def _missing(self, arch: str, detail: str = "") -> TruthError:
        space = self.search_space
        key = f"{space.name} {'index' if space.has_index and space.index_is_benchmark else 'key'} {space.key(arch)}"
        return TruthError(
            f"architecture {arch} ({key}) is not in the {self.kind!r} ground truth "
            f"{str(self.path)!r}" + (f": {detail}" if detail else "")
        )
