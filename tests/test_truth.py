"""Tests of knas.truth: the four ground-truth backends behind one query interface.

No real benchmark file can be downloaded here, so the tests WRITE small benchmarks in the real
formats with the packages' own classes (``nas_201_api``/``nats_bench`` ``ArchResults`` and
``ResultsCount``), with known numbers, and read them back through the real APIs via our backends.
The NB201 file mimics the official 2020 one: legacy torch serialization and numpy scalars pickled
under ``numpy.core`` names. The ``table`` backend reads ../shared/data/nb201_accuracy.csv.
Budget: ~30 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch

from knas.cli.truth import add_cli
from knas.nb201 import index_of, nb201_cost, sample
from knas.truth import (
    STANDARD_KEYS,
    TruthError,
    check_benchmark_path,
    history_table,
    load_oracle,
    truth_table,
)

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|",
]
NOT_EVALUATED = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # in meta_archs, no results
ABSENT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SEEDS = (777, 888)
SETTINGS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
# Final-epoch accuracy (seed mean) of arch k = BASE + k; the 12-epoch schedule is 20 points lower.
BASE = {
    "cifar10-valid": {"x-valid": 80.0, "ori-test": 81.0},
    "cifar10": {"ori-test": 85.0},
    "cifar100": {"x-valid": 60.0, "x-test": 61.0, "ori-test": 60.5},
    "ImageNet16-120": {"x-valid": 30.0, "x-test": 31.0, "ori-test": 30.5},
}
EPOCH_SECONDS = {"cifar10-valid": 1.0, "cifar10": 2.0, "cifar100": 3.0, "ImageNet16-120": 4.0}  # x (k + 1)
EPOCHS = {"200": 200, "12": 12}
DROP_12EP = (3, "cifar100")  # arch 3 has no 12-epoch cifar100 results


def expected(k: int, dataset: str) -> dict[str, float]:
    """What the standard keys must be for arch k, from the numbers written into the fixtures."""
    vset, tset = ("cifar10-valid", "cifar10") if dataset == "cifar10" else (dataset, dataset)
    tname = "ori-test" if dataset == "cifar10" else "x-test"
    out = {
        "valid_acc": BASE[vset]["x-valid"] + k,
        "test_acc": BASE[tset][tname] + k,
        "valid_acc_12ep": BASE[vset]["x-valid"] + k - 20,
        "test_acc_12ep": BASE[tset][tname] + k - 20,
        "train_seconds_200ep": 200 * EPOCH_SECONDS[vset] * (k + 1),
        "train_seconds_12ep": 12 * EPOCH_SECONDS[vset] * (k + 1),
        "train_loss": 0.1 + 0.01 * k,
    }
    if (k, dataset) == DROP_12EP:
        out.update(valid_acc_12ep=math.nan, test_acc_12ep=math.nan, train_seconds_12ep=math.nan)
    return out


def _arch_results(pkg, index: int, k: int, hp: str, extra=None):
    """An ``ArchResults`` of arch k for one hp, built with the package's own classes."""
    arch = ARCHS[k]
    epochs = EPOCHS[hp]
    drop = 20.0 if hp == "12" else 0.0
    info = pkg.ArchResults(index, arch)
    for setting in SETTINGS:
        if hp == "12" and (k, setting) == DROP_12EP:
            continue
        for s, seed in enumerate(SEEDS):
            jitter = 0.25 if s else -0.25  # seed mean = the base value
            ramp = [(epochs - 1 - e) * 0.05 for e in range(epochs)]  # earlier epochs are worse
            last = 95.0 + k - drop + jitter
            train_accs = {e: last - ramp[e] for e in range(epochs)}
            train_losses = {e: 0.1 + 0.01 * k + jitter / 50 + ramp[e] for e in range(epochs)}
            train_times = {e: EPOCH_SECONDS[setting] * (k + 1) + jitter for e in range(epochs)}
            config = {"channel": 16, "num_cells": 5, "arch_str": arch,
                      "class_num": {"cifar100": 100, "ImageNet16-120": 120}.get(setting, 10)}
            params = np.float64(nb201_cost(arch, 16, 5, config["class_num"])[0] / 1e6)  # numpy, as NB201's
            r = pkg.ResultsCount(setting, None, train_accs, train_losses, params, np.float64(50.0), config,
                                 seed, epochs, [0.01])
            r.update_train_info(train_accs, None, train_losses, train_times)
            accs, losses, times = {}, {}, {}
            for name, base in BASE[setting].items():
                for e in range(epochs):
                    accs[f"{name}@{e}"] = base + k - drop + jitter - ramp[e]
                    losses[f"{name}@{e}"] = 1.0 + ramp[e]
                    times[f"{name}@{e}"] = 0.5
            r.update_eval(accs, losses, times)
            if extra is not None:
                r.extra = extra
            info.update(setting, seed, r)
    return info


