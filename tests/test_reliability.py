"""Issue 11: a changed setting never breaks a study; every bad value stops before compute; crashes
become one-line messages; nothing silently wrong. Cases 2-5 here (fast, in-process: the schema,
``check_config`` and the ``knas`` CLI); case 1 and the fault injection run Snakemake in
``tests/test_workflow_reliability.py``.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from knas.cli import main as knas
from knas.config import ConfigError, MissingInputError, check_config, runs_jobs_here
from knas.nb201 import space

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
BASE = yaml.safe_load((ROOT / "config.yaml").read_text())
ARCHS = space.sample(4, 3)
LOCAL = ["snakemake", "--cores", "2"]  # a command line whose jobs run on this machine


def merged(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def study(over: dict) -> dict:
    """config.yaml with ``over`` applied and the schema's defaults filled, as the Snakefile sees it."""
    from snakemake.utils import validate

    cfg = merged(BASE, over)
    validate(cfg, str(SCHEMA))
    return cfg


def schema_error(over: dict) -> str:
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError) as err:
        study(over)
    return str(err.value)


def config_error(over: dict, cls=ConfigError, argv=LOCAL) -> str:
    cfg = study(over)
    with pytest.raises(cls) as err:
        check_config(cfg, argv)
    return str(err.value)


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    """A benchmark table in NB201's export layout: 4 architectures, cifar10 accuracies."""
    path = tmp_path_factory.mktemp("bench") / "nb201.csv"
    pd.DataFrame({"nb201_index": [space.index_of(a) for a in ARCHS], "arch_str": ARCHS,
                  "cifar10_test_acc_200ep": [91.0, 92.0, 90.0, 93.0],
                  "cifar10_valid_valid_acc_200ep": [88.0, 89.0, 87.0, 90.0]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from knas.data import prepare

    return prepare("digits", None, tmp_path_factory.mktemp("data") / "digits.npz")


def test_the_default_study_passes():
    check_config(study({}), LOCAL)


# ------------------------------------------------------------------------- case 2: bad values stop at parse time

CASE2 = {
    "sample.n below 3": ({"sample": {"n": 2}}, ["sample.n", "2 architecture", "at least 3"]),
    "two listed archs": ({"sample": {"archs": ARCHS[:2]}}, ["sample.archs", "at least 3"]),
    "truth.dataset other than the trained one": (
        {"truth": {"dataset": "cifar10"}}, ["truth.dataset = 'cifar10'", "allowed: null or 'digits'"]),
    "train.momentum 1.0": ({"train": {"momentum": 1.0}}, ["train.momentum = 1.0", "[0, 1)"]),
    "nesterov without momentum": ({"train": {"momentum": 0}}, ["train.nesterov", "train.momentum = 0"]),
    "lr infinite": ({"train": {"lr": float("inf")}}, ["train.lr = inf", "a number > 0"]),
    "truth.epochs through the same recipe check": ({"truth": {"epochs": 3}, "space": {"C": 8}}, None),
    "mgm n 0": ({"scoring": {"options": {"mgm": {"n": 0}}}}, ["scoring.options.mgm", "n = 0", "an integer >= 1"]),
    "naswot official_counting 'yes'": (
        {"scoring": {"options": {"naswot": {"official_counting": "yes"}}}},
        ["scoring.options.naswot", "official_counting = 'yes'", "true or false"]),
    "linear_regions protocol fat": (
        {"scoring": {"options": {"linear_regions": {"protocol": "fat"}}}},
        ["scoring.options.linear_regions", "protocol = 'fat'", "thin, full"]),
    "mgm seed negative": ({"scoring": {"options": {"mgm": {"seed": -1}}}}, ["mgm", "seed = -1", ">= 0"]),
    "text.data_dir missing": (
        {"text": {"task": "mrpc", "data_dir": "/nonexistent/glue/MRPC"}}, ["text.data_dir", "/nonexistent/glue/MRPC"]),
    "data.split_file with digits": (None, ["data.split_file", "no official split file", "digits"]),
}


@pytest.mark.parametrize("case", sorted(CASE2))
def test_case2_bad_value_stops_at_parse_time(case, tmp_path):
    over, words = CASE2[case]
    if case == "data.split_file with digits":
        split = tmp_path / "cifar-split.txt"
        split.write_text("{}")
        over = {"data": {"split_file": str(split)}}
    if words is None:  # a good value next to the bad ones: passes
        check_config(study(over), LOCAL)
        return
    cls = MissingInputError if case == "text.data_dir missing" else ConfigError
    msg = config_error(over, cls)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"


def test_case2_table_backend_needs_a_benchmark_dataset(table_csv):
    msg = config_error({"truth": {"benchmark": "table", "path": str(table_csv)}})
    assert "truth.dataset = null, so data.dataset = 'digits'" in msg and "cifar10, cifar100, ImageNet16-120" in msg
    check_config(study({"truth": {"benchmark": "table", "path": str(table_csv), "dataset": "cifar10"}}), LOCAL)


def test_case2_search_params_are_checked_at_parse_time(table_csv):
    truth = {"benchmark": "table", "path": str(table_csv), "dataset": "cifar10"}
    cases = {
        "n -3": ({"naswot": {"strategy": "naswot", "params": {"n": -3}}}, ["search.runs.naswot.params", "n=-3", ">= 1"]),
        "unknown key": ({"r": {"strategy": "rea", "params": {"popsize": 5}}},
                        ["search.runs.r.params", "unknown parameter(s) ['popsize']", "population"]),
        "epochs not recorded": ({"r": {"strategy": "rea", "params": {"epochs": 13}}}, ["epochs=13", "nb201/nats_tss: 12, 200"]),
        "lr zero": ({"t": {"strategy": "teg_reinforce", "params": {"lr": 0}}}, ["lr=0", "> 0"]),
        "budget negative": ({"r": {"strategy": "random_search", "params": {"max_seconds": -1}}}, ["max_seconds=-1"]),
        "unknown proxy": ({"n": {"strategy": "naswot", "params": {"proxy": "magic"}}}, ["params.proxy = 'magic'", "mgm"]),
    }
    for name, (runs, words) in cases.items():
        msg = config_error({"truth": truth, "search": {"runs": runs}})
        for w in words:
            assert w in msg, f"{name}: {w!r} not in {msg!r}"
    ok = {"a": {"strategy": "rea", "params": {"cycles": 0, "population": 4}},
          "b": {"strategy": "teg_reinforce", "params": {"momentum": 0.0}}}
    check_config(study({"truth": truth, "search": {"runs": ok}}), LOCAL)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_case2_cuda_without_cuda_stops_unless_the_jobs_run_elsewhere():
    msg = config_error({"device": "cuda"}, MissingInputError)  # a dry run plans with a warning
    assert "config key device = 'cuda'" in msg and "CUDA is not available" in msg
    for argv in (["snakemake", "--executor", "slurm"], ["snakemake", "-e=slurm"],
                 ["snakemake", "--workflow-profile", str(ROOT / "workflow" / "profiles" / "slurm")]):
        assert not runs_jobs_here(argv)
        check_config(study({"device": "cuda"}), argv)
    assert runs_jobs_here(["snakemake", "--workflow-profile", str(ROOT / "workflow" / "profiles" / "default")])


def test_case2_same_validators_as_the_jobs(digits, tmp_path):
    """The job-side checks are the very validators check_config calls: the score and search jobs
    stop on the same values with the same words (before any architecture is scored)."""
    from knas import proxies
    from knas.search import get_strategy

    with pytest.raises(ValueError, match="option n = 0 is invalid; allowed: an integer >= 1"):
        proxies.get("mgm").check_options({"n": 0})
    archs = tmp_path / "archs.csv"
    pd.DataFrame({"arch": ARCHS}).to_csv(archs, index=False)
    assert knas(["score", "--proxy", "mgm", "--archs", str(archs), "--data", str(digits), "--device", "cpu",
                 "--options", '{"mgm": {"n": 0}}', "--out", str(tmp_path / "s.parquet")]) == 2
    assert not (tmp_path / "s.parquet").exists()
    with pytest.raises(ValueError, match=r"n=-3: must be an integer >= 1"):
        get_strategy("naswot").check_params({"n": -3})


# ------------------------------------------------------------------------- case 3: messages instead of crashes


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("knas ")]
    assert len(lines) == 1 and lines[0].startswith(f"knas {command}: error: "), err
    return lines[0]


def test_case3_more_shards_than_architectures(digits, tmp_path):
    archs = tmp_path / "archs.csv"
    pd.DataFrame({"arch": ARCHS[:2]}).to_csv(archs, index=False)
    shards = []
    for i in range(3):  # one of 3 shards of 2 architectures is empty
        out = tmp_path / f"shard{i}.parquet"
        assert knas(["score", "--proxy", "params", "--proxy", "synflow", "--archs", str(archs), "--data",
                     str(digits), "--C", "4", "--N", "1", "--device", "cpu", "--shard", f"{i}/3", "--out", str(out)]) == 0
        shards.append(out)
    from knas.utils import read_table

    sizes = [len(read_table(p)) for p in shards]
    assert sorted(sizes) == [0, 1, 1] and all("params__flag" in read_table(p) for p in shards)
    assert knas(["merge-scores", *map(str, shards), "--out", str(tmp_path / "scores.parquet")]) == 0
    merged_scores = read_table(tmp_path / "scores.parquet")
    assert sorted(merged_scores["arch"]) == sorted(ARCHS[:2]) and merged_scores["params"].notna().all()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_case3_corrupt_prepared_data_is_a_one_line_message(digits, tmp_path, capsys, damage):
    from knas.utils import digest_path

    raw = Path(digits).read_bytes()
    archs = tmp_path / "archs.csv"
    pd.DataFrame({"arch": ARCHS[:1]}).to_csv(archs, index=False)
    for sidecar in (True, False):  # written by knas (recorded digest) or copied from elsewhere
        bad = tmp_path / f"digits_{sidecar}.npz"
        bad.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"PK\x03\x04 not a zip")
        if sidecar:
            digest_path(bad).write_text(digest_path(digits).read_text())
        assert knas(["score", "--proxy", "params", "--archs", str(archs), "--data", str(bad), "--device", "cpu",
                     "--out", str(tmp_path / "s.parquet")]) == 2
        line = one_line_error(capsys, "score")
        assert str(bad) in line and "delete it and rerun" in line
        assert knas(["train", "--arch", ARCHS[0], "--data", str(bad), "--out", str(tmp_path / "t"), "--epochs", "1",
                     "--device", "cpu"]) == 2
        line = one_line_error(capsys, "train")
        assert str(bad) in line and "delete it and rerun" in line and not (tmp_path / "t").exists()


