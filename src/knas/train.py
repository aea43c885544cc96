"""Train one NAS-Bench-201 architecture with the benchmark's recipe, resumably.

The recipe follows NB201's ``configs/nas-benchmark/hyper-opts/200E.config`` and
``procedures/funcs_nasbench.py`` (D-X-Y/AutoDL-Projects, also shipped as ``xautodl``):
SGD with momentum 0.9 and Nesterov, lr 0.1, weight decay 5e-4 on *every* parameter (BN
included, as ``get_optim_scheduler`` does), batch 256, cross-entropy, cosine decay with
``eta_min = 0`` and ``T_max = epochs``, no warm-up, no label smoothing.

Learning-rate schedule. NB201 calls ``scheduler.update(None, i / len(loader))`` every
iteration, but its ``CosineAnnealingLR.get_lr`` only reads ``current_epoch`` once warm-up is
over (warm-up is 0), so the official learning rate is *constant within an epoch*:
``lr_e = 0.1 * (1 + cos(pi * e / E)) / 2`` for ``e = 0 .. E-1`` (the last epoch does not reach
0). ``lr_schedule="epoch"`` (the default) reproduces that exactly. ``lr_schedule="iter"`` is the
smooth per-iteration variant ``t = e + i / n_batches`` that decays to (almost) 0 at the end;
it is *not* what the benchmark used.

Outputs in ``out_dir``:

- ``checkpoint.pt``, written atomically after every epoch: model, optimizer, schedule state,
  epochs done, global RNG states, history so far, config, data fingerprint. A rerun resumes
  from it when the arch, the config (all fields except ``device``) and the data match.
- ``history.json``, written atomically once, when all epochs are done (the Snakemake output).

Changed settings and damaged files never block a rerun. A checkpoint or history of another run
(any result field differs, e.g. a changed lr, C or seed, or other data) is discarded with a
warning and training starts over; so is one that cannot be read (truncated, changed after it
was written). Changing ``epochs`` also starts over: the cosine schedule depends on the total
number of epochs (``T_max = epochs``), so continuing a shorter run would not give the result of
a run of the new length.

Determinism: the shuffling/augmentation generator of epoch ``e`` is seeded from
``(seed, e)`` and the global RNG states are checkpointed, so on CPU a run interrupted after
any epoch and resumed gives bit-identical weights and history (except the wall-clock
``seconds`` fields) to an uninterrupted one. On CUDA, cuDNN kernels may be non-deterministic;
we do not force deterministic algorithms (that would slow every user down).
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from knas.data import iterate_batches, load_prepared
from knas.train_config import _NON_RESULT_FIELDS, LR_SCHEDULES, TrainConfig, _is_int  # noqa: F401 (re-exported)
from knas.utils import CorruptFileError, atomic_path, check_integrity, file_sha256, get_device, read_json
from knas.utils import seed_everything, write_json

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
FORMAT_VERSION = 1

# ----------------------------------------------------------------------------- schedule


def cosine_lr(base_lr: float, epoch: int, epochs: int, frac: float = 0.0, mode: str = "epoch") -> float:
    """Learning rate at ``epoch`` (0-based) and fraction ``frac`` in [0, 1) of that epoch.

    ``mode="epoch"`` is NB201's schedule (``frac`` ignored); ``mode="iter"`` uses
    ``t = epoch + frac``. Both: ``eta_min = 0``, ``T_max = epochs``.
    """
    if mode not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule {mode!r} is invalid; allowed: {', '.join(LR_SCHEDULES)}")
    t = epoch + (frac if mode == "iter" else 0.0)
    return base_lr * (1.0 + math.cos(math.pi * t / epochs)) / 2.0


class CosineSchedule:
    """Sets the optimizer's learning rate from :func:`cosine_lr` before every step.

    A pure function of ``(epoch, iteration)``; the state is kept only for checkpoints.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, base_lr: float, epochs: int, mode: str):
        self.optimizer, self.base_lr, self.epochs, self.mode = optimizer, base_lr, epochs, mode
        self.epoch, self.frac = 0, 0.0

    def set(self, epoch: int, it: int, n_iters: int) -> float:
        self.epoch, self.frac = epoch, it / n_iters
        lr = cosine_lr(self.base_lr, epoch, self.epochs, self.frac, self.mode)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "epochs": self.epochs, "mode": self.mode, "epoch": self.epoch, "frac": self.frac}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base_lr, self.epochs, self.mode = state["base_lr"], state["epochs"], state["mode"]
        self.epoch, self.frac = state["epoch"], state["frac"]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """CPU generator for epoch ``epoch``'s shuffling/augmentation, derived from ``(seed, epoch)``."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


# ----------------------------------------------------------------------------- RNG states


def _get_rng_states() -> dict[str, Any]:
    """Global RNG states, in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


