"""Sentence-pair tasks for the text study: GLUE MRPC and RTE, and a generated smoke task.

Every task is a dict ``split -> list of rows``, splits ``train`` and ``dev``, each row a dict
``{"idx": int, "sentence1": str, "sentence2": str, "label": int}`` (the layout of the Hugging Face
``glue`` datasets). Labels: MRPC ``1`` = equivalent (GLUE's ``Quality``), ``0`` = not; RTE
``0`` = entailment, ``1`` = not_entailment (as ``datasets``' ``glue/rte``).

Sources:

* ``data_dir`` given: the original GLUE TSV files ``train.tsv`` and ``dev.tsv`` (the layout of GLUE's
  download script). MRPC: columns ``Quality  #1 ID  #2 ID  #1 String  #2 String`` (a leading UTF-8
  BOM, as in GLUE's file, is accepted); RTE: ``index  sentence1  sentence2  label`` with labels
  ``entailment`` / ``not_entailment``. Read as GLUE's own processors do: tab-separated, no quoting.
* ``data_dir`` None: ``datasets.load_dataset("glue", task)`` (needs the hub or its cache); ``dev`` is
  GLUE's ``validation`` split.
* ``smoke``: :func:`make_smoke_task`, a generated paraphrase task (stored in the MRPC layout). It is a
  smoke configuration for running the pipeline offline, not a benchmark.

:func:`write_task` writes any task in its GLUE TSV layout, so a download step (a Snakemake localrule)
produces a directory that the later steps read with the same code as a user's local GLUE copy. Rows
do not keep MRPC's sentence ids (``datasets`` drops them too): written MRPC files hold synthetic ids
``2*idx`` and ``2*idx+1`` in ``#1 ID``/``#2 ID``.
"""
from __future__ import annotations

import csv
import os
import random
from pathlib import Path

from knas.utils import atomic_path

TASKS = ("mrpc", "rte", "smoke")
SPLITS = ("train", "dev")
MRPC_COLUMNS = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")
RTE_COLUMNS = ("index", "sentence1", "sentence2", "label")
RTE_LABELS = ("entailment", "not_entailment")  # label 0, 1
LABEL_NAMES = {"mrpc": ("not_equivalent", "equivalent"), "rte": RTE_LABELS, "smoke": ("different", "paraphrase")}
NUM_LABELS = 2


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown text task {task!r}; allowed: {', '.join(TASKS)}")
    return task


def layout_of(task: str) -> str:
    """The TSV layout a task is stored in: ``mrpc`` (also the smoke task) or ``rte``."""
    return "rte" if check_task(task) == "rte" else "mrpc"


# -----------------------------------------------------------------------------------------------
# TSV readers / writers
# -----------------------------------------------------------------------------------------------
def _read_tsv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"GLUE file not found: {path}")
    with open(path, encoding="utf-8-sig", newline="") as f:  # utf-8-sig: GLUE's MRPC train.tsv has a BOM
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file; expected a header with columns {', '.join(required)}")
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(
                f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {', '.join(map(repr, header))}; "
                f"expected {', '.join(map(repr, required))}"
            )
        col = {c: header.index(c) for c in required}
        rows = []
        for lineno, fields in enumerate(reader, start=2):
            if not fields or fields == [""]:
                continue
            if len(fields) < len(header):
                raise ValueError(f"{path}:{lineno}: {len(fields)} fields, header has {len(header)}")
            rows.append({c: fields[i] for c, i in col.items()})
    return rows


def read_mrpc_tsv(path: str | os.PathLike) -> list[dict]:
    """Rows of a GLUE MRPC ``train.tsv``/``dev.tsv`` (columns :data:`MRPC_COLUMNS`)."""
    path = Path(path)
    out = []
    for i, r in enumerate(_read_tsv(path, MRPC_COLUMNS)):
        q = r["Quality"].strip()
        if q not in ("0", "1"):
            raise ValueError(f"{path}: row {i}: Quality must be 0 or 1, got {q!r}")
        out.append({"idx": i, "sentence1": r["#1 String"], "sentence2": r["#2 String"], "label": int(q)})
    return out


def read_rte_tsv(path: str | os.PathLike) -> list[dict]:
    """Rows of a GLUE RTE ``train.tsv``/``dev.tsv`` (columns :data:`RTE_COLUMNS`)."""
    path = Path(path)
    out = []
    for i, r in enumerate(_read_tsv(path, RTE_COLUMNS)):
        lab = r["label"].strip()
        if lab not in RTE_LABELS:
            raise ValueError(f"{path}: row {i}: label must be one of {', '.join(RTE_LABELS)}, got {lab!r}")
        idx = r["index"].strip()
        out.append({
            "idx": int(idx) if idx.isdigit() else i,
            "sentence1": r["sentence1"],
            "sentence2": r["sentence2"],
            "label": RTE_LABELS.index(lab),
        })
    return out


