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
import math
from pathlib import Path
from typing import Any

from knas.nb201.space import index_of, validate

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
    """Answers ``query(arch, dataset)`` with the :data:`STANDARD_KEYS` for one benchmark.

    Subclasses implement :meth:`_lookup` (canonical arch string, checked dataset) and may
    return only the keys they know; :meth:`query` fills the rest with NaN.
    """

    kind: str = ""
    datasets: tuple[str, ...] = BENCHMARK_DATASETS
    extra_keys: tuple[str, ...] = ()  # backend-specific keys returned after the standard ones

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

    def query(self, arch: str, dataset: str) -> dict[str, float]:
        """The standard keys (then :attr:`extra_keys`) of ``arch`` (an NB201 string) on ``dataset``."""
        arch = validate(arch)
        self.check_dataset(dataset)
        found = self._lookup(arch, dataset)
        return {k: to_float(found.get(k)) for k in (*STANDARD_KEYS, *self.extra_keys)}

    @abc.abstractmethod
    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        """Known standard keys of a canonical ``arch``; raise :class:`TruthError` if it is absent."""

    def _missing(self, arch: str, detail: str = "") -> TruthError:
        return TruthError(
            f"architecture {arch} (NB201 index {index_of(arch)}) is not in the {self.kind!r} ground truth "
            f"{str(self.path)!r}" + (f": {detail}" if detail else "")
        )
