"""Fine-tune one (candidate wiring, seed) on a GLUE-style sentence-pair task; dev accuracy.

A plain PyTorch loop with the settings of transformers' ``Trainer`` defaults that the KNAS protocol
keeps ("batch size 4, learning rate 3e-5 (MRPC) / 2e-5 (RTE), other settings transformers'
defaults"): AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0), linear decay to 0 with no warm-up,
gradient-norm clipping at 1.0, 3 epochs, dropout on while training, a reshuffle of the training set
every epoch, mean cross-entropy. Evaluation on the dev set after every epoch (dropout off); the
reported ``dev_accuracy`` is the one after the last epoch (no selection on dev).

Deviations from ``run_glue.py`` + ``Trainer``, documented: batches are padded to their longest
example rather than to ``max_length`` (the attention mask makes this numerically equivalent up to
float rounding, and it is faster); the head is initialised by :func:`~knas.text.model.reset_head`
from the seed; shuffling uses its own ``torch.Generator`` seeded with ``seed``. On CPU a run is
deterministic for a given seed.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from knas.utils import get_device, seed_everything, write_json

from .data import LABEL_NAMES, NUM_LABELS, check_task, load_task
from .model import TINY, collate, encode_rows, load_model_and_tokenizer
from .wiring import Wiring, rewire

PAPER_LR = {"mrpc": 3e-5, "rte": 2e-5}  # KNAS, text classification


@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning hyper-parameters (defaults: KNAS's text protocol / transformers' Trainer)."""

    lr: float = 2e-5  # KNAS: 3e-5 MRPC, 2e-5 RTE
    batch_size: int = 4  # KNAS: 4
    epochs: int = 3  # Trainer default
    weight_decay: float = 0.0  # Trainer default
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    warmup_ratio: float = 0.0
    max_grad_norm: float = 1.0  # Trainer default
    max_length: int = 128  # run_glue.py default max_seq_length
    eval_batch_size: int = 8  # Trainer default
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs", "max_length", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"fine-tuning option {name}={v!r}: must be a positive integer")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"fine-tuning option lr={self.lr!r}: must be a positive number")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"fine-tuning option warmup_ratio={self.warmup_ratio!r}: must be in [0, 1)")


def make_optimizer(model: nn.Module, cfg: FinetuneConfig, total_steps: int):
    """AdamW + linear schedule (transformers' ``get_linear_schedule_with_warmup`` formula).

    As ``Trainer``, biases and LayerNorm weights get no weight decay (irrelevant at the default 0).
    """
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
    )
    warmup = math.ceil(cfg.warmup_ratio * total_steps)

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)


def train_step(model: nn.Module, batch: dict, opt, sched, max_grad_norm: float) -> float:
    """One optimisation step on a collated batch (model in train mode); returns the batch loss."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # (B, K)
    loss = F.cross_entropy(logits, batch["labels"])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm and max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    opt.step()
    sched.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: nn.Module, examples: list[dict], pad_id: int, batch_size: int = 8) -> dict:
    """Accuracy and mean CE loss on encoded examples (dropout off; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct, loss_sum = 0, 0.0
    try:
        for s in range(0, len(examples), batch_size):
            b = collate(examples[s : s + batch_size], pad_id, device)
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            loss_sum += float(F.cross_entropy(logits.float(), b["labels"], reduction="sum"))
            correct += int((logits.argmax(-1) == b["labels"]).sum())
    finally:
        model.train(was_training)
    return {"accuracy": correct / len(examples), "loss": loss_sum / len(examples)}


def finetune(model: nn.Module, tokenizer, train_rows: list[dict], dev_rows: list[dict],
             cfg: FinetuneConfig, log=None) -> dict:
    """Fine-tune ``model`` (already on its device, head initialised) in place; returns the history.

    Seeds the global RNGs (dropout) with ``cfg.seed`` and shuffles with a generator of that seed.
    """
    pad_id = tokenizer.pad_token_id
    train = encode_rows(tokenizer, train_rows, cfg.max_length)
    dev = encode_rows(tokenizer, dev_rows, cfg.max_length)
    device = next(model.parameters()).device
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    opt, sched = make_optimizer(model, cfg, total)
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(train), generator=gen).tolist()
        losses = []
        for s in range(0, len(perm), cfg.batch_size):
            batch = collate([train[i] for i in perm[s : s + cfg.batch_size]], pad_id, device)
            losses.append(train_step(model, batch, opt, sched, cfg.max_grad_norm))
        ev = evaluate(model, dev, pad_id, cfg.eval_batch_size)
        rec = {"epoch": epoch + 1, "train_loss": sum(losses) / len(losses), "dev_accuracy": ev["accuracy"],
               "dev_loss": ev["loss"], "lr_end": sched.get_last_lr()[0], "seconds": time.perf_counter() - t0}
        history.append(rec)
        if log:
            log(f"epoch {epoch + 1}/{cfg.epochs}: train_loss={rec['train_loss']:.4f} "
                f"dev_acc={rec['dev_accuracy']:.4f} ({rec['seconds']:.1f}s)")
    model.eval()
    return {"history": history, "steps": total, "n_train": len(train), "n_dev": len(dev),
            "dev_accuracy": history[-1]["dev_accuracy"], "dev_loss": history[-1]["dev_loss"],
            "train_seconds": time.perf_counter() - t0}


def run_finetune(task: str, model_name: str, wiring: Wiring | str, cfg: FinetuneConfig, out: str | None = None,
                 *, data_dir: str | None = None, data_seed: int = 0, log=None) -> dict:
    """Load data and model, rewire, fine-tune, and (if ``out``) write the result JSON atomically.

    The JSON holds the task, model, candidate, wiring, seed, config, ``dev_accuracy`` (after the last
    epoch), the per-epoch history and ``smoke`` (True for the tiny model or the smoke task).
    """
    check_task(task)
    if isinstance(wiring, str):
        wiring = Wiring.parse(wiring)
    splits = load_task(task, data_dir, seed=data_seed)  # data_seed: only for a generated smoke task
    device = get_device(cfg.device)
    seed_everything(cfg.seed)
    model, tok = load_model_and_tokenizer(model_name, train_rows=splits["train"], num_labels=NUM_LABELS,
                                          seed=cfg.seed, max_length=cfg.max_length, device=device)
    rewire(model, wiring)
    res = finetune(model, tok, splits["train"], splits["dev"], cfg, log=log)
    num_layers = model.config.num_hidden_layers
    result = {
        "task": task,
        "model": model_name,
        "smoke": model_name == TINY or task == "smoke",
        "candidate": wiring.name,
        "structure": wiring.structure,
        "L": wiring.L,
        "wiring": wiring.describe(num_layers),
        "same_as_baseline": wiring.same_as_baseline(num_layers),
        "seed": cfg.seed,
        "label_names": list(LABEL_NAMES[task]),
        "num_params": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "config": {k: v for k, v in asdict(cfg).items() if k != "device"},
        **res,
    }
    if out is not None:
        write_json(out, result)
    return result