def _clean(s: str) -> str:
    # the TSV has no quoting: a tab or newline inside a sentence would break the row
    return " ".join(str(s).split())


def write_tsv(rows: list[dict], path: str | os.PathLike, layout: str) -> None:
    """Write rows in the GLUE TSV ``layout`` (``mrpc`` or ``rte``), atomically."""
    if layout not in ("mrpc", "rte"):
        raise ValueError(f"unknown TSV layout {layout!r}; allowed: mrpc, rte")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None, lineterminator="\n")
            if layout == "mrpc":
                w.writerow(MRPC_COLUMNS)
                for r in rows:
                    w.writerow([int(r["label"]), 2 * r["idx"], 2 * r["idx"] + 1, _clean(r["sentence1"]), _clean(r["sentence2"])])
            else:
                w.writerow(RTE_COLUMNS)
                for r in rows:
                    w.writerow([r["idx"], _clean(r["sentence1"]), _clean(r["sentence2"]), RTE_LABELS[int(r["label"])]])


def check_data_dir(data_dir: str | os.PathLike | None, key: str = "text.data_dir") -> None:
    """``data_dir`` (None: the hub) must be a directory holding GLUE's ``train.tsv`` and ``dev.tsv``.

    Called by :func:`load_task` and, at parse time, by ``knas.config.check_config``."""
    if data_dir is None:
        return
    d = Path(data_dir).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"{key} = {str(data_dir)!r}: no such directory (it must hold GLUE's "
                                f"{' and '.join(str(d / f'{s}.tsv') for s in SPLITS)}; null = datasets.load_dataset)")
    missing = [f"{s}.tsv" for s in SPLITS if not (d / f"{s}.tsv").is_file()]
    if missing:
        raise FileNotFoundError(f"{key} = {str(data_dir)!r}: missing {', '.join(str(d / m) for m in missing)} "
                                f"(GLUE's TSV files)")


