"""Baselines: a random architecture, and random search with the benchmark as oracle."""
from __future__ import annotations

from .context import SearchContext, best_by
from .registry import register


@register("random", paper="NASWOT (Mellor et al., ICML 2021), Table 2 'Random'", trains=False)
def random_arch(ctx: SearchContext) -> str:
    """One architecture drawn uniformly, nothing trained or scored (NASWOT Table 2's "Random" row).

    Its accuracy is the space's average; every other strategy should beat it.
    """
    return ctx.space.sample(ctx.rng)


@register(
    "random_search",
    paper="Bergstra & Bengio (JMLR 2012) as run in NAS-Bench-201 (Dong & Yang, ICLR 2020)",
    trains=True,
    epochs=12,
    max_seconds=12000.0,
)
def random_search(ctx: SearchContext, epochs: int = 12) -> str | None:
    """Random search: draw architectures uniformly (repeats possible), "train" each with the oracle
    (``epochs``-epoch validation accuracy, 12 as in NB201), return the best by that accuracy.

    Runs until the budget (default: 12,000 simulated seconds, NB201's CIFAR-10 setting) stops it.
    Deviation: the architecture that would overrun the time budget is not trained (NATS-Bench's
    ``random_wo_share.py`` counts it); NB201's REA uses the same rule as here.
    """
    ctx.check_epochs(epochs)
    ctx.require_training_budget("random_search")
    history: list[tuple[str, float]] = []
    with ctx.budgeted():
        while True:
            arch = ctx.space.sample(ctx.rng)
            history.append((arch, ctx.train(arch, epochs)))
            ctx.check_time_bound("random_search")
    best = best_by(history, key=lambda h: h[1])
    return None if best is None else best[0]
