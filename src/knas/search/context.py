"""What one search run sees: the space, the oracle, the score cache, a seeded RNG, a budget,
and the accounting of what the run cost.

Strategies only touch the world through :meth:`SearchContext.score` (proxy values of an
architecture) and :meth:`SearchContext.train` ("train" it: the oracle's validation accuracy).
The context charges

* proxy seconds: the cache's recorded seconds, once per (architecture, proxy) per run, however
  often the strategy asks again (the cache computes each entry once, ever);
* training seconds: the oracle's recorded training time at the queried fidelity, on every
  ``train`` call (a re-trained architecture is paid again, as NB201's simulated REA does);

and enforces the :class:`Budget` *before* each charge: an evaluation that would exceed a limit
raises :class:`BudgetExhausted` and is not counted (NB201's REA likewise drops the child that
would overrun the time budget). The simulated seconds (proxy + training) are deterministic, so
a run depends on its seed only. The reported ``search_seconds`` add the strategy's own wall
time (minus time spent computing missing scores, already charged as proxy seconds).
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from knas.selection import first_best

from .cache import ProxyCache
from .oracle import Oracle
from .space import GridSpace


class BudgetExhausted(Exception):
    """Raised by the context when an evaluation would exceed the run's budget."""


@dataclass(frozen=True)
class Budget:
    """Limits of one run; ``None`` = no limit.

    ``max_trained``: oracle queries (trainings); ``max_scored``: distinct architectures scored;
    ``max_seconds``: simulated seconds (recorded proxy + training seconds, deterministic);
    ``max_wall_seconds``: real seconds of the run (makes the result timing-dependent).
    """

    max_trained: int | None = None
    max_scored: int | None = None
    max_seconds: float | None = None
    max_wall_seconds: float | None = None

    def __post_init__(self):
        for name in ("max_trained", "max_scored"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                raise ValueError(f"{name}={v!r}: must be a non-negative integer or None")
        for name in ("max_seconds", "max_wall_seconds"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0):
                raise ValueError(f"{name}={v!r}: must be a non-negative number or None")


BUDGET_FIELDS = ("max_trained", "max_scored", "max_seconds", "max_wall_seconds")


@dataclass
class SearchResult:
    """Outcome of one run. ``valid_acc``/``test_acc``: the found architecture's 200-epoch
    accuracies on the search dataset (NaN without an oracle). ``search_seconds`` =
    ``proxy_seconds + train_seconds + wall_seconds``. ``trace``: one dict per charged evaluation
    (``event`` = score|train, ``arch``, values, cumulative simulated ``seconds``)."""

    arch: str
    valid_acc: float
    test_acc: float
    search_seconds: float
    n_trained: int
    n_scored: int
    trace: list[dict] = field(default_factory=list)
    proxy_seconds: float = 0.0
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    stopped_by: str | None = None  # the budget limit that ended the run, if any
    untimed_trainings: int = 0  # trainings whose benchmark record has no time (charged 0 s)
    pool: list[str] | None = None  # an oracle bound: each accuracy is the best over these (see pool_best)

    def trace_frame(self):
        import pandas as pd

        return pd.DataFrame(self.trace)


class SearchContext:
    """Accounting and budget of one run (see the module docstring)."""

    def __init__(
        self,
        space: GridSpace,
        oracle: Oracle | None,
        cache: ProxyCache | None,
        *,
        seed: int,
        budget: Budget = Budget(),
        supernet=None,
    ):
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed={seed!r}: must be a non-negative integer")
        self.space = space
        self.oracle = oracle
        self.cache = cache
        self.supernet = supernet  # a search.supernet.SupernetIndicators (supernet searches only)
        self.n_supernets = 0  # supernets measured
        self._measure_seconds = 0.0  # wall time spent measuring them
        self.seed = seed
        self.rng = random.Random(seed)
        self.budget = budget
        self.trace: list[dict] = []
        self.n_trained = 0
        self.train_seconds = 0.0
        self.proxy_seconds = 0.0
        self.untimed_trainings = 0
        self.stopped_by: str | None = None
        self.pool: list[str] | None = None  # set by an oracle-bound row (NASWOT's "Optimal (N)")
        self._scored: dict[str, dict[str, float]] = {}  # arch -> {proxy: value} charged this run
        self._t0 = time.perf_counter()
        self._compute0 = cache.compute_seconds if cache is not None else 0.0

    # ---- accounting ------------------------------------------------------------------------------

    @property
    def sim_seconds(self) -> float:
        return self.proxy_seconds + self.train_seconds

    @property
    def n_scored(self) -> int:
        """Architectures scored plus supernets measured."""
        return len(self._scored) + self.n_supernets

    def wall_seconds(self) -> float:
        computed = (self.cache.compute_seconds if self.cache is not None else 0.0) - self._compute0
        computed += self._measure_seconds  # supernet measurements: charged as proxy seconds
        return max(0.0, time.perf_counter() - self._t0 - computed)

    def _stop(self, limit: str, msg: str):
        self.stopped_by = limit
        raise BudgetExhausted(msg)

    def _check_time(self, cost: float) -> None:
        b = self.budget
        if b.max_seconds is not None and self.sim_seconds + cost > b.max_seconds:
            self._stop("max_seconds", f"{self.sim_seconds:.1f} + {cost:.1f} s would exceed max_seconds={b.max_seconds}")
        if b.max_wall_seconds is not None and self.wall_seconds() > b.max_wall_seconds:
            self._stop("max_wall_seconds", f"wall time exceeded max_wall_seconds={b.max_wall_seconds}")

    def require_training_budget(self, strategy: str, cycles: int | None = None) -> None:
        """Fail early when nothing would end an open-ended training loop."""
        b = self.budget
        if cycles is None and b.max_trained is None and b.max_seconds is None and b.max_wall_seconds is None:
            raise ValueError(f"{strategy} needs a budget: set max_seconds, max_trained or max_wall_seconds")

    def check_time_bound(self, strategy: str, cycles: int | None = None) -> None:
        """In an open-ended training loop bounded only by ``max_seconds``: fail if the benchmark
        records no training time (the loop would never end)."""
        b = self.budget
        if cycles is None and self.untimed_trainings and b.max_trained is None and b.max_wall_seconds is None:
            raise ValueError(
                f"the benchmark records no training time for {self.oracle.dataset!r}, so max_seconds cannot end "
                f"{strategy}; set max_trained"
            )

    @contextlib.contextmanager
    def budgeted(self) -> Iterator[None]:
        """``with ctx.budgeted(): loop`` ends the loop quietly when the budget is exhausted."""
        try:
            yield
        except BudgetExhausted:
            pass

    # ---- the two ways a strategy evaluates an architecture ----------------------------------------

    def direction(self, name: str) -> int:
        """+1 if a higher value of proxy ``name`` is better, -1 if lower is better."""
        if self.cache is None:
            raise ValueError("this strategy needs proxy scores but no score cache was given")
        return 1 if self.cache.higher_is_better(name) else -1

    def score(self, arch: str, names: Sequence[str]) -> dict[str, float]:
        """Proxy values of ``arch``; charges each (arch, proxy) once per run."""
        if self.cache is None:
            raise ValueError("this strategy needs proxy scores but no score cache was given")
        known = self._scored.get(arch)
        new = [n for n in names if known is None or n not in known]
        if new:
            b = self.budget
            if known is None and b.max_scored is not None and self.n_scored + 1 > b.max_scored:
                self._stop("max_scored", f"max_scored={b.max_scored} architectures already scored")
            got = self.cache.scores(arch, new)
            cost = sum(s for _, s in got.values())
            self._check_time(cost)
            self.proxy_seconds += cost
            known = self._scored.setdefault(arch, {})
            known.update({n: v for n, (v, _) in got.items()})
            self.trace.append({"event": "score", "arch": arch, **{n: v for n, (v, _) in got.items()},
                               "seconds": self.sim_seconds})
        return {n: known[n] for n in names}

    def check_epochs(self, epochs: int) -> int:
        """``epochs`` must be one of the oracle's schedules (any positive integer without an oracle)."""
        if self.oracle is not None:
            return self.oracle.check_epochs(epochs)
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"epochs={epochs!r}: must be a positive integer")
        return epochs

    def supernet_measure(self, weights, names: Sequence[str], seed: int, protocol) -> list[dict[str, float]]:
        """Indicators ``names`` of the supernets given by ``weights`` (``(edges, ops)`` matrices),
        all measured on one initialisation and batch (seed ``seed``; see :mod:`.supernet`);
        charges the seconds the measurement took as proxy seconds."""
        if self.supernet is None:
            raise ValueError("this strategy measures supernets but no supernet indicators were given "
                             "(knas search needs --data with a supernet strategy)")
        b = self.budget
        if b.max_scored is not None and self.n_scored + len(weights) > b.max_scored:
            self._stop("max_scored", f"max_scored={b.max_scored} evaluations already done")
        t0 = time.perf_counter()
        values, seconds = self.supernet.measure(weights, names, seed, protocol)
        self._measure_seconds += time.perf_counter() - t0
        self._check_time(seconds)
        self.proxy_seconds += seconds
        self.n_supernets += len(weights)
        self.trace.append({"event": "supernet", "supernets": len(weights), "seed": seed, "seconds": self.sim_seconds})
        return values

    def train(self, arch: str, epochs: int = 200) -> float:
        """"Train" ``arch``: the oracle's validation accuracy after ``epochs`` (one of the oracle's
        schedules) on the search dataset; charges the recorded training time."""
        if self.oracle is None:
            raise ValueError("this strategy trains architectures but no oracle was given")
        self.check_epochs(epochs)
        b = self.budget
        if b.max_trained is not None and self.n_trained + 1 > b.max_trained:
            self._stop("max_trained", f"max_trained={b.max_trained} trainings already done")
        rec = self.oracle.fidelity(arch, epochs=epochs)
        acc = rec["valid_acc"]
        if acc is None or math.isnan(acc):
            raise ValueError(
                f"the oracle has no {epochs}-epoch validation accuracy for {arch!r} on {self.oracle.dataset!r}; "
                f"use a benchmark with these records or another epochs= (allowed: "
                f"{', '.join(map(str, sorted(self.oracle.fidelities)))})"
            )
        cost = rec["train_seconds"]
        untimed = cost is None or math.isnan(cost)
        cost = 0.0 if untimed else float(cost)
        self._check_time(cost)
        self.n_trained += 1
        self.untimed_trainings += untimed
        self.train_seconds += cost
        self.trace.append({"event": "train", "arch": arch, "valid_acc": acc, "epochs": epochs,
                           "seconds": self.sim_seconds})
        return float(acc)

    # ---- result ----------------------------------------------------------------------------------

    def result(self, arch: str | None) -> SearchResult:
        if arch is None:
            raise ValueError(
                f"the budget ({self.stopped_by or 'none'}) ended the run before any architecture was evaluated; "
                f"raise it ({', '.join(f'{k}={v}' for k, v in vars(self.budget).items() if v is not None)})"
            )
        arch = self.space.validate(arch)
        wall = self.wall_seconds()  # before the oracle's answer (which may train the found architecture)
        valid = test = math.nan
        if self.oracle is not None:
            final = pool_best(self.oracle, self.pool) if self.pool else self.oracle.fidelity(arch)  # full schedule
            valid, test = final["valid_acc"], final["test_acc"]
        return SearchResult(
            arch=arch,
            valid_acc=valid,
            test_acc=test,
            search_seconds=self.sim_seconds + wall,
            n_trained=self.n_trained,
            n_scored=self.n_scored,
            trace=self.trace,
            proxy_seconds=self.proxy_seconds,
            train_seconds=self.train_seconds,
            wall_seconds=wall,
            stopped_by=self.stopped_by,
            untimed_trainings=self.untimed_trainings,
            pool=list(self.pool) if self.pool else None,
        )