def read_split(task: str, data_dir: str | os.PathLike, split: str) -> list[dict]:
    """One split (``train`` | ``dev``) of ``task`` from ``data_dir/<split>.tsv``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    path = Path(data_dir) / f"{split}.tsv"
    return read_rte_tsv(path) if layout_of(task) == "rte" else read_mrpc_tsv(path)


# -----------------------------------------------------------------------------------------------
# Hugging Face datasets
# -----------------------------------------------------------------------------------------------
def fetch_glue(task: str) -> dict[str, list[dict]]:
    """``datasets.load_dataset("glue", task)`` as rows (``dev`` = GLUE's ``validation``)."""
    if check_task(task) == "smoke":
        raise ValueError("the smoke task is generated, not downloaded (use make_smoke_task)")
    import datasets

    try:
        ds = datasets.load_dataset("glue", task)
    except Exception as err:  # network / hub errors have many types
        raise RuntimeError(
            f"could not load GLUE {task} with datasets.load_dataset('glue', {task!r}): {err}. Without internet, "
            "set text.data_dir to a directory with GLUE's train.tsv and dev.tsv"
        ) from err
    out = {}
    for split, hf_split in (("train", "train"), ("dev", "validation")):
        d = ds[hf_split]
        out[split] = [
            {"idx": int(r.get("idx", i)), "sentence1": r["sentence1"], "sentence2": r["sentence2"], "label": int(r["label"])}
            for i, r in enumerate(d)
        ]
    return out


# -----------------------------------------------------------------------------------------------
# the generated smoke task
# -----------------------------------------------------------------------------------------------
# (word, synonym) classes; a paraphrase swaps words within a class, a "different" pair changes a class
_SUBJECTS = [
    ("cat", "kitten"), ("dog", "puppy"), ("teacher", "instructor"), ("doctor", "physician"),
    ("child", "kid"), ("farmer", "grower"), ("student", "pupil"), ("author", "writer"),
    ("lawyer", "attorney"), ("sailor", "seaman"), ("chef", "cook"), ("boss", "manager"),
]
_VERBS = [
    ("bought", "purchased"), ("found", "discovered"), ("liked", "enjoyed"), ("cleaned", "washed"),
    ("built", "constructed"), ("sold", "traded"), ("fixed", "repaired"), ("painted", "colored"),
    ("wanted", "desired"), ("visited", "toured"),
]
_OBJECTS = [
    ("car", "automobile"), ("house", "home"), ("book", "novel"), ("garden", "yard"),
    ("boat", "ship"), ("picture", "photo"), ("shop", "store"), ("road", "street"),
    ("couch", "sofa"), ("gift", "present"), ("hat", "cap"), ("film", "movie"),
]
_TIMES = [("yesterday", "the day before"), ("on monday", "on monday"), ("last week", "the previous week"),
          ("in the morning", "early in the day"), ("", "")]
_DETS = ("the", "a", "that", "this")


def _sentence(rng: random.Random, s: int, v: int, o: int, t: int, paraphrase: bool, negate: bool = False) -> str:
    pick = (lambda pair: rng.choice(pair)) if paraphrase else (lambda pair: pair[0])
    words = [rng.choice(_DETS), pick(_SUBJECTS[s])] + (["never"] if negate else [])
    words += [pick(_VERBS[v]), rng.choice(_DETS), pick(_OBJECTS[o])]
    time = pick(_TIMES[t])
    if time:
        words.append(time)
    return " ".join(words) + "."


def _other(rng: random.Random, k: int, n: int) -> int:
    return rng.choice([j for j in range(n) if j != k])


def make_smoke_task(n_train: int = 400, n_dev: int = 200, seed: int = 0) -> dict[str, list[dict]]:
    """A learnable, generated paraphrase task (the offline smoke configuration; MRPC-like labels).

    ``sentence1`` is "<det> subject verb <det> object [time]."; label 1 (paraphrase): ``sentence2``
    says the same with random synonyms and determiners. Label 0, with equal probability: the same
    paraphrase negated by "never" (detectable from one word), or a paraphrase of a sentence with a
    different subject, verb and object (needs comparing the two sentences). Labels alternate, so the
    classes are balanced; rows are shuffled with ``seed`` and split into train / dev.
    """
    for name, val in (("n_train", n_train), ("n_dev", n_dev)):
        if not isinstance(val, int) or isinstance(val, bool) or val < 1:
            raise ValueError(f"{name} must be a positive integer, got {val!r}")
    rng = random.Random(seed)
    rows = []
    for i in range(n_train + n_dev):
        s, v, o, t = (rng.randrange(len(x)) for x in (_SUBJECTS, _VERBS, _OBJECTS, _TIMES))
        label = i % 2
        negate = label == 0 and rng.random() < 0.5
        s2, v2, o2 = s, v, o
        if label == 0 and not negate:
            s2, v2, o2 = _other(rng, s, len(_SUBJECTS)), _other(rng, v, len(_VERBS)), _other(rng, o, len(_OBJECTS))
        a = _sentence(rng, s, v, o, t, paraphrase=False)
        b = _sentence(rng, s2, v2, o2, t, paraphrase=True, negate=negate)
        rows.append({"sentence1": a, "sentence2": b, "label": label})
    rng.shuffle(rows)
    train, dev = rows[:n_train], rows[n_train:]
    for split in (train, dev):
        for i, r in enumerate(split):
            r["idx"] = i
    return {"train": train, "dev": dev}


# -----------------------------------------------------------------------------------------------
# entry points
# -----------------------------------------------------------------------------------------------
def load_task(task: str, data_dir: str | os.PathLike | None = None, *, seed: int = 0,
              n_train: int = 400, n_dev: int = 200) -> dict[str, list[dict]]:
    """``{"train": rows, "dev": rows}`` of ``task`` (``mrpc`` | ``rte`` | ``smoke``).

    With ``data_dir``: GLUE TSVs (the smoke task: TSVs in the MRPC layout written by
    :func:`write_task`). Without: ``datasets.load_dataset("glue", task)``, or for ``smoke`` the
    generator (``seed``, ``n_train``, ``n_dev``).
    """
    check_task(task)
    if data_dir is not None:
        check_data_dir(data_dir, "data_dir")
        return {split: read_split(task, data_dir, split) for split in SPLITS}
    if task == "smoke":
        return make_smoke_task(n_train, n_dev, seed)
    return fetch_glue(task)


def write_task(task: str, splits: dict[str, list[dict]], out_dir: str | os.PathLike) -> list[Path]:
    """Write ``splits`` as ``out_dir/train.tsv`` and ``out_dir/dev.tsv`` in the task's GLUE layout."""
    layout = layout_of(task)
    paths = []
    for split in SPLITS:
        if split not in splits:
            raise ValueError(f"missing split {split!r}; got {', '.join(splits)}")
        p = Path(out_dir) / f"{split}.tsv"
        write_tsv(splits[split], p, layout)
        paths.append(p)
    return paths
