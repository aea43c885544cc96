"""Ground truth from our own training runs (``truth.benchmark: train``).

Reads the ``history.json`` files written by :func:`knas.train.train_architecture` and maps each
finished run to the standard keys:

- ``valid_acc``: last-epoch accuracy on the validation split (``final.valid_acc``; NaN when the
  run evaluated another split every epoch, ``eval_split != "valid"``);
- ``test_acc``: test accuracy after the last epoch (``final.test_acc``; NaN if the data had no test split);
- ``train_loss``: last-epoch mean training loss;
- ``train_seconds_200ep`` / ``train_seconds_12ep``: ``final.train_seconds`` when the run had 200 / 12
  epochs (NaN otherwise);
- ``valid_acc_12ep`` / ``test_acc_12ep``: the run's accuracies when it had 12 epochs;
- extra key ``train_seconds``: ``final.train_seconds`` whatever the schedule (sum of epoch times,
  evaluation included, on our hardware).

Unlike the benchmarks, ``valid_acc``/``test_acc`` hold the study's *own* schedule (``train.epochs``;
NB201's is 200), on one seed, and both come from the same run (also for cifar10, where NB201's
``test_acc`` comes from its 50k-image run). All runs of one dataset must share one schedule.

The dataset of a run is the history's ``dataset`` field if present, else the ``name`` stored in its
prepared data file (``data_path``) if that file is readable, else the file's stem when it is a
dataset name (the workflow writes ``<dataset>.npz``); ``dataset=`` overrides an unknown one.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .base import PATH_KEY, STANDARD_KEYS, Oracle, TruthError, to_float

HISTORY_NAME = "history.json"
EXTRA_KEYS = ("train_seconds",)  # besides the standard keys


def _dataset_names() -> tuple[str, ...]:
    from knas.data.specs import DATASETS

    return tuple(DATASETS)


def _dataset_of(h: dict[str, Any]) -> str | None:
    if h.get("dataset"):
        return str(h["dataset"])
    data_path = h.get("data_path")
    if not data_path:
        return None
    p = Path(data_path)
    if p.is_file():
        try:
            with np.load(p, allow_pickle=False) as z:
                if "name" in z.files:
                    return str(z["name"])
        except (OSError, ValueError):  # not an .npz we can read: fall back to the name
            pass
    return p.stem if p.stem in _dataset_names() else None


def read_history(path: str | os.PathLike, space: str = "nb201") -> dict[str, Any]:
    """One finished run as ``{arch, dataset, epochs, **standard keys}`` (``dataset`` may be None);
    ``arch`` must be an architecture of ``space`` (the run's own ``space`` field, when it has one,
    must name it)."""
    path = Path(path)
    from knas.utils import read_json

    try:
        h = read_json(path)
    except FileNotFoundError:
        raise TruthError(f"history file {str(path)!r} does not exist") from None
    except ValueError as err:  # truncated, damaged or changed after it was written; names the file
        raise TruthError(f"history file {err}") from None
    if not isinstance(h, dict) or "arch" not in h:
        raise TruthError(f"{str(path)!r} is not a knas.train history (no 'arch')")
    final, records = h.get("final"), h.get("epochs") or []
    if not h.get("finished", final is not None) or not final or not records:
        raise TruthError(f"{str(path)!r} is an unfinished run (no 'final' metrics); finish or remove it")
    if h.get("space", space) != space:
        raise TruthError(f"{str(path)!r} is a run of space {h['space']!r}, not {space!r}")
    from knas.spaces import get_space

    try:
        arch = get_space(space).validate(h["arch"])
    except ValueError as err:
        raise TruthError(f"{str(path)!r}: {err}") from None
    epochs = int((h.get("config") or {}).get("epochs", len(records)))
    valid = to_float(final.get("valid_acc")) if h.get("eval_split", "valid") == "valid" else math.nan
    test = to_float(final.get("test_acc"))
    row: dict[str, Any] = {k: math.nan for k in (*STANDARD_KEYS, *EXTRA_KEYS)}
    row.update(valid_acc=valid, test_acc=test, train_loss=to_float(records[-1].get("train_loss")),
               train_seconds=to_float(final.get("train_seconds")))
    if epochs == 200:
        row["train_seconds_200ep"] = to_float(final.get("train_seconds"))
    elif epochs == 12:
        row.update(valid_acc_12ep=valid, test_acc_12ep=test, train_seconds_12ep=to_float(final.get("train_seconds")))
    return {"arch": arch, "dataset": _dataset_of(h), "epochs": epochs, "path": str(path),
            "data_path": h.get("data_path"), **row}


def _runs_table(runs: list[dict[str, Any]], where: str) -> dict[str, dict[str, Any]]:
    """arch -> run, checking one schedule and one run per architecture."""
    schedules = {r["epochs"] for r in runs}
    if len(schedules) > 1:
        raise TruthError(f"{where}: runs with different schedules ({sorted(schedules)} epochs) cannot form one ground truth")
    by_arch: dict[str, dict[str, Any]] = {}
    for r in runs:
        if r["arch"] in by_arch:
            raise TruthError(f"{where}: {r['arch']} has two runs ({by_arch[r['arch']]['path']} and {r['path']})")
        by_arch[r["arch"]] = r
    return by_arch


def history_table(histories: Iterable[str | os.PathLike], dataset: str | None = None,
                  space: str = "nb201") -> pd.DataFrame:
    """Table (``arch_id, arch``, standard keys, ``train_seconds``) of finished runs, one row per file, in order.

    With ``dataset``, every run whose dataset is known must have been trained on it.
    """
    runs = [read_history(p, space) for p in histories]
    if dataset is not None:
        for r in runs:
            if r["dataset"] not in (None, dataset):
                raise TruthError(f"{r['path']} was trained on {r['dataset']!r}, not {dataset!r}")
    by_arch = _runs_table(runs, "history files")
    keys = (*STANDARD_KEYS, *EXTRA_KEYS)
    from knas.spaces import get_space

    index_of = get_space(space).index_of
    rows = [{"arch_id": index_of(a), "arch": a, **{k: r[k] for k in keys}} for a, r in by_arch.items()]
    return pd.DataFrame(rows, columns=["arch_id", "arch", *keys])


def find_histories(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else every ``history.json`` below it (sorted)."""
    return [path] if path.is_file() else sorted(path.rglob(HISTORY_NAME))


