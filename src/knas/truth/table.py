"""Ground truth from a CSV table with one row per architecture (``truth.benchmark: table``).

The table needs ``arch_str`` (NB201 string) and/or ``nb201_index`` (benchmark index); when it has
both they must agree with :func:`knas.nb201.index_of`. Standard keys are read from these columns,
first match wins (``{p}`` = ``cifar10`` | ``cifar100`` | ``imagenet16_120``)::

    valid_acc            cifar10_valid_valid_acc_200ep (cifar10 only), {p}_valid_acc_200ep
    test_acc             {p}_test_acc_200ep
    valid_acc_12ep       cifar10_valid_valid_acc_12ep (cifar10 only), {p}_valid_acc_12ep
    test_acc_12ep        {p}_test_acc_12ep, {p}_test_acc_12ep_1seed
    train_seconds_200ep  {p}_train_seconds_200ep
    train_seconds_12ep   {p}_train_seconds_12ep
    train_loss           {p}_train_loss_200ep

A key without a column is NaN. The public export of NB201 (``nb201_accuracy.csv``: 200-epoch test
accuracy of all three datasets, cifar10-valid validation accuracy, 12-epoch test accuracy of one
seed) fits this layout. Its ``cifar10_valid_test_acc_200ep`` (test accuracy of the 25k-image
cifar10-valid run) is not a standard key and is not read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knas.nb201.space import arch_of, index_of, validate

from .base import PATH_KEY, STANDARD_KEYS, Oracle, TruthError

ACCURACY_KEYS = ("valid_acc", "test_acc", "valid_acc_12ep", "test_acc_12ep")
PREFIX = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16_120"}
ID_COLUMNS = ("arch_str", "nb201_index")


def candidate_columns(dataset: str, key: str) -> list[str]:
    """Column names that may hold standard ``key`` of ``dataset``, in order of preference."""
    p = PREFIX[dataset]
    c10 = dataset == "cifar10"
    return {
        "valid_acc": ["cifar10_valid_valid_acc_200ep"] * c10 + [f"{p}_valid_acc_200ep"],
        "test_acc": [f"{p}_test_acc_200ep"],
        "valid_acc_12ep": ["cifar10_valid_valid_acc_12ep"] * c10 + [f"{p}_valid_acc_12ep"],
        "test_acc_12ep": [f"{p}_test_acc_12ep", f"{p}_test_acc_12ep_1seed"],
        "train_seconds_200ep": [f"{p}_train_seconds_200ep"],
        "train_seconds_12ep": [f"{p}_train_seconds_12ep"],
        "train_loss": [f"{p}_train_loss_200ep"],
    }[key]


def _table_archs(df: pd.DataFrame, path: Path) -> list[str]:
    """Canonical arch string of every row (checked against ``nb201_index`` when both exist)."""
    if "arch_str" in df.columns:
        archs = []
        for row, a in enumerate(df["arch_str"]):
            try:
                archs.append(validate(a))
            except ValueError as err:
                raise TruthError(f"{PATH_KEY} = {str(path)!r}, row {row}: {err}") from None
        if "nb201_index" in df.columns:
            for row, (a, i) in enumerate(zip(archs, df["nb201_index"])):
                if index_of(a) != int(i):
                    raise TruthError(
                        f"{PATH_KEY} = {str(path)!r}, row {row}: nb201_index {int(i)} but {a} has NB201 "
                        f"index {index_of(a)}; the table does not use the NB201 / NATS-Bench index order"
                    )
        return archs
    idx = df["nb201_index"]
    try:
        return [arch_of(int(i)) for i in idx]
    except (ValueError, TypeError) as err:
        raise TruthError(f"{PATH_KEY} = {str(path)!r}: bad nb201_index: {err}") from None


class TableOracle(Oracle):
    """Standard keys from a CSV (or parquet) table; see the module docstring for the columns."""

    kind = "table"

    def __init__(self, path: Path):
        super().__init__(path)
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        if not any(c in df.columns for c in ID_COLUMNS):
            raise TruthError(
                f"{PATH_KEY} = {str(path)!r}: a truth table needs a column {' or '.join(ID_COLUMNS)}; "
                f"found {', '.join(map(str, df.columns))}"
            )
        self.header = list(df.columns)
        archs = _table_archs(df, path)
        self.rows: dict[str, int] = {}
        for row, a in enumerate(archs):
            if a in self.rows:
                raise TruthError(f"{PATH_KEY} = {str(path)!r}: {a} appears twice (rows {self.rows[a]} and {row})")
            self.rows[a] = row
        # (dataset, key) -> float64 column (N,), for the keys the table has
        self.columns: dict[tuple[str, str], np.ndarray] = {}
        for dataset in PREFIX:
            for key in STANDARD_KEYS:
                col = next((c for c in candidate_columns(dataset, key) if c in df.columns), None)
                if col is not None:
                    try:
                        values = pd.to_numeric(df[col], errors="raise").to_numpy(np.float64)
                    except (ValueError, TypeError) as err:
                        raise TruthError(f"{PATH_KEY} = {str(path)!r}: column {col!r} is not numeric ({err})") from None
                    self.columns[dataset, key] = values

    def check_dataset(self, dataset: str) -> str:
        """The dataset must be a benchmark dataset and the table must hold accuracies for it."""
        super().check_dataset(dataset)
        known = [key for key in ACCURACY_KEYS if (dataset, key) in self.columns
                 and np.isfinite(self.columns[dataset, key]).any()]
        if not known:
            wanted = [c for key in ACCURACY_KEYS for c in candidate_columns(dataset, key)]
            raise TruthError(
                f"{PATH_KEY} = {str(self.path)!r}: no accuracy values for dataset {dataset!r}; the table needs "
                f"at least one of the columns {', '.join(wanted)} with values (found columns: "
                f"{', '.join(map(str, self.header))})"
            )
        return dataset

    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        row = self.rows.get(arch)
        if row is None:
            raise self._missing(arch, "no row for it")
        return {key: col[row] for (ds, key), col in self.columns.items() if ds == dataset}
