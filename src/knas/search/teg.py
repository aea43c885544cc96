"""TEG-NAS searches guided by the three training-free indicators, with no training at all.

Indicators (score-cache columns): the members of the registered combined score ``teg``
(:mod:`knas.proxies.tenas`), with their registered directions: ``ntk_cond`` (NTK condition
number, lower is better), ``linear_regions`` (higher is better), ``ntk_mse`` (NTK-regression
MSE, lower is better).

* ``teg_reinforce``: TEG-NAS Section 5.2.1 (Eqs. 13-18) by default: a categorical policy per
  edge, reward = the sum of the indicators' improvements normalised by their running range over
  all steps, baseline = moving average from b_0 = 0, plain policy-gradient step, the final
  architecture the policy's mode. The released code (VITA-Group/TEGNAS ``reinforce.py``) differs
  in four places, each a named option: ``buffer_size`` (range over the last 10 steps, +1e-6),
  ``baseline: ema_debiased``, ``optimizer: adam``, ``derive: rank_best``.
* ``teg_evolution`` (Section 5.2.2, ``R_EA.py``): regularised evolution whose tournament ranks
  by the sum of the indicators' ranks.

"Bad" architectures (TEGNAS: NTK or MSE computation failed, value -1): here an NTK condition
number that is NaN/inf or <= 0, or an MSE that is NaN/inf or < 0. As in TEGNAS their NTK and MSE
count as the worst value seen so far in the run (updated while the run goes on); the paper
does not say what it does with them.
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
    """The TEG reward's accounting over the indicator values of a run.

    :meth:`insert` appends one architecture's values; :attr:`reward` is then
    ``r_t = sum_i sign_i * (v_i[t] - v_i[t-1]) / (max v_i - min v_i)`` (0 for the first
    architecture), the max and min taken

    * ``length=None`` (TEG-NAS Eqs. 16-18): over all values so far, ``v_i[1..t]``; a zero range
      (all values equal, so no change either) gives 0;
    * ``length=L`` (TEGNAS's ``Buffer_Reward_Generator``, ``--te_buffer_size 10``): over the
      last ``L`` values, with ``+ 1e-6`` in the denominator.

    ``sign_i`` is the indicator's direction (+1 higher is better): Eq. 16 prints the change
    without it, Section 3 minimises NTK condition number and MSE, the released code applies it.
    :meth:`rank_best` is the index of the best entry by rank sum (``_buffer_rank_best``). Bad
    entries hold the running worst good value.

    Deviations: TEGNAS's ``_update_bad_cases`` also overwrites the *linear-regions* entries of
    bad architectures with the new NTK/MSE value (a bug); here each indicator keeps its own
    values. A first architecture that is bad keeps TEGNAS's placeholder out of the arithmetic
    (its changes count 0 until a good value exists). A NaN/inf region count is treated like a
    bad NTK (worst value so far).
    """

    def __init__(self, length: int | None = None):
        self.length = None if length is None else check_int("buffer_size", length, minimum=2)
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
            start = 0 if self.length is None else max(0, len(self) - self.length)
            for t in TEG_INDICATORS:
                window = self._effective(t, start)
                if any(w is None for w in window):
                    continue  # no good value yet to stand in for a bad one
                spread = max(window) - min(window)
                if self.length is None:  # Eqs. 17-18: exact; zero range means no change
                    change = 0.0 if spread == 0 else (window[-1] - window[-2]) / spread
                else:
                    change = (window[-1] - window[-2]) / (spread + 1e-6)
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
    """The REINFORCE baseline, an exponential moving average of the rewards.

    ``debiased=False`` (TEG-NAS Eq. 15): ``b_t = gamma * b_{t-1} + (1 - gamma) * r_t``, ``b_0 = 0``.
    ``debiased=True`` (TEGNAS's / NB201's ``ExponentialMovingAverage``): the same average divided
    by ``1 - gamma^t`` (so ``b_1 = r_1``).
    """

    def __init__(self, momentum: float, debiased: bool = False):
        self.momentum = momentum
        self.debiased = debiased
        self._num = 0.0
        self._den = 0.0

    def update(self, value: float) -> None:
        self._num = self.momentum * self._num + (1 - self.momentum) * value
        self._den = self.momentum * self._den + (1 - self.momentum)

    def value(self) -> float:
        if not self.debiased:
            return self._num
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


class SGD:
    """TEG-NAS Eq. 13: ``theta_{t+1} = theta_t - lr * grad`` (no momentum, no weight decay)."""

    def __init__(self, shape: tuple[int, ...], lr: float):
        self.lr = lr

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        param -= self.lr * grad


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
BASELINES = ("ema", "ema_debiased")
DERIVE = ("policy", "rank_best")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@register(
    "teg_reinforce",
    paper="TEG-NAS (Chen et al., 2021), Section 5.2.1, Eqs. 13-18: 500 steps, lr 0.04 (NB201), gamma 0.9, "
    "b_0 = 0, running-range reward, plain policy gradient, the policy's mode",
    trains=False,
    title="REINFORCE + TEG",
    steps=500,
    lr=0.04,
    momentum=0.9,
    buffer_size=None,
    baseline="ema",
    optimizer="sgd",
    derive="policy",
    minimums={"momentum": 0.0, "buffer_size": 2},
    choices={"baseline": BASELINES, "optimizer": tuple(OPTIMIZERS), "derive": DERIVE},
)
def teg_reinforce(ctx: SearchContext, steps: int = 500, lr: float = 0.04, momentum: float = 0.9,
                  buffer_size: int | None = None, baseline: str = "ema", optimizer: str = "sgd",
                  derive: str = "policy") -> str | None:
    """TEG-guided REINFORCE (TEG-NAS Section 5.2.1): a policy of one categorical distribution
    per edge, ``sigma(theta)`` (logits initialised ``1e-3 * N(0, 1)`` as the released code);
    each of ``steps`` steps samples an architecture ``a_t``, scores it with the three
    indicators, forms the TEG reward ``r_t`` (:class:`TegBuffer`: Eqs. 16-18, range over all
    steps; ``buffer_size=L``: the released code's window of the last ``L``), updates the
    baseline ``b_t = gamma b_{t-1} + (1 - gamma) r_t`` from ``b_0 = 0`` (Eq. 15, ``momentum`` =
    gamma; ``baseline: ema_debiased``: the released code's bias-corrected average) and takes the
    step ``theta -= lr * grad f``, ``f = -log sigma(theta)(a_t) * (r_t - b_t)`` (Eqs. 13-14;
    ``optimizer: adam``: the released code's ``torch.optim.Adam``). Returns the policy's mode
    ``argmax_a sigma(theta)(a)`` (per edge, the op with the largest logit; first on ties), or
    with ``derive: rank_best`` the released code's pick, the sampled architecture with the best
    rank sum of the indicators over all steps (``_buffer_rank_best``). Nothing is trained.

    Implementation: the policy is a numpy array; the gradient of ``f`` is the analytic
    ``-(r_t - b_t) * (onehot(a_t) - sigma(theta))`` per edge; :class:`Adam` reproduces
    ``torch.optim.Adam``'s update. Sampling and the initialisation use
    ``numpy.random.default_rng(seed)``. A budget that ends the run early derives from the
    policy (or the scored architectures) reached so far.
    """
    check_int("steps", steps)
    check_float("lr", lr)
    momentum = check_float("momentum", momentum, strict=False)
    if momentum >= 1:
        raise ValueError(f"parameter momentum={momentum}: must be < 1")
    for key, value, allowed in (("baseline", baseline, BASELINES), ("optimizer", optimizer, tuple(OPTIMIZERS)),
                                ("derive", derive, DERIVE)):
        if value not in allowed:
            raise ValueError(f"parameter {key}={value!r}: allowed: {', '.join(allowed)}")
    history, logits, buffer = reinforce_policy(ctx, steps, lr, momentum, buffer_size, baseline, optimizer)
    if not history:
        return None
    if derive == "policy":
        return ctx.space.to_str(np.argmax(logits, axis=1).tolist())
    return history[buffer.rank_best()]


def reinforce_policy(ctx: SearchContext, steps: int, lr: float, momentum: float, buffer_size: int | None,
                     baseline: str, optimizer: str) -> tuple[list[str], np.ndarray, TegBuffer]:
    """The REINFORCE loop of :func:`teg_reinforce`: returns the sampled architectures, the final
    logits ``theta`` (edges x ops) and the reward buffer."""
    if not hasattr(ctx.space, "num_edges"):
        raise ValueError(f"this strategy samples one op per edge; space {ctx.space.name!r} is not an edges x ops cell")
    gen = np.random.default_rng(ctx.seed)
    E, K = ctx.space.num_edges, ctx.space.num_ops
    logits = 1e-3 * gen.standard_normal((E, K))  # theta, (E, K)
    opt = OPTIMIZERS[optimizer](logits.shape, lr)
    base = MovingAverage(momentum, debiased=baseline == "ema_debiased")
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
            base.update(reward)  # b_t includes r_t (Eq. 15), then f uses r_t - b_t (Eq. 14)
            onehot = np.eye(K)[actions]  # (E, K)
            grad = -(reward - base.value()) * (onehot - probs)  # d f / d theta, (E, K)
            opt.step(logits, grad)
    return history, logits, buffer


@register(
    "teg_evolution",
    paper="TEG-NAS (Chen et al., 2021), R_EA.py / evolution_launch.py: population 256, sample 64, 1000 steps",
    trains=False,
    title="Evolution + TEG",
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
    buffer = TegBuffer(10)  # only its values are used: the window keeps insert() cheap

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