def _meta_archs():
    return ARCHS + [NOT_EVALUATED]  # index 4 is listed but was never evaluated


@pytest.fixture(scope="module")
def nb201_file(tmp_path_factory):
    """NAS-Bench-201 ``.pth`` in the official layout, saved the way the 2020 file was."""
    import nas_201_api as pkg

    arch2infos = {k: {"less": _arch_results(pkg, k, k, "12").state_dict(),
                      "full": _arch_results(pkg, k, k, "200").state_dict()} for k in range(len(ARCHS))}
    data = {"meta_archs": _meta_archs(), "arch2infos": arch2infos, "evaluated_indexes": set(range(len(ARCHS)))}
    path = tmp_path_factory.mktemp("nb201") / "NAS-Bench-201-tiny.pth"
    torch.save(data, path, _use_new_zipfile_serialization=False)  # legacy format, like the 2020 file
    raw = path.read_bytes()
    assert b"cnumpy._core.multiarray\n" in raw  # numpy scalars inside
    path.write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))  # numpy 1.x names
    return path


@pytest.fixture(scope="module")
def nats_dir(tmp_path_factory):
    """NATS-Bench topology archive for fast_mode: meta.pickle.pbz2 + one pickle per architecture."""
    import nats_bench as pkg

    root = tmp_path_factory.mktemp("nats") / "NATS-tss-tiny-simple"
    root.mkdir()
    pkg.pickle_save({"meta_archs": _meta_archs(), "total_archs": len(_meta_archs()), "arch2infos": None,
                     "evaluated_indexes": set()}, str(root / "meta.pickle"))
    whole = {}
    for k in range(len(ARCHS)):
        hp2 = OrderedDict({"12": _arch_results(pkg, k, k, "12").state_dict(),
                           "200": _arch_results(pkg, k, k, "200").state_dict()})
        pkg.pickle_save(hp2, str(root / f"{k:06d}.pickle"))
        whole[k] = hp2
    single = root.parent / "NATS-tss-tiny.pickle"
    pkg.pickle_save({"meta_archs": _meta_archs(), "total_archs": len(_meta_archs()), "arch2infos": whole,
                     "evaluated_indexes": set(whole)}, str(single))
    return root


@pytest.fixture(scope="module")
def nb201(nb201_file):
    return load_oracle("nb201", nb201_file)


@pytest.fixture(scope="module")
def table(shared_data):
    return load_oracle("table", shared_data / "nb201_accuracy.csv")


def _assert_row(got: dict, want: dict) -> None:
    assert set(got) == set(STANDARD_KEYS)
    for key in STANDARD_KEYS:
        if math.isnan(want[key]):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(want[key], abs=1e-9), key


# ------------------------------------------------------------------------------------ nb201 / nats


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "ImageNet16-120"])
def test_nb201_file_through_the_real_api(nb201, dataset):
    oracle = nb201
    assert type(oracle.api).__module__.startswith("nas_201_api")
    for k, arch in enumerate(ARCHS):
        _assert_row(oracle.query(arch, dataset), expected(k, dataset))


