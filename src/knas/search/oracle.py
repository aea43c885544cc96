"""The benchmark as oracle: what "training" an architecture returns during a search.

Every oracle gives, per architecture and dataset, a *record* with the keys of
:data:`RECORD_KEYS` (the keys of ``knas.truth``'s ``query(arch, dataset)``), NaN where the
benchmark has no value. :meth:`Oracle.query` selects one fidelity from it:

* ``epochs=200``: ``valid_acc``, ``test_acc``, ``train_seconds`` (= ``train_seconds_200ep``);
* ``epochs=12``: the 12-epoch schedule's ``valid_acc_12ep``, ``test_acc_12ep``,
  ``train_seconds_12ep`` (NB201's REA / random search / KNAS select on these).

Two implementations:

* :class:`TableOracle`: any DataFrame with one row per architecture, given a mapping
  ``{dataset: {record key: column}}`` (tests use the reference export this way);
* :class:`TruthOracle`: an adapter over ``knas.truth.load_oracle(kind, path)`` (``table``,
  ``nb201``, ``nats_tss`` benchmarks, or ``train``: our own training runs); :func:`load_truth_oracle`
  builds one.

Accuracies are in percent, as the benchmark reports them.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

RECORD_KEYS = (
    "valid_acc",
    "test_acc",
    "train_seconds_200ep",
    "valid_acc_12ep",
    "test_acc_12ep",
    "train_seconds_12ep",
)
FIDELITIES = {
    200: ("valid_acc", "test_acc", "train_seconds_200ep"),
    12: ("valid_acc_12ep", "test_acc_12ep", "train_seconds_12ep"),
}
BENCHMARK_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
TRUTH_KINDS = ("table", "nb201", "nats_tss", "train")  # knas.truth.BENCHMARKS


def check_epochs(epochs: int) -> int:
    if epochs not in FIDELITIES:
        raise ValueError(f"epochs={epochs!r}: the benchmark records only {sorted(FIDELITIES)} epochs")
    return epochs


class Oracle:
    """Base class. Subclasses set ``datasets`` (what they know) and ``dataset`` (the search
    dataset, the default of :meth:`query`) and implement :meth:`record`."""

    datasets: tuple[str, ...] = ()
    dataset: str = ""

    def record(self, arch: str, dataset: str) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _dataset(self, dataset: str | None) -> str:
        ds = self.dataset if dataset is None else dataset
        if ds not in self.datasets:
            raise ValueError(f"oracle has no dataset {ds!r}; allowed: {', '.join(self.datasets)}")
        return ds

    def query(self, arch: str, dataset: str | None = None, epochs: int = 200) -> dict[str, float]:
        """``{valid_acc, test_acc, train_seconds}`` of ``arch`` on ``dataset`` after ``epochs`` (12 or 200)."""
        keys = FIDELITIES[check_epochs(epochs)]
        rec = self.record(arch, self._dataset(dataset))
        return {"valid_acc": rec[keys[0]], "test_acc": rec[keys[1]], "train_seconds": rec[keys[2]]}

    def with_dataset(self, dataset: str) -> "Oracle":
        """A copy of this oracle whose default (search) dataset is ``dataset``."""
        import copy

        other = copy.copy(self)
        other.dataset = self._dataset(dataset)
        return other


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


class TableOracle(Oracle):
    """An oracle read from a DataFrame with one row per architecture.

    ``columns`` maps each dataset to ``{record key: column name}``; keys not mapped are NaN.
    Example (the reference export)::

        TableOracle(df, {"cifar10": {"valid_acc": "cifar10_valid_valid_acc_200ep",
                                     "test_acc": "cifar10_test_acc_200ep"}}, arch_col="arch_str")

    ``canonical`` (optional) maps each table string to the search space's canonical string.
    """

    def __init__(
        self,
        frame,
        columns: Mapping[str, Mapping[str, str]],
        *,
        arch_col: str = "arch",
        dataset: str | None = None,
        canonical=None,
    ):
        if arch_col not in frame.columns:
            raise ValueError(f"oracle table has no architecture column {arch_col!r}; columns: {list(frame.columns)}")
        if not columns:
            raise ValueError("TableOracle needs at least one dataset in `columns`")
        archs = [canonical(a) if canonical else a for a in frame[arch_col].tolist()]
        if len(set(archs)) != len(archs):
            raise ValueError("oracle table lists an architecture twice")
        self._row = {a: i for i, a in enumerate(archs)}
        self._values: dict[str, dict[str, list[float]]] = {}
        for ds, mapping in columns.items():
            bad = sorted(set(mapping) - set(RECORD_KEYS))
            if bad:
                raise ValueError(f"dataset {ds!r}: unknown record key(s) {bad}; allowed: {', '.join(RECORD_KEYS)}")
            missing = [c for c in mapping.values() if c not in frame.columns]
            if missing:
                raise ValueError(f"dataset {ds!r}: column(s) {missing} not in the oracle table")
            self._values[ds] = {k: frame[c].astype(float).tolist() for k, c in mapping.items()}
        self.datasets = tuple(columns)
        self.dataset = self._dataset(dataset if dataset is not None else self.datasets[0])

    def __len__(self) -> int:
        return len(self._row)

    def record(self, arch: str, dataset: str) -> dict[str, float]:
        try:
            i = self._row[arch]
        except KeyError:
            raise ValueError(f"architecture {arch!r} is not in the oracle table") from None
        vals = self._values[dataset]
        return {k: (vals[k][i] if k in vals else math.nan) for k in RECORD_KEYS}


class TruthOracle(Oracle):
    """Adapter over a ``knas.truth`` oracle (``truth.query(arch, dataset) -> dict``).

    Missing keys are NaN; results are memoised per (arch, dataset), so repeated runs over the
    same benchmark do not query the backend again.
    """

    def __init__(self, truth, dataset: str, datasets: Sequence[str] | None = None):
        self.truth = truth
        self.datasets = tuple(datasets or getattr(truth, "datasets", None) or BENCHMARK_DATASETS)
        self.dataset = self._dataset(dataset)
        self._memo: dict[tuple[str, str], dict[str, float]] = {}

    def record(self, arch: str, dataset: str) -> dict[str, float]:
        key = (arch, dataset)
        if key not in self._memo:
            raw = self.truth.query(arch, dataset)
            self._memo[key] = {k: _float(raw.get(k, math.nan)) for k in RECORD_KEYS}
        return self._memo[key]


def load_truth_oracle(kind: str, path: str, dataset: str, datasets: Sequence[str] | None = None,
                      **options) -> TruthOracle:
    """Open a benchmark with ``knas.truth.load_oracle(kind, path, **options)`` and adapt it;
    ``dataset`` is the search dataset, ``datasets`` those reported (default: the backend's)."""
    if kind not in TRUTH_KINDS:
        raise ValueError(f"unknown benchmark kind {kind!r}; allowed: {', '.join(TRUTH_KINDS)}")
    try:
        from knas.truth import load_oracle
    except ImportError as err:  # pragma: no cover - depends on the installed package
        raise RuntimeError(f"knas.truth is needed to read benchmark {path!r}: {err}") from err
    return TruthOracle(load_oracle(kind, path, **options), dataset, datasets)
