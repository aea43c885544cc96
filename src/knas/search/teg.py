"""TEG-NAS searches guided by the three training-free indicators, with no training at all.

Indicators (score-cache columns): the members of the registered combined score ``teg``
(:mod:`knas.proxies.tenas`), with their registered directions: ``ntk_cond`` (NTK condition
number, lower is better), ``linear_regions`` (higher is better), ``ntk_mse`` (NTK-regression
MSE, lower is better). Both searches follow VITA-Group/TEGNAS:

* ``teg_reinforce`` (``reinforce.py``): a categorical policy per edge, reward = the sum of the
  indicators' normalised improvements (:class:`TegBuffer`), moving-average baseline, Adam;
* ``teg_evolution`` (``R_EA.py``): regularised evolution whose tournament ranks by the sum of
  the indicators' ranks.

"Bad" architectures (TEGNAS: NTK or MSE computation failed, value -1): here an NTK condition
number that is NaN/inf or <= 0, or an MSE that is NaN/inf or < 0. As in TEGNAS their NTK and MSE
count as the worst value seen so far in the run (updated while the run goes on).
"""
from __future__ import annotations

import collections
import math
from typing import Sequence

import numpy as np

from knas import proxies

from .context import SearchContext
from .registry import check_float, check_int, register

# The indicators and their directions come from the proxy registry's declarations (torch-free):
# TEG's members, each with its own higher_is_better.
TEG_INDICATORS = proxies.members("teg")
SIGN = {t: proxies.spec(t).direction for t in TEG_INDICATORS}  # +1: higher is better


def _valid(name: str, v: float) -> bool:
    if v is None or not math.isfinite(v):
        return False
    if name == "ntk_cond":
        return v > 0
    if name == "ntk_mse":
        return v >= 0
    return True


