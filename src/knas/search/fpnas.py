"""FP-NAS + TEG (TEG-NAS Sec. 5.1 / 5.2.3): Fast Probabilistic NAS with the TEG indicators as
the performance signal instead of supernet training.

Architecture parameters ``theta`` (one row of logits per edge, zeros: the uniform distribution);
the architecture distribution ``A = softmax(theta)`` per edge (independent edges). Each step:

1. sample ``n_t = max(1, ceil(lambda * H(A)))`` architectures from ``A`` (``H`` = the entropy of
   the architecture distribution, in nats: the sum of the edges' entropies; ``lambda`` = 0.25;
   NB201 starts at ``6 ln 5 = 9.66`` nats, 3 samples);
2. score each with the three TEG indicators (the score cache, as ``teg_reinforce``) and give it
   the TEG reward of REINFORCE (Eqs. 16-18: the sum of the indicators' changes over the previous
   sampled architecture, normalised by their range over all sampled so far; :class:`~.teg.TegBuffer`,
   as ``teg_reinforce``'s default; ``buffer_size=L``: the released REINFORCE code's last-``L`` window);
3. one SGD step (``lr`` 0.1) on Eq. 20, ``f = -sum_i log P(a_i | A) * softmax(r)_i``, whose
   gradient per edge is ``-sum_i softmax(r)_i (onehot(a_i) - A)``;
4. stop when the entropy stops decreasing: ``patience`` steps in a row without a new lowest
   entropy (the paper gives no window; 10 here, ``patience=1`` stops at the first step that
   does not lower it, which under sampling noise often ends the search after 2-3 steps), or
   after ``steps`` steps (T = 100).

The result is the most probable architecture, ``argmax`` of ``theta`` per edge (first on ties).
No FP-NAS + TEG code was released; the sample-count rounding (``ceil``, at least 1), the entropy
unit (nats) and the stopping window (``patience``) are choices the paper leaves open; the reward is
REINFORCE's, "calculated in the same way". Sampling uses ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import math

import numpy as np

from .context import SearchContext
from .registry import check_float, check_int, register
from .teg import TEG_INDICATORS, TegBuffer, softmax


def entropy(probs: np.ndarray) -> float:
    """Entropy (nats) of the product of the per-edge categoricals ``probs`` (E, K)."""
    p = np.clip(probs, 1e-300, 1.0)
    return float(-(probs * np.log(p)).sum())


def sample_count(lam: float, h: float) -> int:
    """FP-NAS's adaptive sample size ``lambda * H``, rounded up, at least one."""
    return max(1, math.ceil(lam * h - 1e-12))


@register(
    "fpnas_teg",
    paper="TEG-NAS (Chen et al.), Sec. 5.2.3 'FP-NAS + TEG': lambda 0.25, lr 0.1, T = 100, "
          "stop when the entropy stops decreasing",
    trains=False,
    default_repeats=4,
    title="FP-NAS + TEG",
    lam=0.25,
    lr=0.1,
    steps=100,
    patience=10,
    buffer_size=None,
    minimums={"buffer_size": 2},
)
def fpnas_teg(ctx: SearchContext, lam: float = 0.25, lr: float = 0.1, steps: int = 100, patience: int = 10,
              buffer_size: int | None = None) -> str | None:
    """FP-NAS + TEG: a per-edge distribution updated by SGD on the softmax-weighted
    log-likelihood of ``lambda * H`` sampled architectures (TEG rewards); its argmax."""
    lam = check_float("lam", lam)
    lr = check_float("lr", lr)
    check_int("steps", steps)
    check_int("patience", patience)
    if not hasattr(ctx.space, "num_edges"):
        raise ValueError(f"this strategy samples one op per edge; space {ctx.space.name!r} is not an edges x ops cell")
    gen = np.random.default_rng(ctx.seed)
    E, K = ctx.space.num_edges, ctx.space.num_ops
    theta = np.zeros((E, K))
    buffer = TegBuffer(buffer_size)
    flat, lowest = 0, math.inf
    with ctx.budgeted():
        for step in range(steps):
            probs = softmax(theta)  # (E, K)
            h = entropy(probs)
            n = sample_count(lam, h)
            u = gen.random((n, E))  # inverse-CDF draws, one per sample and edge
            cdf = np.cumsum(probs, axis=1)  # (E, K)
            actions = np.minimum((cdf[None, :, :] < u[:, :, None]).sum(axis=2), K - 1)  # (n, E)
            rewards = np.empty(n)
            for i, acts in enumerate(actions):
                rewards[i] = buffer.insert(ctx.score(ctx.space.to_str(acts.tolist()), TEG_INDICATORS))
            w = softmax(rewards)  # (n,)
            onehot = np.eye(K)[actions]  # (n, E, K)
            grad = -(w[:, None, None] * (onehot - probs[None])).sum(0)  # d f / d theta, (E, K)
            theta -= lr * grad
            h_new = entropy(softmax(theta))
            ctx.trace.append({"event": "fpnas_step", "step": step, "entropy": h, "samples": n,
                              "entropy_after": h_new, "seconds": ctx.sim_seconds})
            flat = flat + 1 if h_new >= min(lowest, h) else 0
            lowest = min(lowest, h, h_new)
            if flat >= patience:
                break
    if len(buffer) == 0:
        return None
    return ctx.space.to_str(theta.argmax(1).tolist())