# ----------------------------------------------------------------------------- one epoch


def _n_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size  # drop_last=False, as NB201's loaders


def train_one_epoch(
    net: nn.Module,
    data,
    optimizer: torch.optim.Optimizer,
    schedule: CosineSchedule,
    epoch: int,
    cfg: TrainConfig,
    device: torch.device,
    bar: Callable | None = None,
) -> dict[str, float]:
    """One pass over ``cfg.train_split``; returns mean loss, accuracy (%) and the epoch's first lr."""
    n_train = len(data.split(cfg.train_split)[1])
    n_iters = _n_batches(n_train, cfg.batch_size)
    criterion = nn.CrossEntropyLoss()
    net.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen, lr0 = 0, None
    batches = iterate_batches(
        data, cfg.train_split, cfg.batch_size, shuffle=True, augment=cfg.augment,
        generator=epoch_generator(cfg.seed, epoch), device=device, drop_last=False,
    )
    it = -1
    for it, (x, y) in enumerate(batches):  # x: (B, C, H, W) float32, y: (B,) int64
        lr = schedule.set(epoch, it, n_iters)
        lr0 = lr if lr0 is None else lr0
        logits = net(x)  # (B, classes)
        loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        b = y.shape[0]
        loss_sum += loss.detach().double() * b
        correct += (logits.detach().argmax(1) == y).sum()
        seen += b
        if bar is not None:
            bar(it + 1, n_iters, loss)
    if it + 1 != n_iters:
        raise RuntimeError(f"iterate_batches gave {it + 1} batches for {n_train} examples; expected {n_iters}")
    return {"lr": float(lr0), "train_loss": float(loss_sum) / seen, "train_acc": 100.0 * int(correct) / seen}


@torch.no_grad()
def evaluate(net: nn.Module, data, split: str, batch_size: int, device: torch.device) -> dict[str, float]:
    """Mean cross-entropy and top-1 accuracy (%) on ``split``, in eval mode (BN running stats)."""
    was_training = net.training
    net.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    batches = iterate_batches(
        data, split, batch_size, shuffle=False, augment=False, generator=None, device=device, drop_last=False,
    )
    for x, y in batches:
        logits = net(x)  # (B, classes)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
        seen += y.shape[0]
    net.train(was_training)
    if seen == 0:
        raise ValueError(f"split {split!r} is empty")
    return {"loss": float(loss_sum) / seen, "acc": 100.0 * int(correct) / seen}


# ----------------------------------------------------------------------------- helpers


def _split_names(data) -> list[str] | None:
    """Names of the stored splits of ``data`` (its ``splits`` mapping), for error messages."""
    names = getattr(data, "splits", None)
    return None if names is None else list(names)


def _has_split(data, name: str) -> bool:
    try:
        data.split(name)
    except (KeyError, ValueError):
        return False
    return True


def _mismatches(arch: str, cfg: TrainConfig, data_sha: str, saved: dict[str, Any]) -> list[str]:
    """How a saved run (checkpoint or history) differs from the requested one (empty: the same)."""
    problems = []
    if saved.get("arch") != arch:
        problems.append(f"arch {saved.get('arch')!r} != {arch!r}")
    want = cfg.result_fields()
    got = {k: v for k, v in (saved.get("config") or {}).items() if k not in _NON_RESULT_FIELDS}
    for key in sorted(set(want) | set(got)):
        if got.get(key, "<missing>") != want.get(key, "<missing>"):
            problems.append(f"config.{key} {got.get(key, '<missing>')!r} != {want.get(key, '<missing>')!r}")
    if saved.get("data_sha256") != data_sha:
        problems.append("the prepared data file differs (sha256 mismatch)")
    return problems


def _discard(path: Path, why: str) -> None:
    """Remove a saved run that must not be reused, with a warning saying why."""
    log.warning("%s: %s; discarded, training starts over", path, why)
    path.unlink(missing_ok=True)