def test_nb201_cifar10_convention(nb201):
    """cifar10: valid from the cifar10-valid run (x-valid), test from the cifar10 run (ori-test);
    the cifar10-valid run's own ori-test (81) must not leak into test_acc."""
    row = nb201.query(ARCHS[0], "cifar10")
    assert (row["valid_acc"], row["test_acc"], row["train_seconds_200ep"]) == (80.0, 85.0, 200.0)


def test_nats_tss_fast_mode_and_single_file(nats_dir):
    fast = load_oracle("nats_tss", nats_dir)
    assert fast.api.fast_mode and len(fast.api.arch2infos_dict) == 0  # nothing read yet
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        for k, arch in enumerate(ARCHS):
            _assert_row(fast.query(arch, dataset), expected(k, dataset))
    single = load_oracle("nats_tss", nats_dir.parent / "NATS-tss-tiny.pickle.pbz2")
    assert not single.api.fast_mode
    _assert_row(single.query(ARCHS[2], "cifar100"), expected(2, "cifar100"))


@pytest.mark.parametrize("kind", ["nb201", "nats_tss"])
def test_archs_missing_from_a_benchmark(kind, nb201, nats_dir):
    oracle = nb201 if kind == "nb201" else load_oracle(kind, nats_dir)
    with pytest.raises(TruthError, match=rf"index {index_of(ABSENT)}\) is not in the '{kind}'.*not among"):
        oracle.query(ABSENT, "cifar10")
    with pytest.raises(TruthError, match="is not in the"):
        oracle.query(NOT_EVALUATED, "cifar10")
    with pytest.raises(TruthError, match="unknown dataset 'cifar10-valid'.*allowed: cifar10, cifar100, ImageNet16-120"):
        oracle.query(ARCHS[0], "cifar10-valid")
    with pytest.raises(ValueError, match="invalid NB201 architecture"):
        oracle.query("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "cifar10")


def test_nb201_unsafe_file_needs_allow_pickle(tmp_path):
    """A file holding a class outside the numpy allow-list is refused by default (clear error),
    and read when the user vouches for it."""
    import nas_201_api as pkg

    data = {"meta_archs": ARCHS[:1], "evaluated_indexes": {0},
            "arch2infos": {0: {"less": _arch_results(pkg, 0, 0, "12").state_dict(),
                               "full": _arch_results(pkg, 0, 0, "200", extra=argparse.Namespace(a=1)).state_dict()}}}
    path = tmp_path / "unsafe.pth"
    torch.save(data, path)
    with pytest.raises(TruthError, match=r"allow_pickle=True.*truth\.allow_pickle"):
        load_oracle("nb201", path)
    _assert_row(load_oracle("nb201", path, allow_pickle=True).query(ARCHS[0], "cifar100"), expected(0, "cifar100"))
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ  # the switch is restored


# ------------------------------------------------------------------------------------ table


def test_table_on_the_public_nb201_export(table):
    oracle = table
    row = oracle.query(ARCHS[0], "cifar10")  # NB201 index 1 in the export
    assert row["test_acc"] == pytest.approx(93.66) and row["valid_acc"] == pytest.approx(90.7693)
    assert row["test_acc_12ep"] == pytest.approx(88.22)
    assert math.isnan(row["valid_acc_12ep"]) and math.isnan(row["train_seconds_200ep"]) and math.isnan(row["train_loss"])
    c100 = oracle.query(ARCHS[0], "cifar100")
    assert c100["test_acc"] == pytest.approx(70.2933) and math.isnan(c100["valid_acc"])
    assert oracle.query(ARCHS[0], "ImageNet16-120")["test_acc"] == pytest.approx(44.0333)


def test_table_spearman_params_vs_cifar10_accuracy(table):
    """Sanity on real numbers: parameter count predicts CIFAR-10 accuracy with rho ~0.75."""
    archs = sample(1000, seed=0)
    df = truth_table(table, archs, "cifar10")
    params = [nb201_cost(a, C=16, N=5, num_classes=10)[0] for a in archs]
    rho = scipy.stats.spearmanr(params, df["test_acc"]).statistic
    assert 0.65 <= rho <= 0.80, rho


def test_truth_table_layout(table):
    archs = [ARCHS[1], ARCHS[0], ARCHS[1]]
    df = truth_table(table, archs, "cifar100")
    assert list(df.columns) == ["arch_id", "arch", *STANDARD_KEYS]
    assert df["arch"].tolist() == archs and df["arch_id"].tolist() == [0, 1, 0]
    assert df["arch_id"].dtype == np.int64 and all(df[k].dtype == np.float64 for k in STANDARD_KEYS)
    empty = truth_table(table, [], "cifar10")
    assert list(empty.columns) == list(df.columns) and len(empty) == 0


def test_table_index_only_extra_columns_and_bad_tables(tmp_path):
    a, b = ARCHS[0], ARCHS[2]
    good = tmp_path / "idx.csv"
    pd.DataFrame({"nb201_index": [index_of(a), index_of(b)], "cifar100_valid_acc_200ep": [50.0, 51.0],
                  "cifar100_train_seconds_12ep": [7.0, 8.0]}).to_csv(good, index=False)
    row = load_oracle("table", good).query(b, "cifar100")
    assert (row["valid_acc"], row["train_seconds_12ep"]) == (51.0, 8.0) and math.isnan(row["test_acc"])
    with pytest.raises(TruthError, match="not in the 'table'"):
        load_oracle("table", good).query(ARCHS[1], "cifar100")
    wrong_order = tmp_path / "wrong.csv"
    pd.DataFrame({"nb201_index": [5], "arch_str": [a]}).to_csv(wrong_order, index=False)
    with pytest.raises(TruthError, match="does not use the NB201 / NATS-Bench index order"):
        load_oracle("table", wrong_order)
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"arch_str": [a, a]}).to_csv(dup, index=False)
    with pytest.raises(TruthError, match="appears twice"):
        load_oracle("table", dup)
    no_id = tmp_path / "noid.csv"
    pd.DataFrame({"arch": [a]}).to_csv(no_id, index=False)
    with pytest.raises(TruthError, match=r"truth\.path.*none of arch_str, nb201_index, arch_index, module_hash"):
        check_benchmark_path("table", no_id)


