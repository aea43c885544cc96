"""Tests of knas.train: NB201's recipe, history content, exact resume, errors, CLI.

Real pieces throughout: the NB201 network (``knas.nb201.model``, C=8/N=1 or smaller) and
scikit-learn's digits prepared by ``knas.data.prepare``. Budget: ~30 s on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import re

import pytest
import torch

import knas.train as kt
from knas.data import iterate_batches, load_prepared, prepare
from knas.cli.train import add_cli, config_from_args
from knas.nb201.model import build_network
from knas.train import (
    CHECKPOINT,
    HISTORY,
    CosineSchedule,
    TrainConfig,
    cosine_lr,
    train_architecture,
)

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
OTHER_ARCH = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
# NB201 defaults except the run's size: 3 epochs, batch 128 (9 iterations per epoch on 1,079 digits).
CFG = TrainConfig(epochs=3, batch_size=128, C=8, N=1, device="cpu", seed=0)


def _load_ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _no_time(history: dict) -> dict:
    """A history without its wall-clock fields (the only ones allowed to differ between runs)."""
    h = json.loads(json.dumps(history))
    for rec in h["epochs"]:
        rec.pop("seconds")
    if "final" in h:
        h["final"].pop("train_seconds")
    h.pop("data_path")
    return h


def _assert_same_state(a: dict, b: dict) -> None:
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys() and len(sa) > 0
    for k in sa:
        assert torch.equal(sa[k]["momentum_buffer"], sb[k]["momentum_buffer"]), k


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks gain nothing from intra-op threads, and on a busy 2-core machine two
    spinning threads per process slow these tests down ~8x; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return prepare("digits", None, tmp_path_factory.mktemp("data") / "digits.npz", seed=0)


@pytest.fixture(scope="module")
def full_run(digits, tmp_path_factory):
    """One uninterrupted run: (out_dir, returned history)."""
    out = tmp_path_factory.mktemp("run_a")
    return out, train_architecture(ARCH, digits, out, CFG, progress=False)


# ------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("batch_size", 2.5), ("lr", -0.1), ("momentum", 1.0), ("weight_decay", -1.0),
     ("lr_schedule", "step"), ("seed", -1), ("C", 0), ("N", True), ("eval_split", "")],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**{field: value})


def test_config_defaults_are_nb201():
    d = TrainConfig()
    assert (d.epochs, d.batch_size, d.lr, d.momentum, d.nesterov, d.weight_decay) == (200, 256, 0.1, 0.9, True, 5e-4)
    assert (d.C, d.N, d.lr_schedule, d.augment) == (16, 5, "epoch", True)
    with pytest.raises(ValueError, match="nesterov"):
        TrainConfig(momentum=0.0)


# ------------------------------------------------------------------------------------ schedule


def _xautodl_optimizers():
    """xautodl's ``procedures/optimizers.py`` loaded by file (its package __init__ pulls in extras)."""
    spec = importlib.util.find_spec("xautodl")
    if spec is None:
        pytest.skip("xautodl not installed")
    path = spec.submodule_search_locations[0] + "/procedures/optimizers.py"
    mod_spec = importlib.util.spec_from_file_location("_xautodl_optimizers", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def test_epoch_schedule_equals_nb201_scheduler():
    """Drive xautodl's CosineAnnealingLR exactly as NB201's funcs_nasbench.py does
    (update(epoch, 0.0) per epoch, update(None, i / n) per iteration) and compare every lr."""
    xo = _xautodl_optimizers()
    epochs, n_iters = 7, 5
    p = [torch.nn.Parameter(torch.zeros(1))]
    ref_opt = torch.optim.SGD(p, 0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    ref = xo.CosineAnnealingLR(ref_opt, 0, epochs, epochs, 0.0)  # NB201: warmup 0, T_max = epochs, eta_min 0
    ours_opt = torch.optim.SGD(p, 0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    ours = CosineSchedule(ours_opt, 0.1, epochs, "epoch")
    for epoch in range(epochs):
        ref.update(epoch, 0.0)
        for i in range(n_iters):
            ref.update(None, 1.0 * i / n_iters)
            assert ours.set(epoch, i, n_iters) == ref_opt.param_groups[0]["lr"]
            assert ours_opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]
    assert ours_opt.param_groups[0]["lr"] > 0  # NB201's last epoch does not reach 0


def test_iter_schedule_is_smooth_cosine():
    lrs = [cosine_lr(0.1, e, 3, i / 4, "iter") for e in range(3) for i in range(4)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[0] == 0.1 and lrs[5] == pytest.approx(0.05 * (1 + math.cos(math.pi * 1.25 / 3)))
    assert lrs[-1] < cosine_lr(0.1, 2, 3, 0.75, "epoch")
    with pytest.raises(ValueError, match="lr_schedule"):
        cosine_lr(0.1, 0, 3, 0.0, "linear")


# ------------------------------------------------------------------------------------ training


def test_loss_goes_down_and_history_content(full_run, digits):
    out, h = full_run
    assert h["finished"] is True and h["arch"] == ARCH
    assert h["config"] == CFG.record() == {k: v for k, v in dataclasses.asdict(CFG).items() if not k.startswith("space")}
    assert json.loads((out / HISTORY).read_text()) == json.loads(json.dumps(h))
    recs = h["epochs"]
    assert [r["epoch"] for r in recs] == [0, 1, 2]
    assert set(recs[0]) == {"epoch", "lr", "train_loss", "train_acc", "valid_loss", "valid_acc", "seconds"}
    assert [r["lr"] for r in recs] == [cosine_lr(0.1, e, 3) for e in range(3)]
    assert all(r["seconds"] > 0 for r in recs)
    # learning: the loss falls and the network beats chance (10 classes) on held-out digits
    assert recs[-1]["train_loss"] < 0.6 * recs[0]["train_loss"]
    assert recs[-1]["train_acc"] > recs[0]["train_acc"]
    assert h["final"]["valid_acc"] > 40 and h["final"]["test_acc"] > 40
    f = h["final"]
    assert f["valid_acc"] == recs[-1]["valid_acc"] and f["valid_loss"] == recs[-1]["valid_loss"]
    assert f["best_valid_acc"] == max(r["valid_acc"] for r in recs)
    assert recs[f["best_valid_epoch"]]["valid_acc"] == f["best_valid_acc"]
    assert f["train_seconds"] == pytest.approx(sum(r["seconds"] for r in recs))
    assert h["params"] == sum(p.numel() for p in build_network(ARCH, C=8, N=1, num_classes=10).parameters())
    assert h["device"] == "cpu" and h["eval_split"] == "valid"

    # the checkpoint holds the final state, NB201's optimizer settings, and the same history
    ck = _load_ckpt(out / CHECKPOINT)
    assert ck["epoch"] == 3 and ck["arch"] == ARCH and ck["history"] == recs
    group = ck["optimizer"]["param_groups"][0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 5e-4)
    assert {"torch", "numpy", "python", "cuda"} <= set(ck["rng"])

    # metrics re-computed independently from the saved weights
    net = build_network(ARCH, C=8, N=1, num_classes=10)
    net.load_state_dict(ck["model"])
    net.eval()
    data = load_prepared(digits)
    for split, acc in (("valid", f["valid_acc"]), ("test", f["test_acc"])):
        correct = n = 0
        with torch.no_grad():
            for x, y in iterate_batches(data, split, 1000, shuffle=False, augment=False):
                correct += int((net(x).argmax(1) == y).sum())
                n += len(y)
        assert 100.0 * correct / n == pytest.approx(acc)


def test_resume_after_interruption_is_bit_identical(full_run, digits, tmp_path, monkeypatch):
    ref_out, ref = full_run
    out = tmp_path / "run_b"
    # 1) a controlled stop after one epoch: checkpoint, no history.json
    part = train_architecture(ARCH, digits, out, CFG, progress=False, max_epochs_this_call=1)
    assert part["finished"] is False and "final" not in part and len(part["epochs"]) == 1
    assert not (out / HISTORY).exists() and _load_ckpt(out / CHECKPOINT)["epoch"] == 1
    # 2) a crash in the middle of the third epoch (after its training pass, before its checkpoint)
    real_evaluate, calls = kt.evaluate, []

    def crashing_evaluate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(kt, "evaluate", crashing_evaluate)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_architecture(ARCH, digits, out, CFG, progress=False)
    monkeypatch.undo()
    assert _load_ckpt(out / CHECKPOINT)["epoch"] == 2 and not (out / HISTORY).exists()
    # 3) resume to the end: identical weights, momentum buffers, metrics
    done = train_architecture(ARCH, digits, out, CFG, progress=False)
    _assert_same_state(_load_ckpt(out / CHECKPOINT), _load_ckpt(ref_out / CHECKPOINT))
    assert _no_time(done) == _no_time(ref)
    assert done["final"]["train_seconds"] == pytest.approx(sum(r["seconds"] for r in done["epochs"]))


def test_same_seed_same_run_other_seed_differs(full_run, digits, tmp_path):
    ref_out, ref = full_run
    again = train_architecture(ARCH, digits, tmp_path / "again", CFG, progress=False)
    assert _no_time(again) == _no_time(ref)
    _assert_same_state(_load_ckpt(tmp_path / "again" / CHECKPOINT), _load_ckpt(ref_out / CHECKPOINT))
    other = train_architecture(ARCH, digits, tmp_path / "s1", dataclasses.replace(CFG, seed=1), progress=False,
                               max_epochs_this_call=1)
    assert other["epochs"][0]["train_loss"] != ref["epochs"][0]["train_loss"]


def test_finished_run_is_a_no_op(full_run, digits, monkeypatch):
    out, ref = full_run
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / HISTORY, out / CHECKPOINT)}

    def boom(*args, **kwargs):
        raise AssertionError("a finished run must not train or evaluate again")

    monkeypatch.setattr(kt, "train_one_epoch", boom)
    monkeypatch.setattr(kt, "evaluate", boom)
    assert train_architecture(ARCH, digits, out, CFG, progress=False) == json.loads(json.dumps(ref))
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before


def test_run_of_other_settings_is_discarded_and_retrained(full_run, digits, tmp_path, caplog):
    """Issue 11, case 1 (library level): a checkpoint or history of other settings never blocks
    and is never resumed; it is discarded with a warning and the new settings train from scratch."""
    out, _ = full_run
    small = dataclasses.replace(CFG, C=4, batch_size=256)
    fresh = {}

    def fresh_run(cfg, arch=ARCH, data=digits):
        key = (arch, str(data), cfg)
        if key not in fresh:
            fresh[key] = _no_time(train_architecture(arch, data, tmp_path / f"fresh{len(fresh)}", cfg, progress=False))
        return fresh[key]

    # a finished run (history.json + checkpoint) asked for other settings: epochs up, then another arch
    work = tmp_path / "finished"
    work.mkdir()
    for f in (HISTORY, CHECKPOINT):
        (work / f).write_bytes((out / f).read_bytes())
    more = dataclasses.replace(small, epochs=4)
    with caplog.at_level("WARNING", logger="knas.train"):
        got = train_architecture(ARCH, digits, work, more, progress=False)
    assert re.search(r"history\.json: finished run of other settings .*config\.C 8 != 4", caplog.text)
    assert re.search(r"checkpoint\.pt: checkpoint of other settings .*config\.epochs 3 != 4", caplog.text)
    assert _no_time(got) == fresh_run(more) and len(got["epochs"]) == 4
    caplog.clear()
    with caplog.at_level("WARNING", logger="knas.train"):
        got = train_architecture(OTHER_ARCH, digits, work, more, progress=False)
    assert "arch" in caplog.text and _no_time(got) == fresh_run(more, OTHER_ARCH)
    # an unfinished run (checkpoint only): lr changed, then other data
    part = tmp_path / "part"
    train_architecture(ARCH, digits, part, small, progress=False, max_epochs_this_call=1)
    caplog.clear()
    lower = dataclasses.replace(small, lr=0.05)
    with caplog.at_level("WARNING", logger="knas.train"):
        got = train_architecture(ARCH, digits, part, lower, progress=False)
    assert re.search(r"checkpoint\.pt: checkpoint of other settings .*config\.lr 0\.1 != 0\.05", caplog.text)
    assert _no_time(got) == fresh_run(lower)
    (part / HISTORY).unlink()
    other_data = prepare("digits", None, tmp_path / "digits_seed1.npz", seed=1)  # another split
    caplog.clear()
    with caplog.at_level("WARNING", logger="knas.train"):
        got = train_architecture(ARCH, other_data, part, lower, progress=False)
    assert "prepared data file differs" in caplog.text
    assert _no_time(got) == fresh_run(lower, data=other_data)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip_byte"])
def test_damaged_checkpoint_is_discarded_and_training_restarts(digits, tmp_path, caplog, damage):
    """Issue 11, case 3: a truncated/damaged checkpoint.pt never stops training with a traceback."""
    small = dataclasses.replace(CFG, C=4, batch_size=256, epochs=2)
    ref = _no_time(train_architecture(ARCH, digits, tmp_path / "ref", small, progress=False))
    run = tmp_path / "run"
    train_architecture(ARCH, digits, run, small, progress=False, max_epochs_this_call=1)
    ckpt = run / CHECKPOINT
    raw = ckpt.read_bytes()
    if damage == "truncate":
        ckpt.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint")
    else:  # same size, one byte changed: only the recorded SHA-256 can tell
        ckpt.write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    with caplog.at_level("WARNING", logger="knas.train"):
        got = train_architecture(ARCH, digits, run, small, progress=False)
    assert re.search(r"checkpoint\.pt: unreadable checkpoint .*training starts over", caplog.text), caplog.text
    assert _no_time(got) == ref


def test_out_that_is_a_file_fails_before_training(digits, tmp_path, monkeypatch):
    """Issue 11, case 3: `knas train --out FILE` stops at once, not after an epoch."""
    f = tmp_path / "a_file"
    f.write_text("x")
    monkeypatch.setattr(kt, "train_one_epoch", lambda *a, **k: pytest.fail("trained before checking --out"))
    with pytest.raises(ValueError, match="an existing file; the output must be a directory"):
        train_architecture(ARCH, digits, f, CFG, progress=False)


def test_bad_arguments_are_clear_errors(digits, tmp_path):
    with pytest.raises(ValueError, match=r"eval_split = 'validation'.*available: train, valid, test"):
        train_architecture(ARCH, digits, tmp_path / "x", dataclasses.replace(CFG, eval_split="validation"))
    with pytest.raises(ValueError, match="data_path"):
        train_architecture(ARCH, tmp_path / "missing.npz", tmp_path / "x", CFG)
    with pytest.raises(ValueError, match="max_epochs_this_call"):
        train_architecture(ARCH, digits, tmp_path / "x", CFG, max_epochs_this_call=0)
    with pytest.raises(TypeError, match="TrainConfig"):
        train_architecture(ARCH, digits, tmp_path / "x", {"epochs": 1})
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------ CLI, output


def test_cli_train_plus_valid_on_test(digits, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="knas")
    add_cli(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "cli"
    args = parser.parse_args([
        "train", "--arch", ARCH, "--data", str(digits), "--out", str(out), "--epochs", "2",
        "--batch-size", "256", "--C", "4", "--N", "1", "--device", "cpu", "--lr", "0.05",
        "--train-split", "train+valid", "--eval-split", "test", "--no-progress",
    ])
    cfg = config_from_args(args)
    assert cfg == TrainConfig(epochs=2, batch_size=256, lr=0.05, C=4, N=1, device="cpu",
                              train_split="train+valid", eval_split="test")
    assert args.func(args) == 0
    stdout = capsys.readouterr().out.strip().splitlines()
    assert sum("epoch " in line for line in stdout) == 2  # one line per epoch without a bar
    result = json.loads(stdout[-1])
    h = json.loads((out / HISTORY).read_text())
    assert result["test_acc"] == h["final"]["test_acc"] == h["epochs"][-1]["valid_acc"]  # eval split is test
    assert h["config"] == cfg.record()


def test_progress_bar_goes_to_stderr(digits, tmp_path, capsys):
    cfg = dataclasses.replace(CFG, epochs=1, C=4, batch_size=256)
    train_architecture(ARCH, digits, tmp_path / "bar", cfg, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/1" in captured.err and "epoch 1/1" not in captured.out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run(digits, tmp_path):
    cfg = dataclasses.replace(CFG, epochs=1, device="cuda")
    h = train_architecture(ARCH, digits, tmp_path / "gpu", cfg, progress=False)
    assert h["device"].startswith("cuda") and h["finished"]
    assert h["epochs"][0]["train_loss"] == pytest.approx(
        train_architecture(ARCH, digits, tmp_path / "cpu", dataclasses.replace(cfg, device="cpu"),
                           progress=False)["epochs"][0]["train_loss"], rel=1e-3)