class TrainOracle(Oracle):
    """Standard keys from ``history.json`` files: below ``path`` and/or listed in ``histories``."""

    kind = "train"
    extra_keys = EXTRA_KEYS

    def __init__(self, path: Path | None, histories: Iterable[str | os.PathLike] = (), dataset: str | None = None,
                 space: str = "nb201"):
        super().__init__(path)
        self.space = space
        files = (find_histories(path) if path is not None else []) + [Path(p) for p in histories]
        if not files:
            raise TruthError(
                f"{PATH_KEY} = {str(path)!r}: no {HISTORY_NAME} found (train the architectures first)"
                if path is not None else "the 'train' ground truth needs a path or a list of history files"
            )
        if dataset is not None and dataset not in _dataset_names():
            raise TruthError(f"unknown dataset {dataset!r}; allowed: {', '.join(_dataset_names())}")
        by_dataset: dict[str, list[dict[str, Any]]] = {}
        for f in files:
            run = read_history(f, space)
            ds = run["dataset"]
            if ds is None and dataset is None:
                raise TruthError(
                    f"cannot tell which dataset {f} was trained on (no 'dataset' field, and its data file "
                    f"{run['data_path']!r} is not readable nor named after a dataset); pass dataset=..."
                )
            if dataset is not None and ds not in (None, dataset):
                raise TruthError(f"{f} was trained on {ds!r}, not {dataset!r}")
            by_dataset.setdefault(ds or dataset, []).append(run)
        self.runs = {ds: _runs_table(runs, f"history files of {ds}") for ds, runs in by_dataset.items()}
        self.datasets = tuple(sorted(self.runs))

    def check_dataset(self, dataset: str) -> str:
        if dataset not in self.datasets:
            raise TruthError(
                f"no training runs on dataset {dataset!r} in the 'train' ground truth {str(self.path)!r}; "
                f"runs cover: {', '.join(self.datasets)}"
            )
        return dataset

    def _lookup(self, arch: str, dataset: str) -> dict[str, Any]:
        run = self.runs[dataset].get(arch)
        if run is None:
            raise self._missing(arch, f"no finished run on {dataset}")
        return {k: run[k] for k in (*STANDARD_KEYS, *EXTRA_KEYS)}