def pool_best(oracle: Oracle, pool: Sequence[str], dataset: str | None = None) -> dict[str, float]:
    """``{valid_acc, test_acc}``: each the best over ``pool`` of the oracle's full-schedule
    accuracy on ``dataset`` (default the search dataset), taken separately (NaN skipped; NaN if
    all are). NASWOT Table 2's "Optimal (N)" rows report exactly this: per column, the best
    accuracy in the sample of N."""
    out = {}
    for key in ("valid_acc", "test_acc"):
        vals = [oracle.fidelity(a, dataset=dataset)[key] for a in pool]
        vals = [float(v) for v in vals if v is not None and not math.isnan(v)]
        out[key] = max(vals) if vals else math.nan
    return out


def best_by(items: Sequence, key, direction: int = 1):
    """The first item with the best ``direction * key(item)``; None if every key is NaN/None.

    NASWOT's best-of-N rule (:func:`knas.selection.first_best`): NaN keys are skipped
    (``nanargmax``), ties go to the earliest item.
    """
    i = first_best([key(it) for it in items], higher_is_better=direction > 0)
    return None if i is None else items[i]


def ranked(items: Sequence, key, direction: int = 1) -> list:
    """Items sorted best first by ``direction * key`` (stable: ties keep their order; NaN last)."""
    def k(it):
        v = key(it)
        return (1, 0.0) if v is None or math.isnan(v) else (0, -direction * v)

    return sorted(items, key=k)
