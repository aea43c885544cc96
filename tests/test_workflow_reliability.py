"""Issue 11 through Snakemake on a tiny smoke study (3 architectures, digits, C<=4, 1-2 epochs):

- case 1: settings changed three times in a row (epochs up, lr, C), each followed by a rerun,
  end with the results of a fresh study of the final settings;
- fault injection: each kind of intermediate file truncated in turn; every rerun ends in a
  correct recomputation or a one-line message naming the file and what to do (then done, the
  study recovers), never a traceback, never a result that used the corrupt file.

One fresh study of the final settings is run once (module fixture) and copied for each fault.
Budget: about 3-4 minutes on a 2-core CPU (measured numbers in README, "Testing").
"""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from test_workflow import ROOT, knas_importable_without_src, snakemake

pytestmark = pytest.mark.slow

STUDY = "rel"
BASE = {
    **yaml.safe_load((ROOT / "tests" / "workflow" / "config.yaml").read_text()),
    "study": STUDY,
    "sample": {"n": 3, "seed": 1},
    "scoring": {"proxies": ["mgm"], "shards": 1, "batch_size": 50},
    "analysis": {"bootstrap": 20, "repeats": 0},  # repeat_n < sample.n = 3 is impossible
    "select": {"proxy": "mgm", "k": [2], "naswot_n": [3], "random_seeds": 2},
    "train": {"epochs": 1, "batch_size": 256},
}
FINAL = {**BASE, "truth": {**BASE["truth"], "epochs": 2}, "train": {**BASE["train"], "epochs": 2, "lr": 0.05},
         "space": {**BASE["space"], "C": 2}}
# results that depend on wall-clock time only
TIME_COLUMNS = ("seconds", "speedup_vs_train_all")


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(work: Path, cfg: Path, *extra):
    res = snakemake("--cores", "2", "--show-failed-logs", "--configfile", str(cfg), "--directory", str(work),
                    *extra, timeout=900)
    return res.returncode, res.stdout + res.stderr


def results(work: Path) -> dict[str, object]:
    """Every result of the study without wall-clock fields: tables as frames, histories as dicts."""
    out = work / "results" / STUDY
    got: dict[str, object] = {}
    for p in sorted(out.rglob("*")):
        rel = str(p.relative_to(out))
        if not p.is_file() or rel.startswith("logs") or p.name.startswith(".") or p.suffix in (".png", ".pdf", ".pt"):
            continue
        if p.suffix in (".csv", ".parquet"):
            from knas.utils import read_table

            df = read_table(p)
            got[rel] = df.drop(columns=[c for c in df.columns if any(t in c for t in TIME_COLUMNS)])
        elif p.name == "history.json":
            import json

            h = json.loads(p.read_text())
            got[rel] = (h["config"], h["final"]["valid_acc"], h["final"]["test_acc"],
                        [(e["train_loss"], e["valid_acc"]) for e in h["epochs"]])
        elif p.suffix == ".md":
            got[rel] = "".join(ch for ch in p.read_text() if not ch.isdigit())  # times appear in the text
        elif p.suffix == ".npz":
            import numpy as np

            with np.load(p) as z:
                got[rel] = {k: z[k].tolist() for k in z.files}
    return got


def assert_same_results(a: dict, b: dict, only=None) -> None:
    keys = sorted(set(a) | set(b)) if only is None else only
    for k in keys:
        assert k in a and k in b, f"{k}: present in only one study"
        if isinstance(a[k], pd.DataFrame):
            pd.testing.assert_frame_equal(a[k], b[k], obj=k)
        else:
            assert a[k] == b[k], k


def no_traceback(work: Path, output: str) -> None:
    assert "Traceback" not in output, output[-4000:]
    for log in (work / "results" / STUDY / "logs").rglob("*.log"):
        assert "Traceback" not in log.read_text(), f"{log}:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A fresh study of the final settings: (work dir, config file, its results)."""
    if knas_importable_without_src():
        pytest.skip("knas is installed in this interpreter; the src/ mechanism would not be isolated")
    base = tmp_path_factory.mktemp("fresh")
    work = base / "w"
    cfg = write_config(base / "final.yaml", FINAL)
    rc, out = run(work, cfg)
    assert rc == 0, out[-4000:]
    return work, cfg, results(work)