def test_case3_archs_tables_without_arch_column_or_rows(digits, table_csv, tmp_path, capsys):
    cases = {"noarch.csv": ({"arch_str": ARCHS}, "needs an 'arch' column"), "empty.csv": ({"arch": []}, "has no rows"),
             "bad.csv": ({"arch": ["|conv~0|+|"]}, "row 0")}
    for name, (cols, words) in cases.items():
        path = tmp_path / name
        pd.DataFrame(cols).to_csv(path, index=False)
        for cmd in (["score", "--proxy", "params", "--data", str(digits), "--device", "cpu", "--out",
                     str(tmp_path / "s.parquet")],
                    ["truth", "--benchmark", "table", "--path", str(table_csv), "--dataset", "cifar10",
                     "--out", str(tmp_path / "t.parquet")]):
            assert knas([*cmd, "--archs", str(path)]) == 2
            line = one_line_error(capsys, cmd[0])
            assert str(path) in line and words in line, line


def test_case3_proxy_options_not_a_mapping():
    msg = config_error({"scoring": {"options": {"mgm": "n=10"}}})
    assert "config key scoring.options.mgm" in msg and "must be a mapping" in msg and "'n'" in msg


def test_case3_train_out_is_an_existing_file(digits, tmp_path, capsys):
    f = tmp_path / "out.txt"
    f.write_text("")
    assert knas(["train", "--arch", ARCHS[0], "--data", str(digits), "--out", str(f), "--epochs", "1",
                 "--device", "cpu"]) == 2
    assert "is an existing file; the output must be a directory" in one_line_error(capsys, "train")


