"""NAS-Bench-101 ground truth read from the benchmark's own files, without TensorFlow.

Formats (details in shared/data/FORMATS.md; the benchmark's ``nasbench/api.py``):

- ``*.tfrecord`` (``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord``): TFRecord framing
  (``uint64 length``, masked CRC-32C of the length, data, masked CRC-32C of the data), each record
  the JSON list ``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`` with
  ``raw_metrics`` base64 of the protobuf ``ModelMetrics``. Read here with a small TFRecord reader
  and protobuf decoder (no TensorFlow, no protobuf package); the length CRC of every record is
  checked (a truncated or foreign file stops with the record it failed at), the data CRC with
  ``verify_data=True``.
- ``*.pkl`` / ``*.pickle``: NASLib's pickle, ``{module_hash: (fixed_statistics,
  computed_statistics)}`` in the API's own dict layout.

Both end in the API's layout: ``fixed[hash] = {module_adjacency, module_operations,
trainable_parameters}`` and ``computed[hash][epochs] = [repeat dicts with halfway_* / final_*
training_time, train_accuracy, validation_accuracy, test_accuracy]``.

Queries (accuracies in %, as the other backends; the files store fractions): per architecture
(any spec string of the space; looked up by its graph hash) the final validation / test accuracy
of the ``epochs``-epoch runs (108 by default), at the halfway point of those runs
(``accuracy_at(arch, epochs // 2, ...)``), and the recorded training time, aggregated over the 3
repeats by ``agg``: ``mean`` (default; the NB101 paper reports means over repeats), ``max``
(NASWOT's released code takes the maximum test accuracy over repeats), or ``repeat:<k>``.
Only CIFAR-10 exists.
"""
from __future__ import annotations

import base64
import json
import math
import pickle
import struct
from pathlib import Path
from typing import Any, Iterable, Iterator

from .base import Oracle, TruthError

DATASETS = ("cifar10",)
BUDGETS = (108, 36, 12, 4)  # the schedules of nasbench_full (only108: 108)
AGGS = ("mean", "max")
EVAL_FIELDS = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy",
               5: "test_accuracy"}


class NB101TruthError(TruthError):
    """A NAS-Bench-101 file or query is invalid; the message says what and where."""


# ---- CRC-32C (Castagnoli), TFRecord masking ---------------------------------------------------

def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_records(path: str | Path, verify_data: bool = False) -> Iterator[bytes]:
    """The records of a TFRecord file."""
    with open(path, "rb") as fh:
        k = 0
        while True:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise NB101TruthError(f"{str(path)!r}: record {k} is truncated (TFRecord header)")
            length, length_crc = struct.unpack("<QI", head)
            if masked_crc(head[:8]) != length_crc:
                raise NB101TruthError(f"{str(path)!r}: record {k}: length CRC mismatch (not a TFRecord file?)")
            data = fh.read(length)
            tail = fh.read(4)
            if len(data) < length or len(tail) < 4:
                raise NB101TruthError(f"{str(path)!r}: record {k} is truncated")
            if verify_data and masked_crc(data) != struct.unpack("<I", tail)[0]:
                raise NB101TruthError(f"{str(path)!r}: record {k}: data CRC mismatch")
            yield data
            k += 1


def write_tfrecord(path: str | Path, records: Iterable[bytes]) -> None:
    """Write records in the TFRecord framing (what TensorFlow's writer produces)."""
    with open(path, "wb") as fh:
        for data in records:
            head = struct.pack("<Q", len(data))
            fh.write(head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data)))


# ---- protobuf ModelMetrics (wire format) ------------------------------------------------------

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack("<d", buf[i:i + 8])[0], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise NB101TruthError(f"unsupported protobuf wire type {wire}")
        yield field, value


def decode_metrics(raw: bytes) -> dict[str, Any]:
    """``nasbench.ModelMetrics``: ``{evaluation_data: [dict], trainable_parameters, total_time}``."""
    out: dict[str, Any] = {"evaluation_data": [], "trainable_parameters": 0, "total_time": 0.0}
    for field, value in _fields(raw):
        if field == 1:
            ev = {name: 0.0 for name in EVAL_FIELDS.values()}
            for f, v in _fields(value):
                if f in EVAL_FIELDS:
                    ev[EVAL_FIELDS[f]] = v
            out["evaluation_data"].append(ev)
        elif field == 2:
            out["trainable_parameters"] = value if value < 1 << 63 else value - (1 << 64)
        elif field == 3:
            out["total_time"] = value
    return out