def min_rank(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """0-based rank of each value = number of values strictly better (ties share the lowest
    rank): TEGNAS's ``sorted(values, reverse=higher).index(v)``."""
    s = np.sort(values)
    if higher_is_better:
        return len(values) - np.searchsorted(s, values, side="right")
    return np.searchsorted(s, values, side="left")


def rank_sum(rows: Sequence[dict]) -> np.ndarray:
    """Sum over the indicators of each row's :func:`min_rank` among ``rows`` (lower is better)."""
    total = np.zeros(len(rows), dtype=np.int64)
    for t in TEG_INDICATORS:
        total += min_rank(np.array([r[t] for r in rows], dtype=float), SIGN[t] > 0)
    return total


class TegBuffer:
    """TEGNAS's ``Buffer_Reward_Generator`` accounting over the indicator values of a run.

    :meth:`insert` appends one architecture's values; :attr:`reward` is then
    ``sum_t sign_t * (v_t[-1] - v_t[-2]) / (max(last L v_t) - min(last L v_t) + 1e-6)`` with
    ``L = length`` (0 for the first architecture). :meth:`rank_best` is the index of the best
    entry by rank sum (``_buffer_rank_best``). Bad entries hold the running worst good value.

    Deviations: TEGNAS's ``_update_bad_cases`` also overwrites the *linear-regions* entries of
    bad architectures with the new NTK/MSE value (a bug); here each indicator keeps its own
    values. A first architecture that is bad keeps TEGNAS's placeholder out of the arithmetic
    (its changes count 0 until a good value exists). A NaN/inf region count is treated like a
    bad NTK (worst value so far).
    """

    def __init__(self, length: int = 10):
        self.length = check_int("buffer_size", length)
        self.raw: dict[str, list[float]] = {t: [] for t in TEG_INDICATORS}
        self.bad: dict[str, list[bool]] = {t: [] for t in TEG_INDICATORS}
        self.worst: dict[str, float | None] = {t: None for t in TEG_INDICATORS}
        self.reward = 0.0

    def __len__(self) -> int:
        return len(self.raw["ntk_cond"])

    def _effective(self, t: str, start: int = 0) -> list[float | None]:
        w = self.worst[t]
        return [w if b else v for v, b in zip(self.raw[t][start:], self.bad[t][start:])]

    def insert(self, values: dict[str, float]) -> float:
        """Append one architecture's indicator values; returns the new reward."""
        arch_bad = not (_valid("ntk_cond", values["ntk_cond"]) and _valid("ntk_mse", values["ntk_mse"]))
        for t in TEG_INDICATORS:
            v = float(values[t])
            b = arch_bad if t != "linear_regions" else not _valid(t, v)
            if not b:
                w = self.worst[t]
                self.worst[t] = v if w is None else (max(w, v) if SIGN[t] < 0 else min(w, v))
            self.raw[t].append(v)
            self.bad[t].append(b)
        reward = 0.0
        if len(self) > 1:
            for t in TEG_INDICATORS:
                window = self._effective(t, max(0, len(self) - self.length))
                if any(w is None for w in window):
                    continue  # no good value yet to stand in for a bad one
                change = (window[-1] - window[-2]) / (max(window) - min(window) + 1e-6)
                reward += SIGN[t] * change
        self.reward = reward
        return reward

    def last(self) -> dict[str, float]:
        """Effective values of the last entry (bad ones: the worst so far, else the worst possible)."""
        out = {}
        for t in TEG_INDICATORS:
            v = self._effective(t, len(self) - 1)[0]
            out[t] = v if v is not None else (-math.inf if SIGN[t] > 0 else math.inf)
        return out

    def rank_best(self) -> int:
        """Index of the entry with the lowest rank sum over all entries (first on ties)."""
        rows = []
        for i in range(len(self)):
            row = {}
            for t in TEG_INDICATORS:
                v = self.raw[t][i] if not self.bad[t][i] else self.worst[t]
                row[t] = v if v is not None else (-math.inf if SIGN[t] > 0 else math.inf)
            rows.append(row)
        return int(np.argmin(rank_sum(rows)))


class MovingAverage:
    """TEGNAS/NB201 ``ExponentialMovingAverage``: a bias-corrected exponential moving average."""

    def __init__(self, momentum: float):
        self.momentum = momentum
        self._num = 0.0
        self._den = 0.0

    def update(self, value: float) -> None:
        self._num = self.momentum * self._num + (1 - self.momentum) * value
        self._den = self.momentum * self._den + (1 - self.momentum)

    def value(self) -> float:
        return self._num / self._den


class Adam:
    """``torch.optim.Adam`` (defaults: betas 0.9/0.999, eps 1e-8, no weight decay) on one numpy
    array, in float64: ``p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)`` as torch computes it."""

    def __init__(self, shape: tuple[int, ...], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        param -= self.lr / bc1 * self.m / (np.sqrt(self.v) / math.sqrt(bc2) + self.eps)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@register(
    "teg_reinforce",
    paper="TEG-NAS (Chen et al., 2021), reinforce.py / reinforce_launch.py: lr 0.04, EMA 0.9, 500 steps, buffer 10",
    trains=False,
    steps=500,
    lr=0.04,
    momentum=0.9,
    buffer_size=10,
    minimums={"momentum": 0.0},
)
def teg_reinforce(ctx: SearchContext, steps: int = 500, lr: float = 0.04, momentum: float = 0.9,
                  buffer_size: int = 10) -> str | None:
    """TEG-guided REINFORCE: a policy of one categorical distribution per edge (logits
    initialised ``1e-3 * N(0, 1)``), each step samples an architecture, scores it with the three
    indicators, gets the TEG reward (:class:`TegBuffer`, window ``buffer_size``), updates the
    moving-average baseline (``momentum``) and takes an Adam step (``lr``) on
    ``-(sum of log-probs) * (reward - baseline)``. Returns the best sampled architecture by
    rank sum of the indicators over all steps (``_buffer_rank_best``); nothing is trained.

    Implementation: the official code uses a torch policy; here the policy is a numpy array with
    the analytic gradient of the loss (``-(reward - baseline) * (onehot(action) - probs)`` per
    edge) and :class:`Adam` reproducing ``torch.optim.Adam``'s update, which keeps a 500-step
    run in milliseconds. Sampling and the initialisation use ``numpy.random.default_rng(seed)``.
    """
    check_int("steps", steps)
    check_float("lr", lr)
    momentum = check_float("momentum", momentum, strict=False)
    if momentum >= 1:
        raise ValueError(f"parameter momentum={momentum}: must be < 1")
    if not hasattr(ctx.space, "num_edges"):
        raise ValueError(f"this strategy samples one op per edge; space {ctx.space.name!r} is not an edges x ops cell")
    gen = np.random.default_rng(ctx.seed)
    E, K = ctx.space.num_edges, ctx.space.num_ops
    logits = 1e-3 * gen.standard_normal((E, K))  # (E, K)
    opt = Adam(logits.shape, lr)
    baseline = MovingAverage(momentum)
    buffer = TegBuffer(buffer_size)
    history: list[str] = []
    with ctx.budgeted():
        for _ in range(steps):
            probs = softmax(logits)  # (E, K)
            u = gen.random(E)  # inverse-CDF draw per edge
            actions = np.minimum((np.cumsum(probs, axis=1) < u[:, None]).sum(axis=1), K - 1)  # (E,)
            arch = ctx.space.to_str(actions.tolist())
            reward = buffer.insert(ctx.score(arch, TEG_INDICATORS))
            history.append(arch)
            baseline.update(reward)
            onehot = np.eye(K)[actions]  # (E, K)
            grad = -(reward - baseline.value()) * (onehot - probs)  # d loss / d logits, (E, K)
            opt.step(logits, grad)
    return history[buffer.rank_best()] if history else None


@register(
    "teg_evolution",
    paper="TEG-NAS (Chen et al., 2021), R_EA.py / evolution_launch.py: population 256, sample 64, 1000 steps",
    trains=False,
    population=256,
    sample_size=64,
    steps=1000,
    minimums={"steps": 0},
)
def teg_evolution(ctx: SearchContext, population: int = 256, sample_size: int = 64, steps: int = 1000) -> str | None:
    """TEG-guided regularised evolution: ``population`` random architectures; then ``steps``
    cycles of tournament (``sample_size`` members drawn without replacement), the winner by rank
    sum of the three indicators within the sample (first on ties) mutated on one edge, the
    child scored and appended, the oldest removed. Returns the best of the *final population*
    by rank sum; nothing is trained.

    Each member keeps the indicator values it got when scored (a bad one: the worst value seen
    so far then), as TEGNAS's ``proxy_inference`` does.
    """
    check_int("population", population)
    check_int("sample_size", sample_size)
    check_int("steps", steps, minimum=0)
    if sample_size > population:
        raise ValueError(f"parameter sample_size={sample_size}: must be <= population={population}")
    buffer = TegBuffer()

    def evaluate(arch: str) -> tuple[str, dict]:
        buffer.insert(ctx.score(arch, TEG_INDICATORS))
        return arch, buffer.last()

    pop: collections.deque = collections.deque()
    with ctx.budgeted():
        while len(pop) < population:
            pop.append(evaluate(ctx.space.sample(ctx.rng)))
        for _ in range(steps):
            sample = ctx.rng.sample(list(pop), sample_size)
            parent = sample[int(np.argmin(rank_sum([m[1] for m in sample])))]
            pop.append(evaluate(ctx.space.mutate(parent[0], ctx.rng)))
            pop.popleft()
    if not pop:
        return None
    members = list(pop)
    return members[int(np.argmin(rank_sum([m[1] for m in members])))][0]