# ------------------------------------------------------------------------------------ train


def _history(path, arch, *, epochs=3, valid=55.0, test=54.0, loss=0.7, seconds=9.0, data_path="x/digits.npz",
             eval_split="valid", finished=True, dataset=None):
    h = {"arch": arch, "config": {"epochs": epochs}, "data_path": data_path, "eval_split": eval_split,
         "epochs": [{"epoch": e, "train_loss": loss + (epochs - 1 - e), "valid_acc": valid - (epochs - 1 - e)}
                    for e in range(epochs)], "finished": finished}
    if dataset:
        h["dataset"] = dataset
    if finished:
        h["final"] = {"valid_acc": valid, "test_acc": test, "train_seconds": seconds}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(h))
    return path


def test_train_backend_from_a_real_training_run(tmp_path):
    from knas.data import prepare
    from knas.train import TrainConfig, train_architecture

    data = prepare("digits", None, tmp_path / "prepared.npz", seed=0)  # not named after the dataset
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        h = train_architecture(ARCHS[0], data, tmp_path / "runs" / "a", TrainConfig(epochs=1, batch_size=256, C=4, N=1,
                                                                                     device="cpu"), progress=False)
    finally:
        torch.set_num_threads(n)
    oracle = load_oracle("train", tmp_path / "runs")  # dataset: the name stored in the prepared file
    assert oracle.datasets == ("digits",)
    row = oracle.query(ARCHS[0], "digits")
    assert row["valid_acc"] == h["final"]["valid_acc"] == h["epochs"][-1]["valid_acc"]
    assert row["test_acc"] == h["final"]["test_acc"] and row["train_loss"] == h["epochs"][-1]["train_loss"]
    assert row["train_seconds"] == h["final"]["train_seconds"] > 0  # extra key of this backend
    assert all(math.isnan(row[k]) for k in STANDARD_KEYS if k not in ("valid_acc", "test_acc", "train_loss"))
    df = truth_table(oracle, [ARCHS[0]], "digits")
    assert list(df.columns) == ["arch_id", "arch", *STANDARD_KEYS, "train_seconds"]
    with pytest.raises(TruthError, match="no training runs on dataset 'cifar10'.*digits"):
        oracle.query(ARCHS[0], "cifar10")
    with pytest.raises(TruthError, match="no finished run on digits"):
        oracle.query(ARCHS[1], "digits")


