"""``knas train``: one architecture (of ``--space``) with NB201's recipe, resumable (:mod:`knas.train`)."""
from __future__ import annotations

import argparse
import dataclasses
import json


def add_cli(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``knas train`` on an argparse sub-parser set; it calls :func:`cmd_train`."""
    from knas.train_config import LR_SCHEDULES, TrainConfig

    from .common import space_flags

    d = TrainConfig()
    p = sub.add_parser(
        "train", parents=[space_flags()],
        help="train one architecture (NB201 recipe, resumable)",
        description="Train one NB201 architecture with NB201's recipe; writes OUT/checkpoint.pt each "
        "epoch (a rerun resumes) and OUT/history.json at the end.",
    )
    p.add_argument("--arch", required=True, help="architecture string of --space (NB201: |op~0|+|op~0|op~1|+|...|)")
    p.add_argument("--data", required=True, help="prepared data file (.npz from `knas.data.prepare`)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"number of epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"initial learning rate (default {d.lr})")
    p.add_argument("--momentum", type=float, default=d.momentum, help=f"default {d.momentum}")
    p.add_argument("--no-nesterov", dest="nesterov", action="store_false", help="plain momentum instead of Nesterov")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help=f"default {d.weight_decay}")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                   help="epoch: NB201's per-epoch cosine (default); iter: per-iteration cosine")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="no train-time augmentation")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    p.add_argument("--C", type=int, default=d.C, help=f"stem channels (default {d.C})")
    p.add_argument("--N", type=int, default=d.N, help=f"cells per stage (default {d.N})")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--train-split", default=d.train_split,
                   help=f"split trained on (default {d.train_split}; NB201's cifar10 setting: train+valid)")
    p.add_argument("--eval-split", default=d.eval_split, help=f"split evaluated every epoch (default {d.eval_split})")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: only when stderr is a terminal)")
    p.set_defaults(func=cmd_train)
    return p


def config_from_args(args: argparse.Namespace):
    """Build a :class:`TrainConfig` from parsed ``knas train`` arguments."""
    from knas.train_config import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def cmd_train(args: argparse.Namespace) -> int:
    """Entry point of ``knas train``: train, print the final metrics as JSON, return 0."""
    from knas.train import train_architecture

    history = train_architecture(args.arch, args.data, args.out, config_from_args(args), progress=args.progress)
    print(json.dumps({"arch": history["arch"], "params": history["params"], **history.get("final", {})}))
    return 0