def _load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None (with a warning, file removed) when it is unreadable."""
    try:
        check_integrity(path)
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (CorruptFileError, OSError, RuntimeError, EOFError, ValueError) as err:
        # torch raises RuntimeError/OSError for a truncated zip, UnpicklingError (a ValueError... or
        # not, by version) for damaged content
        why = err.why if isinstance(err, CorruptFileError) else (str(err).splitlines() or [type(err).__name__])[0]
        _discard(path, f"unreadable checkpoint ({why})")
        return None
    except Exception as err:  # noqa: BLE001 - pickle.UnpicklingError and friends: a damaged file
        _discard(path, f"unreadable checkpoint ({type(err).__name__}: {err})")
        return None
    if not isinstance(ckpt, dict) or ckpt.get("format_version") != FORMAT_VERSION:
        version = ckpt.get("format_version") if isinstance(ckpt, dict) else None
        _discard(path, f"checkpoint format_version {version!r} != {FORMAT_VERSION}")
        return None
    return ckpt


def _count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _make_bar(enabled: bool, epoch: int, epochs: int, n_iters: int):
    """A tqdm bar over one epoch's batches (or None); returns (update_fn, close_fn, write_fn)."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is optional: fall back to one line per epoch
            enabled = False
    if not enabled:
        return None, (lambda: None), (lambda s: print(s, flush=True))
    bar = tqdm(total=n_iters, desc=f"epoch {epoch + 1}/{epochs}", file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(i: int, n: int, loss: torch.Tensor) -> None:
        bar.update(1)
        if i % 10 == 0 or i == n:
            bar.set_postfix(loss=f"{loss.item():.4f}")

    return update, bar.close, (lambda s: tqdm.write(s, file=sys.stderr))


# ----------------------------------------------------------------------------- main entry


def train_architecture(
    arch: str,
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    cfg: TrainConfig,
    progress: bool | None = None,
    *,
    max_epochs_this_call: int | None = None,
) -> dict[str, Any]:
    """Train ``arch`` (an NB201 string) on the prepared data at ``data_path``; resumable.

    Writes ``out_dir/checkpoint.pt`` after every epoch and ``out_dir/history.json`` at the end;
    returns the history dict. A rerun resumes from the checkpoint when arch, config (except
    ``device``) and data match; a finished run returns its history at once. A checkpoint or history
    of another run, or one that cannot be read, is discarded with a warning (see the module doc).

    ``progress``: a tqdm bar when True, one printed line per epoch when False, and None means
    "bar only if stderr is a terminal". ``max_epochs_this_call`` stops after that many epochs of
    this call (a controlled interruption, e.g. to fit a job's time limit); the returned dict then
    has ``finished: False`` and no ``final`` metrics, and no ``history.json`` is written.

    History fields (accuracies in %, NB201's convention): ``epochs`` is a list of
    ``{epoch, lr, train_loss, train_acc, valid_loss, valid_acc, seconds}`` where ``valid_*`` are
    measured on ``cfg.eval_split`` in eval mode and ``lr`` is the epoch's first learning rate;
    ``final`` holds ``valid_acc`` (last epoch), ``best_valid_acc``, ``best_valid_epoch``,
    ``test_loss``/``test_acc`` (the ``test`` split after the last epoch; None if the data has no
    test split), ``train_seconds`` (sum of epoch seconds over all calls); also ``params``.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if max_epochs_this_call is not None and not (_is_int(max_epochs_this_call) and max_epochs_this_call >= 1):
        raise ValueError(f"max_epochs_this_call = {max_epochs_this_call!r} is invalid; allowed: None or an integer >= 1")
    data_path, out_dir = Path(data_path), Path(out_dir)
    check_out_dir(out_dir)
    if not data_path.is_file():
        raise ValueError(f"data_path {str(data_path)!r} is not a file (prepare it with knas.data.prepare)")
    device = get_device(cfg.device)
    data = load_prepared(data_path)  # checks the file's integrity before it is fingerprinted
    data_sha = file_sha256(data_path)
    hist_path, ckpt_path = out_dir / HISTORY, out_dir / CHECKPOINT

    if hist_path.exists():  # finished earlier: nothing to do, if it is this run
        try:
            history = read_json(hist_path)
        except CorruptFileError as err:
            _discard(hist_path, f"unreadable history ({err.why})")
        else:
            problems = _mismatches(arch, cfg, data_sha, history) if isinstance(history, dict) else ["not a history"]
            if not problems:
                return history
            _discard(hist_path, "finished run of other settings (saved != requested: " + "; ".join(problems) + ")")
    for field_name in ("train_split", "eval_split"):
        split = getattr(cfg, field_name)
        if not _has_split(data, split):
            names = _split_names(data)
            raise ValueError(
                f"TrainConfig.{field_name} = {split!r}: no such split in {str(data_path)!r}"
                + (f"; available: {', '.join(names)}" if names is not None else "")
            )

    seed_everything(cfg.seed)
    from knas.spaces import get_space

    net = get_space(cfg.space).build_network(arch, num_classes=int(data.num_classes), input_size=data.input_shape[-1],
                                             seed=cfg.seed, **cfg.network_options()).to(device)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
    )
    schedule = CosineSchedule(optimizer, cfg.lr, cfg.epochs, cfg.lr_schedule)
    records: list[dict[str, Any]] = []
    start_epoch, train_seconds = 0, 0.0

    ckpt = _load_checkpoint(ckpt_path) if ckpt_path.exists() else None
    if ckpt is not None and (problems := _mismatches(arch, cfg, data_sha, ckpt)):
        _discard(ckpt_path, "checkpoint of other settings (saved != requested: " + "; ".join(problems) + ")")
        ckpt = None
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["scheduler"])
        _set_rng_states(ckpt["rng"])
        records = list(ckpt["history"])
        start_epoch, train_seconds = int(ckpt["epoch"]), float(ckpt["train_seconds"])

    show_bar = sys.stderr.isatty() if progress is None else bool(progress)
    n_iters = _n_batches(len(data.split(cfg.train_split)[1]), cfg.batch_size)
    stop_at = cfg.epochs if max_epochs_this_call is None else min(cfg.epochs, start_epoch + max_epochs_this_call)
    for epoch in range(start_epoch, stop_at):
        t0 = time.perf_counter()
        update, close, write = _make_bar(show_bar, epoch, cfg.epochs, n_iters)
        try:
            tr = train_one_epoch(net, data, optimizer, schedule, epoch, cfg, device, bar=update)
        finally:
            close()
        ev = evaluate(net, data, cfg.eval_split, cfg.batch_size, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        train_seconds += seconds
        records.append({"epoch": epoch, **tr, "valid_loss": ev["loss"], "valid_acc": ev["acc"], "seconds": seconds})
        write(
            f"[{arch}] epoch {epoch + 1}/{cfg.epochs} lr={tr['lr']:.5f} train_loss={tr['train_loss']:.4f} "
            f"train_acc={tr['train_acc']:.2f} {cfg.eval_split}_loss={ev['loss']:.4f} "
            f"{cfg.eval_split}_acc={ev['acc']:.2f} ({seconds:.1f}s)"
        )
        _save_checkpoint(ckpt_path, arch, cfg, data_sha, net, optimizer, schedule, epoch + 1, records, train_seconds)

    history: dict[str, Any] = {
        "arch": arch,
        "config": cfg.record(),
        **({} if cfg.space == "nb201" else {"space": cfg.space}),
        "data_path": str(data_path),
        "data_sha256": data_sha,
        "device": str(device),
        "eval_split": cfg.eval_split,
        "params": _count_params(net),
        "epochs": records,
        "finished": len(records) == cfg.epochs,
    }
    if not history["finished"]:
        return history
    test = evaluate(net, data, "test", cfg.batch_size, device) if _has_split(data, "test") else None
    best = max(range(len(records)), key=lambda i: records[i]["valid_acc"])  # first best on ties
    history["final"] = {
        "valid_loss": records[-1]["valid_loss"],
        "valid_acc": records[-1]["valid_acc"],
        "best_valid_acc": records[best]["valid_acc"],
        "best_valid_epoch": records[best]["epoch"],
        "test_loss": None if test is None else test["loss"],
        "test_acc": None if test is None else test["acc"],
        "train_seconds": train_seconds,
    }
    write_json(hist_path, history)
    return history


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """The output of a run (``knas train --out``) must be a directory or not exist yet (checked
    before any epoch, so a wrong path never costs a training)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {str(out_dir)!r} is an existing file; the output must be a directory")
    return out_dir


def _save_checkpoint(path, arch, cfg, data_sha, net, optimizer, schedule, epoch, records, train_seconds) -> None:
    state = {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "config": cfg.record(),
        "data_sha256": data_sha,
        "epoch": epoch,  # epochs completed
        "model": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": schedule.state_dict(),
        "rng": _get_rng_states(),
        "history": records,
        "train_seconds": train_seconds,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