def test_train_backend_schedules_and_errors(tmp_path):
    h12 = [_history(tmp_path / "s12" / str(k) / "history.json", ARCHS[k], epochs=12, valid=60.0 + k, seconds=5.0)
           for k in range(2)]
    df = history_table(h12, "digits")
    assert df["arch_id"].tolist() == [index_of(ARCHS[0]), index_of(ARCHS[1])]
    assert df["valid_acc_12ep"].tolist() == [60.0, 61.0] == df["valid_acc"].tolist()
    assert df["train_seconds_12ep"].tolist() == [5.0, 5.0] == df["train_seconds"].tolist()
    assert df["train_seconds_200ep"].isna().all()
    assert df["train_loss"].tolist() == [0.7, 0.7]  # last epoch's (the first is 11.7)
    h200 = _history(tmp_path / "s200" / "history.json", ARCHS[2], epochs=200, seconds=3000.0, eval_split="test")
    row = history_table([h200]).iloc[0]
    assert row["train_seconds_200ep"] == 3000.0 and math.isnan(row["valid_acc"]) and row["test_acc"] == 54.0
    h3 = _history(tmp_path / "s3" / "history.json", ARCHS[2], epochs=3, seconds=4.5)
    row3 = history_table([h3]).iloc[0]  # another schedule: time only in train_seconds
    assert row3["train_seconds"] == 4.5 and math.isnan(row3["train_seconds_12ep"]) and row3["valid_acc"] == 55.0
    with pytest.raises(TruthError, match="different schedules"):
        history_table(h12 + [h200])
    with pytest.raises(TruthError, match="two runs"):
        history_table([h12[0], h12[0]])
    unfinished = _history(tmp_path / "u" / "history.json", ARCHS[3], finished=False)
    with pytest.raises(TruthError, match="unfinished"):
        history_table([unfinished])
    other = _history(tmp_path / "o" / "history.json", ARCHS[3], dataset="cifar100")
    with pytest.raises(TruthError, match="trained on 'cifar100', not 'digits'"):
        history_table([other], "digits")
    anon = _history(tmp_path / "anon" / "history.json", ARCHS[3], data_path="somewhere/data.npz")
    with pytest.raises(TruthError, match="cannot tell which dataset"):
        load_oracle("train", anon.parent)
    assert load_oracle("train", anon.parent, dataset="cifar10").query(ARCHS[3], "cifar10")["valid_acc"] == 55.0
    with pytest.raises(TruthError, match=r"truth\.path.*no history\.json"):
        load_oracle("train", tmp_path / "empty_dir_that_is_missing")


# ------------------------------------------------------------------------------------ paths, options, CLI


