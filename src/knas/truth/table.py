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

Other spaces (``space=``):

* ``nats_sss``: ``arch_str`` (``c0:c1:c2:c3:c4``) and/or ``arch_index``; keys of
  :class:`knas.truth.nats_sss.NATSSizeTruth` from columns ``{p}_{valid|test}_acc_{e}ep`` and
  ``{p}_train_seconds_{e}ep`` (e = 90, 12, 1; cifar10 ``valid``: ``cifar10_valid_valid_acc_{e}ep``
  first), ``valid_acc`` / ``test_acc`` = the 90-epoch ones;
* ``nb101``: the tidy layout of shared/data/nb101.csv (``module_hash``, ``adj_upper_bits``,
  ``ops``, ``epochs``, ``metric``, ``agg``, ``value``): one row per (arch, epochs, metric, repeat);
  ``validation_accuracy`` / ``test_accuracy`` / ``training_time_s`` become ``valid_acc_{e}ep`` /
  ``test_acc_{e}ep`` / ``train_seconds_{e}ep`` (``valid_acc`` / ``test_acc`` = 108 epochs), taking
  per architecture the first available of: the mean over repeats (``agg = mean_of_3_repeats``), the
  mean of the ``single_repeat`` rows, any other single value (``single_random_repeat``, ``max_of_3_repeats...``);
  every row's ``module_hash`` must be the graph hash of its spec.
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
ID_COLUMNS = ("arch_str", "nb201_index", "arch_index", "module_hash")
NB101_METRICS = {"validation_accuracy": "valid_acc", "test_accuracy": "test_acc", "training_time_s": "train_seconds"}


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

    def __init__(self, path: Path, space: str = "nb201"):
        super().__init__(path)
        self.space = space
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(
            path, dtype={"adj_upper_bits": str} if space == "nb101" else None)
        if space != "nb201":
            self._other_space(df, path)
            return
        if not any(c in df.columns for c in ID_COLUMNS[:2]):
            raise TruthError(
                f"{PATH_KEY} = {str(path)!r}: a truth table needs a column {' or '.join(ID_COLUMNS[:2])}; "
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
        if self.space != "nb201":  # other spaces' tables are checked column by column in _other_space
            return dataset
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

    def _lookup_nb201(self, arch: str, dataset: str) -> dict[str, Any]:
        row = self.rows.get(arch)
        if row is None:
            raise self._missing(arch, "no row for it")
        return {key: col[row] for (ds, key), col in self.columns.items() if ds == dataset}

    # ---- other spaces ------------------------------------------------------------------------

    def _other_space(self, df: pd.DataFrame, path: Path) -> None:
        backend = {"nats_sss": ("nats_sss", "NATSSizeTruth"), "nb101": ("nb101", "NB101Truth")}.get(self.space)
        if backend is None:
            raise TruthError(f"the table ground truth does not know space {self.space!r}")
        import importlib

        cls = getattr(importlib.import_module(f"knas.truth.{backend[0]}"), backend[1])
        self.keys, self.fidelities, self.datasets = cls.keys, cls.fidelities, cls.datasets
        space = self.search_space
        where = f"{PATH_KEY} = {str(path)!r}"
        values: dict[tuple[str, str, str], float] = {}  # (arch, dataset, key) -> value
        if self.space == "nb101":
            need = {"module_hash", "adj_upper_bits", "ops", "epochs", "metric", "agg", "value"}
            if not need <= set(df.columns):
                raise TruthError(f"{where}: an NB101 table needs columns {', '.join(sorted(need))}")
            archs = {}
            for spec_key, h in {(b, o): h for b, o, h in zip(df.adj_upper_bits, df.ops, df.module_hash)}.items():
                b, o = spec_key
                try:
                    arch = space.validate(f"{b}:{','.join(str(o).split('|')[1:-1])}")
                except ValueError as err:
                    raise TruthError(f"{where}: {err}") from None
                if space.key(arch) != h:
                    raise TruthError(f"{where}: module_hash {h} is not the graph hash of {arch} ({space.key(arch)})")
                archs[spec_key] = arch
            df = df[df.metric.isin(NB101_METRICS)].assign(arch=[archs[k] for k in zip(
                df.adj_upper_bits[df.metric.isin(NB101_METRICS)], df.ops[df.metric.isin(NB101_METRICS)])])
            rank = np.where(df["agg"] == "mean_of_3_repeats", 0, np.where(df["agg"] == "single_repeat", 1, 2))
            df = df.assign(rank=rank)
            for (arch, e, metric), g in df.groupby(["arch", "epochs", "metric"]):
                best = g[g["rank"] == g["rank"].min()]
                v = float(best.value.mean()) if best["rank"].iloc[0] < 2 else float(best.value.iloc[0])
                key = f"{NB101_METRICS[metric]}_{int(e)}ep"
                values[arch, "cifar10", key] = v
                if int(e) == 108 and metric != "training_time_s":
                    values[arch, "cifar10", NB101_METRICS[metric]] = v
        else:  # nats_sss: one row per architecture
            if "arch_str" in df.columns:
                try:
                    archs = [space.validate(a) for a in df.arch_str]
                except ValueError as err:
                    raise TruthError(f"{where}: {err}") from None
                if "arch_index" in df.columns and any(space.index_of(a) != int(i) for a, i in zip(archs, df.arch_index)):
                    raise TruthError(f"{where}: arch_index does not follow the benchmark's index order")
            elif "arch_index" in df.columns:
                archs = [space.arch_of(int(i)) for i in df.arch_index]
            else:
                raise TruthError(f"{where}: a {self.space} table needs arch_str or arch_index")
            for dataset in PREFIX:
                p = PREFIX[dataset]
                for e, (vk, tk, sk) in self.fidelities.items():
                    cands = {vk: (["cifar10_valid_valid_acc_%dep" % e] if dataset == "cifar10" else [])
                             + [f"{p}_valid_acc_{e}ep"], tk: [f"{p}_test_acc_{e}ep"], sk: [f"{p}_train_seconds_{e}ep"]}
                    for key, cols in cands.items():
                        col = next((c for c in cols if c in df.columns), None)
                        if col is None:
                            continue
                        for a, v in zip(archs, pd.to_numeric(df[col], errors="raise")):
                            values[a, dataset, key] = float(v)
                            if e == 90 and key != sk:
                                values[a, dataset, key.rsplit("_", 1)[0]] = float(v)
        self._values = values
        self.rows = {a: i for i, a in enumerate(dict.fromkeys(a for a, _, _ in values))}

    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        if self.space == "nb201":
            return self._lookup_nb201(arch, dataset)
        if arch not in self.rows:
            raise self._missing(arch, "no row for it")
        return {k: self._values[arch, dataset, k] for k in self.keys if (arch, dataset, k) in self._values}


class FrameOracle(Oracle):
    """An oracle over a DataFrame with one row per architecture, given the columns explicitly:
    ``columns = {dataset: {key: column}}`` with keys among the schedules' keys
    (:attr:`Oracle.fidelities`: ``valid_acc``, ``test_acc``, ``train_seconds_200ep``,
    ``valid_acc_12ep``, ``test_acc_12ep``, ``train_seconds_12ep`` for NB201); unmapped keys are
    NaN. Example (the shared NB201 export)::

        FrameOracle(df, {"cifar10": {"valid_acc": "cifar10_valid_valid_acc_200ep",
                                     "test_acc": "cifar10_test_acc_200ep"}}, arch_col="arch_str")

    ``canonical`` (optional) maps each table string to the search space's canonical string;
    ``space=None`` (default) takes strings as they are, any dataset names allowed.
    """

    kind = "table"

    def __init__(self, frame, columns, *, arch_col: str = "arch", dataset: str | None = None, canonical=None,
                 space: str | None = None):
        super().__init__(None)
        self.space = space
        if arch_col not in frame.columns:
            raise TruthError(f"oracle table has no architecture column {arch_col!r}; columns: {list(frame.columns)}")
        if not columns:
            raise TruthError("a table oracle needs at least one dataset in `columns`")
        archs = [canonical(a) if canonical else a for a in frame[arch_col].tolist()]
        if len(set(archs)) != len(archs):
            raise TruthError("oracle table lists an architecture twice")
        self._row = {a: i for i, a in enumerate(archs)}
        allowed = [k for f in self.fidelities.values() for k in f]
        self._values: dict[str, dict[str, list[float]]] = {}
        for ds, mapping in columns.items():
            bad = sorted(set(mapping) - set(allowed))
            if bad:
                raise TruthError(f"dataset {ds!r}: unknown record key(s) {bad}; allowed: {', '.join(allowed)}")
            missing = [c for c in mapping.values() if c not in frame.columns]
            if missing:
                raise TruthError(f"dataset {ds!r}: column(s) {missing} not in the oracle table")
            self._values[ds] = {k: frame[c].astype(float).tolist() for k, c in mapping.items()}
        self.datasets = tuple(columns)
        self.dataset = self.check_dataset(dataset if dataset is not None else self.datasets[0])

    def __len__(self) -> int:
        return len(self._row)

    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        i = self._row.get(arch)
        if i is None:
            raise TruthError(f"architecture {arch!r} is not in the oracle table")
        return {k: v[i] for k, v in self._values[dataset].items()}
