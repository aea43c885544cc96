"""Regularised evolution (REA) and NASWOT's assisted REA (AREA), with the benchmark as oracle."""
from __future__ import annotations

import collections

from .context import SearchContext, best_by, ranked
from .registry import check_int, register


def _evolve(
    ctx: SearchContext,
    population: collections.deque,
    history: list,
    sample_size: int,
    epochs: int,
    cycles: int | None,
    name: str,
    tournament: str = "with_replacement",
) -> None:
    """REA's cycles (Real et al., Algorithm 1, as in NB201's ``R_EA.py``): draw ``sample_size``
    members (``tournament``: with replacement as NB201's ``R_EA.py``, or without as NASWOT's
    Algorithm 2), mutate the best (first on ties) on one edge, train the child, append it,
    remove the oldest member. Runs until ``cycles`` or the budget ends it."""
    done = 0
    while cycles is None or done < cycles:
        if tournament == "without_replacement":
            sample = ctx.rng.sample(list(population), min(sample_size, len(population)))
        else:
            sample = [ctx.rng.choice(population) for _ in range(sample_size)]
        parent = best_by(sample, key=lambda m: m[1])
        child = ctx.space.mutate(parent[0], ctx.rng)
        member = (child, ctx.train(child, epochs))
        population.append(member)
        history.append(member)
        population.popleft()
        done += 1
        ctx.check_time_bound(name, cycles)


def _check(ctx: SearchContext, population: int, sample_size: int, epochs: int, cycles) -> None:
    check_int("population", population)
    check_int("sample_size", sample_size)
    ctx.check_epochs(epochs)
    if cycles is not None:
        check_int("cycles", cycles, minimum=0)


TOURNAMENTS = ("with_replacement", "without_replacement")


@register(
    "rea",
    paper="Regularized evolution (Real et al., AAAI 2019) as run in NAS-Bench-201 (population 10, sample 3, "
    "12,000 s, 12-epoch validation accuracy)",
    trains=True,
    title="REA",
    default_repeats=500,
    population=10,
    sample_size=3,
    epochs=12,
    cycles=None,
    max_seconds=12000.0,
    minimums={"cycles": 0},
)
def rea(ctx: SearchContext, population: int = 10, sample_size: int = 3, epochs: int = 12,
        cycles: int | None = None) -> str | None:
    """REA: a population of ``population`` random architectures, each trained (oracle,
    ``epochs``-epoch validation accuracy); then cycles of tournament (``sample_size`` drawn with
    replacement), one-edge mutation of the winner, training of the child, removal of the oldest.
    Returns the best architecture of the whole history by validation accuracy.

    Ends after ``cycles`` cycles (None: unlimited) or when the budget is exhausted (default:
    12,000 simulated seconds, NB201's ``R-EA.sh``); a child that would overrun the time budget
    is not trained (as in NB201's ``R_EA.py``). Deviation: NB201 also adds the strategy's own
    wall time to the budget; here the budget is simulated seconds only, so runs are
    deterministic (the wall time is still reported in ``search_seconds``).
    """
    _check(ctx, population, sample_size, epochs, cycles)
    ctx.require_training_budget("rea", cycles)
    pop: collections.deque = collections.deque()
    history: list[tuple[str, float]] = []
    with ctx.budgeted():
        while len(pop) < population:
            arch = ctx.space.sample(ctx.rng)
            member = (arch, ctx.train(arch, epochs))
            pop.append(member)
            history.append(member)
            ctx.check_time_bound("rea", cycles)
        _evolve(ctx, pop, history, sample_size, epochs, cycles, "rea")
    best = best_by(history, key=lambda m: m[1])
    return None if best is None else best[0]


@register(
    "area",
    paper="Assisted REA (Mellor et al., NASWOT, ICML 2021, Section 4.1 / Algorithm 2): 2P = 20 random "
    "architectures scored, the top P = 10 the initial population, REA with a tournament drawn without "
    "replacement, 12,000 s (Table 2), 50 runs",
    trains=True,
    title="AREA",
    default_repeats=50,
    population=10,
    sample_size=3,
    n_init=None,
    proxy="naswot",
    epochs=12,
    cycles=None,
    tournament="without_replacement",
    max_seconds=12000.0,
    minimums={"cycles": 0},
    choices={"tournament": TOURNAMENTS},
)
def area(ctx: SearchContext, population: int = 10, sample_size: int = 3, n_init: int | None = None,
         proxy: str = "naswot", epochs: int = 12, cycles: int | None = None,
         tournament: str = "without_replacement") -> str | None:
    """AREA (NASWOT Algorithm 2): draw ``n_init`` (default ``2 * population``) distinct random
    architectures, score them (no training), keep the top ``population`` by the score as the
    initial population (trained, best score first, so the best-scored is the oldest), then
    REA's cycles (see ``rea``) with the tournament's ``sample_size`` members drawn *without*
    replacement from the population (Algorithm 2; ``tournament: with_replacement`` is NB201's
    REA), the oldest member removed each cycle, until the time limit. Returns the best of the
    whole history by validation accuracy.

    Search time: the scoring of the ``n_init`` architectures (their recorded proxy seconds) plus
    the oracle's training times, all counted in the budget (default 12,000 simulated seconds,
    Table 2's AREA row). Choices the paper leaves open: distinct initial draws (Section 4.1
    "randomly-samples a larger population"); the tournament size 3 and the 12-epoch validation
    accuracy of NB201's REA, which AREA modifies. The NASWOT repository has no AREA code.
    """
    _check(ctx, population, sample_size, epochs, cycles)
    if tournament not in TOURNAMENTS:
        raise ValueError(f"parameter tournament={tournament!r}: allowed: {', '.join(TOURNAMENTS)}")
    if tournament == "without_replacement" and sample_size > population:
        raise ValueError(f"parameter sample_size={sample_size}: a tournament without replacement needs "
                         f"sample_size <= population={population}")
    n_init = 2 * population if n_init is None else check_int("n_init", n_init)
    if n_init < population:
        raise ValueError(f"parameter n_init={n_init}: must be >= population={population}")
    if n_init > ctx.space.size:
        raise ValueError(f"parameter n_init={n_init}: larger than the search space ({ctx.space.size} architectures)")
    ctx.require_training_budget("area", cycles)
    direction = ctx.direction(proxy)
    pool = ctx.space.sample_unique(n_init, ctx.rng)
    scored: list[tuple[str, float]] = []
    with ctx.budgeted():
        for arch in pool:
            scored.append((arch, ctx.score(arch, [proxy])[proxy]))
    pop: collections.deque = collections.deque()
    history: list[tuple[str, float]] = []
    with ctx.budgeted():
        for arch, _ in ranked(scored, key=lambda s: s[1], direction=direction)[:population]:
            member = (arch, ctx.train(arch, epochs))
            pop.append(member)
            history.append(member)
        if pop:  # fewer than `population` only if the scoring budget ran out
            _evolve(ctx, pop, history, sample_size, epochs, cycles, "area", tournament)
    best = best_by(history, key=lambda m: m[1])
    return None if best is None else best[0]