def test_check_benchmark_path_errors(tmp_path, nb201_file, nats_dir):
    missing = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    for kind in ("nb201", "nats_tss", "table"):
        with pytest.raises(TruthError, match=rf"config key truth\.path = '{re.escape(str(missing))}'.*no such file"):
            check_benchmark_path(kind, missing)
        with pytest.raises(TruthError, match=r"truth\.path is required"):
            check_benchmark_path(kind, None)
    with pytest.raises(TruthError, match=r"truth\.benchmark = 'nb301' is unknown; allowed: nb201, nats_tss, nats_sss, nb101, table, train"):
        check_benchmark_path("nb301", nb201_file)
    with pytest.raises(TruthError, match="not a directory"):
        check_benchmark_path("nb201", nats_dir)
    csv = tmp_path / "t.csv"
    csv.write_text("arch_str\n")
    with pytest.raises(TruthError, match="not a torch .pth file"):
        check_benchmark_path("nb201", csv)
    with pytest.raises(TruthError, match="without meta.pickle.pbz2"):
        check_benchmark_path("nats_tss", tmp_path)
    with pytest.raises(TruthError, match="not a NATS-Bench"):
        check_benchmark_path("nats_tss", nb201_file)
    assert check_benchmark_path("nb201", nb201_file) == nb201_file
    assert check_benchmark_path("nats_tss", nats_dir) == nats_dir
    assert check_benchmark_path("train", None) is None  # histories are made by the workflow
    with pytest.raises(TruthError, match="unknown option.*fast_mode.*allowed: allow_pickle"):
        load_oracle("nb201", nb201_file, fast_mode=True)
    foreign = tmp_path / "model.pth"
    torch.save({"state_dict": {}}, foreign)  # a torch file, but no benchmark
    with pytest.raises(TruthError, match=r"truth\.path = .*model\.pth' is not a NAS-Bench-201 \.pth file.*meta_archs"):
        load_oracle("nb201", foreign)


def test_cli_writes_the_truth_table(tmp_path, nb201_file):
    archs = tmp_path / "archs.csv"
    pd.DataFrame({"order": range(2), "arch_id": [index_of(a) for a in ARCHS[:2]], "arch": ARCHS[:2]}).to_csv(
        archs, index=False)
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    out = tmp_path / "truth.csv"
    args = parser.parse_args(["truth", "--benchmark", "nb201", "--path", str(nb201_file), "--archs", str(archs),
                              "--dataset", "ImageNet16-120", "--histories", "--out", str(out)])  # as truth.smk
    assert args.func(args) == 0
    df = pd.read_csv(out)
    assert df["arch"].tolist() == ARCHS[:2]
    assert df["test_acc"].tolist() == [31.0, 32.0] and df["valid_acc"].tolist() == [30.0, 31.0]
    hist = [_history(tmp_path / str(k) / "history.json", a, valid=40.0 + k, data_path="gone.npz")
            for k, a in enumerate(ARCHS[:2])]
    args = parser.parse_args(["truth", "--benchmark", "train", "--archs", str(archs), "--dataset", "cifar10",
                              "--histories", *map(str, hist), "--out", str(out)])
    assert args.func(args) == 0
    df = pd.read_csv(out)
    assert df["valid_acc"].tolist() == [40.0, 41.0] and df["train_seconds"].tolist() == [9.0, 9.0]


@pytest.mark.parametrize("kind", ["nb201", "nats_tss"])
def test_search_oracle_reads_nb201_and_nats_files(kind, nb201_file, nats_dir):
    """The search strategies' oracle adapter answers from the real benchmark APIs: accuracy and
    the recorded training time of the run behind the validation accuracy, at 200 and 12 epochs."""
    from knas.search.oracle import load_truth_oracle

    path = nb201_file if kind == "nb201" else nats_dir
    for dataset in ("cifar10", "cifar100"):
        oracle = load_truth_oracle(kind, str(path), dataset)
        for k, arch in enumerate(ARCHS):
            want = expected(k, dataset)
            got = oracle.fidelity(arch, dataset, epochs=200)
            assert got["valid_acc"] == pytest.approx(want["valid_acc"])
            assert got["test_acc"] == pytest.approx(want["test_acc"])
            assert got["train_seconds"] == pytest.approx(want["train_seconds_200ep"])
            if (k, dataset) != DROP_12EP:
                got12 = oracle.fidelity(arch, dataset, epochs=12)
                assert got12["valid_acc"] == pytest.approx(want["valid_acc_12ep"])
                assert got12["train_seconds"] == pytest.approx(want["train_seconds_12ep"])
