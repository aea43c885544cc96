"""The benchmark as oracle: what "training" an architecture returns during a search.

There is one ground-truth interface, :class:`knas.truth.base.Oracle`: the truth stage queries its
rows (``query(arch, dataset)``), a search "trains" with :meth:`~knas.truth.base.Oracle.fidelity`
(``{valid_acc, test_acc, train_seconds}`` after one of the oracle's schedules,
:attr:`~knas.truth.base.Oracle.fidelities`: 200 / 12 epochs for NB201, 90 / 12 / 1 for NATS-SSS,
108 / 36 / 12 / 4 for NB101) on its search dataset (``with_dataset``). This module only names
them for the search layer:

* :data:`TableOracle`: :class:`knas.truth.table.FrameOracle`, any DataFrame with one row per
  architecture and an explicit ``{dataset: {key: column}}`` mapping (tests use the reference
  export this way);
* :func:`load_truth_oracle`: ``knas.truth.load_oracle(kind, path)`` with a search dataset.

Accuracies are in percent, as the benchmark reports them.
"""
from __future__ import annotations

from typing import Sequence

from knas.truth import BENCHMARKS as TRUTH_KINDS
from knas.truth.base import BENCHMARK_DATASETS, Oracle, TruthError
from knas.truth.table import FrameOracle as TableOracle

RECORD_KEYS = tuple(k for keys in Oracle.fidelities.values() for k in keys)  # NB201's schedules

__all__ = ["BENCHMARK_DATASETS", "RECORD_KEYS", "TRUTH_KINDS", "Oracle", "TableOracle", "load_truth_oracle"]


def load_truth_oracle(kind: str, path: str, dataset: str, datasets: Sequence[str] | None = None,
                      **options) -> Oracle:
    """Open a benchmark with ``knas.truth.load_oracle(kind, path, **options)`` for a search on
    ``dataset``; ``datasets`` those reported (default: all the backend knows)."""
    if kind not in TRUTH_KINDS:
        raise ValueError(f"unknown benchmark kind {kind!r}; allowed: {', '.join(TRUTH_KINDS)}")
    from knas.truth import load_oracle

    oracle = load_oracle(kind, path, **options).with_dataset(dataset)
    if datasets is not None:
        bad = sorted(set(datasets) - set(oracle.datasets))
        if bad:
            raise TruthError(f"the {kind!r} ground truth has no dataset(s) {bad}; allowed: {', '.join(oracle.datasets)}")
        oracle.datasets = tuple(datasets)
    return oracle


def check_epochs(epochs) -> int:
    """Parse-time check of a strategy's ``epochs`` parameter: a schedule some benchmark records
    (the search job checks it again against the configured benchmark's own schedules)."""
    from knas.truth.nats_sss import NATSSizeTruth
    from knas.truth.nb101 import NB101Truth

    known = {"nb201/nats_tss": sorted(Oracle.fidelities), "nats_sss": sorted(NATSSizeTruth.fidelities),
             "nb101": sorted(NB101Truth.fidelities)}
    if isinstance(epochs, bool) or not any(epochs in v for v in known.values()):
        raise ValueError(f"epochs={epochs!r}: the benchmarks record only "
                         + "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in known.items()) + " epochs")
    return epochs
