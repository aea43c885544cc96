"""Ground truth for the vision study: what each architecture scores once trained.

Backends (config key ``truth.benchmark``; file or folder in ``truth.path``):

- ``nb201``: NAS-Bench-201 ``.pth`` file via the official ``nas_201_api`` (:mod:`.api`);
- ``nats_tss``: NATS-Bench topology benchmark via the official ``nats_bench`` (:mod:`.api`);
- ``nats_sss``: NATS-Bench size search space via ``nats_bench`` (:mod:`.nats_sss`);
- ``nb101``: NAS-Bench-101 ``.tfrecord`` (read without TensorFlow) or NASLib's pickle (:mod:`.nb101`);
- ``table``: a CSV/parquet table, e.g. a public export of NB201 or an NB101 table (:mod:`.table`);
- ``train``: our own ``history.json`` runs from :mod:`knas.train` (:mod:`.history`).

Usage::

    from knas.truth import load_oracle, truth_table
    oracle = load_oracle("nb201", "NAS-Bench-201-v1_1-096897.pth")
    oracle.query("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
                 "cifar10")  # {'valid_acc': ..., 'test_acc': ..., ...}
    df = truth_table(oracle, archs, "cifar100")  # columns arch_id, arch, + STANDARD_KEYS

Every backend answers the same :data:`STANDARD_KEYS`; which benchmark setting and evaluation set
each key comes from is documented in :mod:`knas.truth.base` (e.g. for cifar10, ``valid_acc`` is
``cifar10-valid`` x-valid and ``test_acc`` is ``cifar10`` ori-test, as in NB201's papers).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Iterable

from .base import BENCHMARK_DATASETS, KIND_KEY, PATH_KEY, STANDARD_KEYS, Oracle, TruthError

BENCHMARKS: tuple[str, ...] = ("nb201", "nats_tss", "nats_sss", "nb101", "table", "train")
# the space each benchmark file belongs to (table and train: any space, given by space.name)
BENCHMARK_SPACE: dict[str, str] = {"nb201": "nb201", "nats_tss": "nb201", "nats_sss": "nats_sss", "nb101": "nb101"}
NATS_META = "meta.pickle.pbz2"

__all__ = [
    "BENCHMARKS", "BENCHMARK_DATASETS", "STANDARD_KEYS", "Oracle", "TruthError",
    "check_benchmark_path", "check_truth_config", "load_oracle", "truth_table", "history_table",
]


def _bad_path(path: Any, kind: str, why: str) -> TruthError:
    return TruthError(f"config key {PATH_KEY} = {str(path)!r} ({KIND_KEY} = {kind!r}): {why}")


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def check_benchmark_path(kind: str, path: str | Path | None) -> Path | None:
    """Cheap check (a stat and a few bytes) that ``path`` can hold a ``kind`` benchmark.

    Meant for parse time (the Snakefile), so that a wrong ``truth.path`` stops the run before any
    job. Returns the path (None for ``train`` without one). ``train`` histories are produced by
    the workflow itself, so its path need not exist yet.
    """
    if kind not in BENCHMARKS:
        raise TruthError(f"config key {KIND_KEY} = {kind!r} is unknown; allowed: {', '.join(BENCHMARKS)}")
    if kind == "train":
        return None if path in (None, "") else Path(path)
    if path in (None, ""):
        raise TruthError(f"config key {PATH_KEY} is required when {KIND_KEY} = {kind!r} (the benchmark file)")
    p = Path(path).expanduser()
    if not p.exists():
        raise _bad_path(path, kind, "no such file or directory")
    if kind == "nb201":
        if not p.is_file():
            raise _bad_path(path, kind, "must be the NAS-Bench-201 .pth file, not a directory")
        head = _head(p, 4)
        if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # torch zip or legacy pickle
            raise _bad_path(path, kind, "not a torch .pth file (e.g. NAS-Bench-201-v1_1-096897.pth)")
    elif kind in ("nats_tss", "nats_sss"):
        example = "NATS-tss-v1_0-3ffb9-simple" if kind == "nats_tss" else "NATS-sss-v1_0-50262-simple"
        if p.is_dir():
            if not (p / NATS_META).is_file():
                raise _bad_path(path, kind, f"directory without {NATS_META} (expected e.g. {example})")
        elif not _head(p, 3) == b"BZh":
            raise _bad_path(path, kind, "not a NATS-Bench .pickle.pbz2 file (bz2) nor its -simple directory")
    elif kind == "nb101":
        if not p.is_file():
            raise _bad_path(path, kind, "must be nasbench_only108.tfrecord / nasbench_full.tfrecord or NASLib's .pkl")
    elif kind == "table":
        if not p.is_file():
            raise _bad_path(path, kind, "must be a .csv or .parquet file")
        if p.suffix == ".parquet":
            if _head(p, 4) != b"PAR1":
                raise _bad_path(path, kind, "not a parquet file")
        elif p.suffix == ".csv":
            with open(p, newline="") as fh:
                header = [c.strip().strip('"') for c in fh.readline().split(",")]
            from .table import ID_COLUMNS

            if not set(ID_COLUMNS) & set(header):
                raise _bad_path(path, kind, f"the header has none of {', '.join(ID_COLUMNS)}")
        else:
            raise _bad_path(path, kind, f"unsupported table format {p.suffix!r}; use .csv or .parquet")
    return p


def check_truth_config(kind: str, path: str | Path | None, dataset: str | None, trained_on: str) -> str:
    """Parse-time check of the ``truth`` config keys; returns the dataset the truth is queried on.

    ``dataset`` is ``truth.dataset`` (None: ``trained_on`` = ``data.dataset``). ``train``: the
    truth is our own training, so it can only be on ``trained_on``. The benchmarks need one of
    their datasets (not ``digits``); a ``table`` is opened and must hold accuracies for it. Raises
    :class:`TruthError` naming the key and the allowed values; a missing file is reported by
    :func:`check_benchmark_path`.
    """
    check_benchmark_path(kind, path)
    if kind == "train":
        if dataset not in (None, trained_on):
            raise TruthError(
                f"config key truth.dataset = {dataset!r}: with {KIND_KEY} = 'train' the ground truth is our own "
                f"training on data.dataset = {trained_on!r}; allowed: null or {trained_on!r}"
            )
        return trained_on
    ds = dataset or trained_on
    if ds not in BENCHMARK_DATASETS:
        where = f"truth.dataset = {dataset!r}" if dataset else f"truth.dataset = null, so data.dataset = {ds!r}"
        raise TruthError(
            f"config key {where}: the {kind!r} benchmark has no dataset {ds!r}; allowed: "
            f"{', '.join(BENCHMARK_DATASETS)} (set truth.dataset, or use {KIND_KEY}: train)"
        )
    if kind == "table":
        _backend(kind)(Path(path).expanduser()).check_dataset(ds)
    return ds


def _backend(kind: str) -> type[Oracle]:
    if kind == "nb201":
        from .api import NB201Oracle as cls
    elif kind == "nats_tss":
        from .api import NATSTopologyOracle as cls
    elif kind == "nats_sss":
        from .nats_sss import NATSSizeTruth as cls
    elif kind == "nb101":
        from .nb101 import NB101Truth as cls
    elif kind == "table":
        from .table import TableOracle as cls
    else:
        from .history import TrainOracle as cls
    return cls


def load_oracle(kind: str, path: str | Path | None = None, **kw: Any) -> Oracle:
    """Open the ground truth of backend ``kind`` (``truth.benchmark``) at ``path`` (``truth.path``).

    Options: ``nb201``: ``allow_pickle=False`` (full unpickling, for a trusted file the safe loader
    refuses); ``nats_tss``: ``fast_mode=None`` (auto: lazy for a directory); ``nats_sss``:
    ``hp="90"``, ``fast_mode=None``; ``nb101``: ``agg="mean"``, ``only=None``, ``verify_data=False``;
    ``table``/``train``: ``space="nb201"``; ``train``: ``histories=()`` (extra history files),
    ``dataset=None`` (dataset of runs that do not say). ``space`` (any backend) must be the space of
    the benchmark: a TruthError names both when it is not.
    """
    p = check_benchmark_path(kind, path)
    cls = _backend(kind)
    if kind in BENCHMARK_SPACE:
        space = kw.pop("space", BENCHMARK_SPACE[kind])
        if space != BENCHMARK_SPACE[kind]:
            raise TruthError(f"{KIND_KEY} = {kind!r} holds {BENCHMARK_SPACE[kind]} architectures, not space.name = "
                             f"{space!r}; use a {space} benchmark, or 'table' / 'train'")
    allowed = [n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "path")]
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise TruthError(
            f"unknown option(s) {', '.join(unknown)} for {KIND_KEY} = {kind!r}; allowed: {', '.join(allowed) or 'none'}"
        )
    return cls(p, **kw)


def truth_table(oracle: Oracle, archs: Iterable[str], dataset: str):
    """``pandas.DataFrame`` with ``arch_id`` (index in the space), ``arch`` (canonical), the
    backend's keys and ``extra_keys`` (``train``: ``train_seconds``) of every architecture in
    ``archs`` on ``dataset``, in the given order."""
    import pandas as pd

    oracle.check_dataset(dataset)
    space = oracle.search_space
    rows = []
    for a in archs:
        arch = space.validate(a)
        rows.append({"arch_id": space.index_of(arch), "arch": arch, **oracle.query(arch, dataset)})
    keys = (*oracle.keys, *oracle.extra_keys)
    df = pd.DataFrame(rows, columns=["arch_id", "arch", *keys])
    df = df.astype({"arch_id": "int64", **{k: "float64" for k in keys}})
    accuracy = [k for k in STANDARD_KEYS if "acc" in k]
    if len(df) and not df[accuracy].notna().to_numpy().any():
        raise TruthError(
            f"the {oracle.kind!r} ground truth {str(oracle.path)!r} has no accuracy ({', '.join(accuracy)}) for any "
            f"of the {len(df)} architectures on {dataset!r}; a table of NaN would make every correlation "
            f"meaningless (check {PATH_KEY} and truth.dataset)"
        )
    return df


def history_table(histories, dataset: str | None = None, space: str = "nb201"):
    """Standard table of ``history.json`` files (see :func:`knas.truth.history.history_table`)."""
    from .history import history_table as _history_table

    return _history_table(histories, dataset, space)