def _enc_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def encode_metrics(evaluation_data: list[dict[str, float]], trainable_parameters: int, total_time: float) -> bytes:
    """The protobuf bytes of a ``ModelMetrics`` (for writing benchmark-format files)."""
    out = bytearray()
    for ev in evaluation_data:
        body = bytearray()
        for f, name in EVAL_FIELDS.items():
            body += _enc_varint(f << 3 | 1) + struct.pack("<d", float(ev.get(name, 0.0)))
        out += _enc_varint(1 << 3 | 2) + _enc_varint(len(body)) + body
    out += _enc_varint(2 << 3 | 0) + _enc_varint(int(trainable_parameters))
    out += _enc_varint(3 << 3 | 1) + struct.pack("<d", float(total_time))
    return bytes(out)


# ---- loading ------------------------------------------------------------------------------------

def _data_point(metrics: dict[str, Any]) -> dict[str, float]:
    ev = metrics["evaluation_data"]
    if len(ev) < 3:
        raise NB101TruthError(f"ModelMetrics has {len(ev)} evaluations, the benchmark stores 3")
    half, final = ev[1], ev[2]
    return {f"{when}_{k}": e[k] for when, e in (("halfway", half), ("final", final))
            for k in ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")}


def load_tfrecord(path: str | Path, only: set[str] | None = None, verify_data: bool = False):
    fixed: dict[str, dict] = {}
    computed: dict[str, dict[int, list]] = {}
    for k, row in enumerate(tfrecord_records(path, verify_data)):
        try:
            module_hash, epochs, raw_adj, raw_ops, raw_metrics = json.loads(row.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise NB101TruthError(f"{str(path)!r}: record {k} is not the NB101 JSON row ({err})") from None
        if only is not None and module_hash not in only:
            continue
        metrics = decode_metrics(base64.b64decode(raw_metrics))
        if module_hash not in fixed:
            dim = math.isqrt(len(raw_adj))
            fixed[module_hash] = {
                "module_adjacency": [[int(raw_adj[i * dim + j]) for j in range(dim)] for i in range(dim)],
                "module_operations": raw_ops.split(","),
                "trainable_parameters": metrics["trainable_parameters"],
            }
            computed[module_hash] = {}
        computed[module_hash].setdefault(int(epochs), []).append(_data_point(metrics))
    return fixed, computed


def load_pickle(path: str | Path, only: set[str] | None = None):
    """NASLib's pickle. It is unpickled fully: use a file from a trusted source."""
    with open(path, "rb") as fh:
        try:
            data = pickle.load(fh)
        except Exception as err:
            raise NB101TruthError(f"{str(path)!r} is not an NB101 pickle ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict):
        raise NB101TruthError(f"{str(path)!r}: expected a dict {{module_hash: (fixed, computed)}}")
    fixed, computed = {}, {}
    for h, entry in data.items():
        if only is not None and h not in only:
            continue
        try:
            f, c = entry
            f["trainable_parameters"], f["module_operations"]
        except (TypeError, ValueError, KeyError):
            raise NB101TruthError(f"{str(path)!r}: entry {h!r} is not (fixed_statistics, computed_statistics)") from None
        fixed[h] = f
        computed[h] = {int(e): list(v) for e, v in c.items()}
    return fixed, computed


KEYS = ("valid_acc", "test_acc", *(f"{k}_{e}ep" for e in BUDGETS for k in ("valid_acc", "test_acc", "train_seconds")))


class NB101Truth(Oracle):
    """NAS-Bench-101 results of one file (see the module docstring). ``valid_acc`` / ``test_acc``
    are the 108-epoch runs; ``<key>_<e>ep`` every budget (NaN where the file has none)."""

    kind = "nb101"
    space = "nb101"
    datasets = DATASETS
    keys = KEYS
    fidelities = {e: (f"valid_acc_{e}ep", f"test_acc_{e}ep", f"train_seconds_{e}ep") for e in BUDGETS}

    def __init__(self, path: str | Path, agg: str = "mean", only: Iterable[str] | None = None,
                 verify_data: bool = False):
        super().__init__(Path(path))
        if not self.path.is_file():
            raise NB101TruthError(f"NB101 benchmark file {str(path)!r} does not exist")
        if agg not in AGGS and not (agg.startswith("repeat:") and agg[7:].isdigit()):
            raise NB101TruthError(f"unknown repeat aggregation {agg!r}; allowed: mean, max, repeat:<k>")
        self.agg = agg
        self._space = self.search_space
        keys = None if only is None else {self._space.key(a) for a in only}
        with open(self.path, "rb") as fh:
            first = fh.read(1)
        if first == b"\x80":  # a pickle protocol >= 2
            self.fixed, self.computed = load_pickle(self.path, keys)
        else:
            self.fixed, self.computed = load_tfrecord(self.path, keys, verify_data)
        self.epochs = sorted({e for c in self.computed.values() for e in c})

    def __repr__(self) -> str:
        return f"NB101Truth(path={str(self.path)!r}, agg={self.agg!r})"

    @property
    def full_epochs(self) -> int:
        return 108

    def _runs(self, arch: str, dataset: str, epochs: int) -> list[dict[str, float]]:
        self.check_dataset(dataset)
        h = self._space.key(arch)
        if h not in self.computed:
            raise self._missing(self._space.validate(arch), f"no record of hash {h}")
        if epochs not in self.computed[h]:
            raise NB101TruthError(f"{arch}: no {epochs}-epoch runs in {str(self.path)!r}; it has {sorted(self.computed[h])}")
        return self.computed[h][epochs]

    def _agg(self, values: list[float], key: str) -> float:
        if self.agg == "mean":
            return sum(values) / len(values)
        if self.agg == "max":
            return max(values)
        k = int(self.agg[7:])
        if k >= len(values):
            raise NB101TruthError(f"agg {self.agg!r}: only {len(values)} repeats of {key}")
        return values[k]

    def _value(self, arch: str, dataset: str, epochs: int, key: str) -> float:
        return self._agg([float(r[key]) for r in self._runs(arch, dataset, epochs)], key)

    def final_accuracy(self, arch: str, dataset: str = "cifar10", split: str = "valid", epochs: int | None = None) -> float:
        """Accuracy (%) at the end of the ``epochs``-epoch runs (default 108); ``split`` valid,
        test or train."""
        e = self.check_epochs(108 if epochs is None else epochs)
        return 100.0 * self._value(arch, dataset, e, f"final_{_split(split)}_accuracy")

    def accuracy_at(self, arch: str, epoch: int, dataset: str = "cifar10", split: str = "valid",
                    epochs: int = 108) -> float:
        """Accuracy (%) after ``epoch`` epochs of the ``epochs``-epoch runs: the benchmark records
        the end (``epoch == epochs``) and the halfway point (``epoch == epochs // 2``)."""
        if epoch == epochs:
            return self.final_accuracy(arch, dataset, split, epochs)
        if epoch == epochs // 2:
            return 100.0 * self._value(arch, dataset, self.check_epochs(epochs), f"halfway_{_split(split)}_accuracy")
        raise NB101TruthError(f"NB101 records epochs {epochs // 2} and {epochs} of the {epochs}-epoch runs, "
                              f"not {epoch}")

    def train_seconds(self, arch: str, dataset: str = "cifar10", epochs: int | None = None) -> float:
        return self._value(arch, dataset, self.check_epochs(108 if epochs is None else epochs), "final_training_time")

    def trainable_parameters(self, arch: str) -> int:
        return int(self.fixed[self._space.key(arch)]["trainable_parameters"])

    def _lookup(self, arch: str, dataset: str) -> dict[str, float]:
        out = {}
        for e in BUDGETS:
            try:
                out[f"valid_acc_{e}ep"] = self.final_accuracy(arch, dataset, "valid", e)
                out[f"test_acc_{e}ep"] = self.final_accuracy(arch, dataset, "test", e)
                out[f"train_seconds_{e}ep"] = self.train_seconds(arch, dataset, e)
            except NB101TruthError:
                if e == 108:
                    raise
        out["valid_acc"], out["test_acc"] = out["valid_acc_108ep"], out["test_acc_108ep"]
        return out


def _split(split: str) -> str:
    names = {"valid": "validation", "test": "test", "train": "train"}
    if split not in names:
        raise NB101TruthError(f"unknown split {split!r}; allowed: {', '.join(names)}")
    return names[split]
