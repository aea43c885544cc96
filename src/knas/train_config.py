"""The training recipe of one run (:class:`TrainConfig`) and of a study's training phases.

No torch here: ``knas.config.check_config`` builds the study's configs when the workflow is
parsed, so a bad value (``train.momentum: 1.0``, ``lr: .inf``, Nesterov without momentum) stops
the study before any job, with the same check the training job makes (:mod:`knas.train`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

LR_SCHEDULES = ("epoch", "iter")
# Fields of TrainConfig that do not change the result: a checkpoint may be resumed with others.
_NON_RESULT_FIELDS = frozenset({"device"})


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: NB201's 200-epoch recipe)."""

    epochs: int = 200  # NB201: 200 (the 12-epoch "hp=12" setting is epochs=12)
    batch_size: int = 256  # NB201: 256, train and eval
    lr: float = 0.1  # initial learning rate
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # applied to all parameters, as NB201 does
    lr_schedule: str = "epoch"  # "epoch": NB201's per-epoch cosine; "iter": smooth per-iteration cosine
    augment: bool = True  # train-time augmentation as defined by knas.data (NB201: crop + flip)
    seed: int = 0  # network init, shuffling, augmentation
    C: int = 16  # NB201 stem channels
    N: int = 5  # NB201 cells per stage
    device: str = "auto"  # auto | cpu | cuda | cuda:N (does not affect resume checks)
    train_split: str = "train"  # NB201 "cifar10-valid": train; NB201 "cifar10": train+valid (eval on test)
    eval_split: str = "valid"  # split evaluated after every epoch ("valid_*" in the history)
    space: str = "nb201"  # space.name (knas.spaces): whose network is trained; C and N are nb201's
    space_options: dict = field(default_factory=dict)  # network options of other spaces (nb101: stem_channels, ...)

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, allowed: str) -> None:
            if not ok:
                raise ValueError(f"TrainConfig.{name} = {getattr(self, name)!r} is invalid; allowed: {allowed}")

        need(_is_int(self.epochs) and self.epochs >= 1, "epochs", "an integer >= 1")
        need(_is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "an integer >= 1")
        need(_is_num(self.lr) and self.lr > 0, "lr", "a number > 0")
        need(_is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "a number in [0, 1)")
        need(isinstance(self.nesterov, bool), "nesterov", "True or False")
        if self.nesterov and self.momentum == 0:
            raise ValueError("TrainConfig.nesterov = True needs momentum > 0 (got momentum = 0)")
        need(_is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number >= 0")
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule", ", ".join(LR_SCHEDULES))
        need(isinstance(self.augment, bool), "augment", "True or False")
        need(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
        need(_is_int(self.C) and self.C >= 1, "C", "an integer >= 1")
        need(_is_int(self.N) and self.N >= 1, "N", "an integer >= 1")
        need(isinstance(self.device, str), "device", "auto, cpu, cuda, cuda:N")
        need(isinstance(self.train_split, str) and bool(self.train_split), "train_split", "a split name, e.g. train or train+valid")
        need(isinstance(self.eval_split, str) and bool(self.eval_split), "eval_split", "a split name, e.g. valid or test")
        from knas.spaces import names as space_names

        need(self.space in space_names(), "space", ", ".join(space_names()))
        need(isinstance(self.space_options, dict), "space_options", "a dict of the space's network options")

    def __hash__(self) -> int:  # space_options is a dict: hash the stored form
        return hash(repr(sorted((k, repr(v)) for k, v in asdict(self).items())))

    def record(self) -> dict[str, Any]:
        """The config as histories and checkpoints store it (an nb201 run without space options
        stores no space fields: its files are those of the NB201-only versions)."""
        d = asdict(self)
        if self.space == "nb201" and not self.space_options:
            del d["space"], d["space_options"]
        return d

    def network_options(self) -> dict[str, int]:
        from knas.spaces import get_space

        base = {"C": self.C, "N": self.N} if self.space == "nb201" else {}
        return get_space(self.space).options(**base, **self.space_options)

    def result_fields(self) -> dict[str, Any]:
        """The fields that determine the result (everything but ``device``)."""
        return {k: v for k, v in self.record().items() if k not in _NON_RESULT_FIELDS}


# TrainConfig field -> the study config key it comes from (knas.config.check_config, train rule)
STUDY_KEYS = {"batch_size": "train.batch_size", "lr": "train.lr", "momentum": "train.momentum",
              "nesterov": "train.nesterov", "weight_decay": "train.weight_decay", "seed": "seed",
              "C": "space.C", "N": "space.N", "device": "device"}


def study_train_config(config: dict[str, Any], phase: str) -> TrainConfig:
    """The :class:`TrainConfig` of a study's training phase: ``truth`` (every sampled architecture,
    ``truth.epochs``) or ``topk`` (the selected ones, ``train.epochs``), from the (schema-validated)
    study config. A bad value is a ValueError naming the config key and the allowed values, at
    parse time (``knas.config.check_config``) as in the job."""
    train = config.get("train", {})
    values = {"epochs": (config.get("truth", {}) if phase == "truth" else train).get("epochs", 12 if phase == "truth" else 20),
              "seed": config.get("seed", 0), "device": config.get("device", "auto"),
              "C": config.get("space", {}).get("C", 16), "N": config.get("space", {}).get("N", 5)}
    values.update({k: train[k] for k in ("batch_size", "lr", "momentum", "nesterov", "weight_decay") if k in train})
    keys = {**STUDY_KEYS, "epochs": f"{phase if phase == 'truth' else 'train'}.epochs"}
    try:
        return TrainConfig(**values)
    except ValueError as err:
        msg = str(err)
        for name, key in sorted(keys.items(), key=lambda kv: -len(kv[0])):
            msg = msg.replace(f"TrainConfig.{name} ", f"config key {key} ")
        msg = msg.replace("(got momentum = 0)", "(got train.momentum = 0; set train.nesterov: false or momentum > 0)")
        raise ValueError(msg) from None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