def test_case1_settings_changed_three_times_end_like_a_fresh_study(fresh, tmp_path):
    """Issue 11, case 1. Before the fix the first rerun failed in every train job with
    'checkpoint.pt belongs to another run ... delete it'."""
    _, _, want = fresh
    work = tmp_path / "w"
    cfg = tmp_path / "c.yaml"
    steps = [
        ("start", BASE),
        ("epochs up", {**BASE, "truth": {**BASE["truth"], "epochs": 2}, "train": {**BASE["train"], "epochs": 2}}),
        ("lr changed", {**BASE, "truth": {**BASE["truth"], "epochs": 2}, "train": {**BASE["train"], "epochs": 2, "lr": 0.05}}),
        ("C changed", FINAL),
    ]
    for name, settings in steps:
        rc, out = run(work, write_config(cfg, settings))
        assert rc == 0, f"{name}:\n{out[-4000:]}"
        no_traceback(work, out)
        if name != "start":  # the old checkpoints were discarded with a warning, never resumed
            logs = "".join(p.read_text() for p in (work / "results" / STUDY / "logs" / "train").rglob("*.log"))
            assert "checkpoint of other settings" in logs and "training starts over" in logs, name
    assert_same_results(results(work), want)
    rc, out = run(work, cfg, "-n")
    assert rc == 0 and "Nothing to be done" in out, out[-3000:]


def truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def one_study_file(work: Path, pattern: str) -> Path:
    (path,) = sorted((work / "results" / STUDY).glob(pattern))[:1]
    return path


# kind -> (file pattern, what the rerun does: "recompute" or "message"). After a message the test
# does what it says (delete the file, rerun) and checks the study recovers; not for the prepared
# data, whose recovery is the whole study again (what the `fresh` fixture runs).
FAULTS = {
    "prepared data": ("data/digits.npz", "message"),
    "score shard": ("scores/mgm/*/*/shard0.parquet", "message"),
    "history": ("train/truth/*/history.json", "message"),
    "checkpoint": ("train/truth/*/checkpoint.pt", "recompute"),
    "truth table": ("truth.parquet", "message"),
    "selection": ("selection.csv", "recompute"),
}


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fault_injection_truncated_file(fresh, tmp_path, kind):
    """Issue 11 acceptance: truncate one intermediate file of a finished study and rerun."""
    pristine, cfg, want = fresh
    work = tmp_path / "w"
    shutil.copytree(pristine, work, symlinks=True)  # copy2: mtimes kept, so nothing is outdated
    pattern, expect = FAULTS[kind]
    victim = one_study_file(work, pattern)
    rel = str(victim.relative_to(work))
    before = {p: p.read_bytes() for p in (work / "results").rglob("*") if p.is_file() and "logs" not in p.parts}
    truncate(victim)
    rc, out = run(work, cfg)
    no_traceback(work, out)
    if kind == "checkpoint":
        # a finished job never reads its checkpoint again (Snakemake does not even look at it) ...
        assert rc == 0 and "Nothing to be done" in out, out[-4000:]
        # ... an interrupted one does: rerun that training job, as after a kill (rerun-incomplete)
        history = victim.parent / "history.json"
        rc, out = run(work, cfg, "--forcerun", str(history.relative_to(work)))
        no_traceback(work, out)
        log = (work / "results" / STUDY / "logs" / "train" / "truth" / f"{victim.parent.name}.log").read_text()
        assert "unreadable checkpoint" in log and "training starts over" in log, log
    if kind == "selection":  # read while planning: removed there (with a warning) and recomputed
        assert f"WARNING: {rel} is truncated" in out and "removed, rule select recomputes it" in out, out[-4000:]
    if expect == "recompute":
        assert rc == 0, out[-4000:]
        assert_same_results(results(work), want)
        return
    assert rc != 0, out[-4000:]
    lines = [ln.strip() for ln in out.splitlines() if rel in ln and "delete it and rerun" in ln]
    assert lines, f"no one-line message naming {rel}:\n{out[-4000:]}"
    # no result was made from the corrupt file: every other file is the one from before, or gone
    for p, data in before.items():
        if p != victim and p.exists() and not p.name.startswith("."):
            assert p.read_bytes() == data, f"{p} was rewritten from the corrupt {rel}"
    if kind == "prepared data":
        return
    # doing what the message says recovers the study
    victim.unlink()
    rc, out = run(work, cfg)
    assert rc == 0, out[-4000:]
    no_traceback(work, out)
    assert_same_results(results(work), want)
