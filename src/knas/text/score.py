"""Score the rewired RoBERTa candidates with KNAS's MGM on a batch of the task's training data.

MGM (KNAS Eq. 15): ``(1/n^2) sum_ij <g_i, g_j> = ||(1/n) sum_i g_i||^2``, ``g_i`` the gradient of
example i's cross-entropy loss w.r.t. all trainable parameters, on the pre-trained weights. It is the
quantity of the proxy library's ``mgm`` (:mod:`knas.proxies.knas`, ``sampled=None``), which is built
for image batches ``(N, C, H, W)``; this module computes the same formula for token batches (the
tests check both agree on the tiny model). The squared norm is accumulated in float64.

Per-example protocol. KNAS scores each example *on its own* (a batch of one). For RoBERTa this needs
no per-example pass: LayerNorm normalises each token, attention mixes tokens of one example only and
padded positions are masked out of every attention (RoBERTa's position ids skip padding), so an
example's logits in a padded batch equal its logits alone (up to float rounding of the padded
shapes); the sum of per-example losses then has the summed per-example gradient as its gradient:
one backward of the summed loss per chunk. (This is what fails for BatchNorm, whose train-mode
statistics couple the examples of a batch; RoBERTa has none.)

Deviation from the image protocol, documented: dropout is switched off (``model.eval()``) so the
score is deterministic; KNAS's image code runs the network in train mode, where the only effect is
BatchNorm's per-example statistics (absent here).

Examples: ``n`` training rows drawn without replacement with ``random.Random(seed)`` (``n=None``: the
whole training set, in order). The paper's reported search cost (0.4K s for 30 candidates on MRPC
on 8 V100s, about 100 GPU-seconds per candidate) suggests it used far more than 50 examples,
plausibly the whole training set; the default here is KNAS's image setting, 50.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .model import collate, encode_rows
from .wiring import Wiring, candidates, rewire

DEFAULT_N = 50


@dataclass
class MGMResult:
    value: float  # ||mean_i g_i||^2 (float64 accumulation)
    n: int  # number of examples
    mean_loss: float  # mean per-example CE loss on the pre-trained weights
    seconds: float


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def text_mgm(model: nn.Module, examples: list[dict], pad_id: int, *, chunk: int | None = 16) -> MGMResult:
    """MGM of ``model`` on encoded ``examples`` (from :func:`~knas.text.model.encode_rows`).

    Examples go through in chunks of ``chunk`` (padded per chunk; ``None``: one chunk); on CUDA
    out-of-memory the chunk is halved and the pass restarts. Dropout off, the model's mode and
    ``.grad`` fields are left as they were. Memory: one float64 copy of the trainable parameters
    (2.8 GB for RoBERTa-large) plus one chunk's activations.
    """
    if not examples:
        raise ValueError("MGM needs at least one example")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: MGM is undefined")
    device = params[0].device
    n = len(examples)
    chunk = n if chunk is None else max(1, min(int(chunk), n))
    was_training = model.training
    model.eval()
    t0 = time.perf_counter()
    try:
        while True:
            try:
                acc: list[torch.Tensor | None] = [None] * len(params)  # summed per-example grads
                loss_sum = 0.0
                for s in range(0, n, chunk):
                    batch = collate(examples[s : s + chunk], pad_id, device)
                    with torch.enable_grad():
                        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # (B, K); fp16 -> fp32
                        loss = F.cross_entropy(logits, batch["labels"], reduction="sum")  # sum_i l_i
                        grads = torch.autograd.grad(loss, params, allow_unused=True)
                    loss_sum += float(loss.detach())
                    for k, g in enumerate(grads):
                        if g is not None:
                            acc[k] = g.double() if acc[k] is None else acc[k].add_(g)
                    del grads, loss, logits
                break
            except RuntimeError as err:
                if device.type != "cuda" or not _is_oom(err) or chunk == 1:
                    raise
                acc = []
                torch.cuda.empty_cache()
                chunk = max(1, chunk // 2)
        value = sum(float((a / n).pow(2).sum()) for a in acc if a is not None)
    finally:
        model.train(was_training)
    return MGMResult(value, n, loss_sum / n, time.perf_counter() - t0)


def sample_rows(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    """``n`` rows drawn without replacement (``random.Random(seed)``); ``None``: all rows in order."""
    if n is None:
        return list(rows)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"text.mgm_n must be a positive integer or 'all', got {n!r}")
    if n > len(rows):
        raise ValueError(f"text.mgm_n={n} exceeds the training set ({len(rows)} rows)")
    return random.Random(seed).sample(rows, n)


def score_candidates(
    model: nn.Module,
    tokenizer,
    train_rows: list[dict],
    *,
    wirings: list[Wiring] | None = None,
    n: int | None = DEFAULT_N,
    max_length: int = 128,
    seed: int = 0,
    chunk: int | None = 16,
    log=None,
):
    """MGM of the baseline and every candidate on one seeded batch -> a pandas DataFrame.

    One row per wiring, baseline (``identity``) first then ``wirings`` (default: the 30 of
    :func:`~knas.text.wiring.candidates` for the model's depth). Columns: ``candidate``,
    ``structure``, ``L``, ``mgm``, ``rank`` (1 = highest MGM among the candidates, ties by
    enumeration order; empty for the baseline), ``same_as_baseline``, ``wiring`` (the changed
    inputs), ``n``, ``mean_loss``, ``num_params``, ``seconds``. The model is rewired in place and
    left with the identity wiring.
    """
    import pandas as pd

    num_layers = model.config.num_hidden_layers
    if wirings is None:
        wirings = candidates(num_layers)
    examples = encode_rows(tokenizer, sample_rows(train_rows, n, seed), max_length)
    pad_id = tokenizer.pad_token_id
    records = []
    try:
        for w in [Wiring()] + list(wirings):
            rewire(model, w)
            res = text_mgm(model, examples, pad_id, chunk=chunk)
            records.append({
                "candidate": w.name,
                "structure": w.structure,
                "L": w.L,
                "mgm": res.value,
                "same_as_baseline": w.same_as_baseline(num_layers),
                "wiring": w.describe(num_layers),
                "n": res.n,
                "mean_loss": res.mean_loss,
                "num_params": sum(p.numel() for p in model.parameters()),
                "seconds": res.seconds,
            })
            if log:
                log(f"{w.name}: mgm={res.value:.6g} ({res.seconds:.2f}s)")
    finally:
        rewire(model, Wiring())
    df = pd.DataFrame.from_records(records)
    df["L"] = df["L"].astype("Int64")
    cand = df.index[df["structure"] != "identity"]
    order = df.loc[cand, "mgm"].sort_values(ascending=False, kind="stable").index
    df["rank"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df.loc[order, "rank"] = range(1, len(order) + 1)
    cols = ["candidate", "structure", "L", "mgm", "rank", "same_as_baseline", "wiring", "n", "mean_loss",
            "num_params", "seconds"]
    return df[cols]


def top_candidates(scores, k: int) -> list[str]:
    """Names of the ``k`` best-ranked candidates of a score table (rank 1 first)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"text.topk must be a positive integer, got {k!r}")
    ranked = scores.dropna(subset=["rank"]).sort_values("rank")
    if k > len(ranked):
        raise ValueError(f"text.topk={k} exceeds the number of scored candidates ({len(ranked)})")
    return list(ranked["candidate"].iloc[:k])


def candidate_at_rank(scores, rank: int) -> str:
    """The candidate with MGM rank ``rank`` (1-based) in a score table."""
    n = int(scores["rank"].notna().sum())
    if not isinstance(rank, int) or not 1 <= rank <= n:
        raise ValueError(f"rank {rank!r} is outside 1..{n} (the ranked candidates of the score table)")
    return top_candidates(scores, rank)[-1]