def test_case3_catch_all_covers_os_errors(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")  # an output below a file: FileExistsError (an OSError)
    assert knas(["sample", "--n", "3", "--out", str(tmp_path / "a_file" / "archs.csv")]) == 2
    assert str(tmp_path / "a_file") in one_line_error(capsys, "sample")


# ------------------------------------------------------------------------- case 4: nothing silently wrong


def test_case4_truth_table_without_accuracies(tmp_path, table_csv, capsys):
    no_acc = tmp_path / "no_acc.csv"
    pd.DataFrame({"arch_str": ARCHS, "cifar10_train_seconds_12ep": [1.0] * 4}).to_csv(no_acc, index=False)
    empty = tmp_path / "empty_acc.csv"
    pd.DataFrame({"arch_str": ARCHS, "cifar10_test_acc_200ep": [None] * 4}).to_csv(empty, index=False)
    for path in (no_acc, empty):
        msg = config_error({"truth": {"benchmark": "table", "path": str(path), "dataset": "cifar10"}})
        assert "truth.path" in msg and "no accuracy values for dataset 'cifar10'" in msg
        assert "cifar10_test_acc_200ep" in msg  # names the columns it needs
    # the job: rows exist, but not one of the study's architectures has an accuracy
    partial = tmp_path / "partial.csv"
    other = space.sample(2, 99)
    pd.DataFrame({"arch_str": ARCHS + other, "cifar10_test_acc_200ep": [None] * 4 + [90.0, 91.0]}).to_csv(
        partial, index=False)
    archs = tmp_path / "archs.csv"
    pd.DataFrame({"arch": ARCHS}).to_csv(archs, index=False)
    out = tmp_path / "truth.parquet"
    assert knas(["truth", "--benchmark", "table", "--path", str(partial), "--dataset", "cifar10",
                 "--archs", str(archs), "--out", str(out)]) == 2
    assert "has no accuracy" in one_line_error(capsys, "truth") and not out.exists()


def test_case4_duplicate_topk_sizes(tmp_path):
    assert "select" in schema_error({"select": {"k": [2, 2]}}) and "non-unique" in schema_error({"select": {"k": [2, 2]}})
    # the library dedups too: one knas_k2 set of 2, labelled k=2
    from knas.study import sample_table
    from knas.study.report import methods_table
    from knas.utils import read_table, write_table

    archs = sample_table(5, 0)
    scores = archs[["arch_id", "arch"]].assign(mgm=[5.0, 4.0, 3.0, 2.0, 1.0], mgm__flag=None, mgm__seconds=0.1)
    write_table(tmp_path / "archs.csv", archs)
    write_table(tmp_path / "scores.parquet", scores)
    assert knas(["select", "--scores", str(tmp_path / "scores.parquet"), "--archs", str(tmp_path / "archs.csv"),
                 "--out", str(tmp_path / "sel.csv"), "--k", "2", "2", "--naswot-n", "3", "3",
                 "--random-seeds", "1"]) == 0
    sel = read_table(tmp_path / "sel.csv")
    assert (sel["method"] == "knas_k2").sum() == 2 and (sel["method"] == "naswot_n3").sum() == 1
    truth = archs[["arch_id", "arch"]].assign(valid_acc=[50.0, 60.0, 70.0, 80.0, 90.0], train_seconds=1.0)
    hist = {int(a): {"final": {"valid_acc": 1.0 * i, "train_seconds": 1.0}} for i, a in enumerate(archs["arch_id"])}
    labels = methods_table(scores, truth, sel, hist, "train")["method"].tolist()
    assert "KNAS k=2 (mgm)" in labels and not any("k=4" in m for m in labels)


@pytest.mark.parametrize("name", [".", "..", ".hidden", "-x"])
def test_case4_study_name_cannot_leave_results(name):
    msg = schema_error({"study": name})
    assert "study" in msg and "does not match" in msg
    study({"study": "my.study-2_b"})  # dots inside are fine


def test_case4_a_study_that_does_nothing_is_an_error():
    msg = config_error({"vision": False, "text": {"enabled": False}})
    assert "vision = false and text.enabled = false" in msg and "would do nothing" in msg
    check_config(study({"vision": False}), LOCAL)  # the text study alone is fine


def test_case4_md5_message_offers_what_exists(tmp_path, capsys):
    root = tmp_path / "raw"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(b"a modified tarball")
    assert knas(["data", "prepare", "--dataset", "cifar10", "--root", str(root), "--out", str(tmp_path / "c.npz")]) == 2
    line = one_line_error(capsys, "data")
    assert "md5" in line and "delete it and rerun" in line and "verify_md5" not in line


# ------------------------------------------------------------------------- case 5: help


def test_case5_every_option_has_help_and_proxy_lists_the_names(capsys):
    import argparse

    from knas import proxies
    from knas.cli import build_parser

    missing = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, path + [name])
            elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)) and not action.help:
                missing.append(f"knas {' '.join(path)} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), [])
    assert not missing, "options without help text:\n" + "\n".join(missing)
    with pytest.raises(SystemExit):
        knas(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in proxies.names():
        assert name in text, name
