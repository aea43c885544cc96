"""Baselines: a random architecture, the best of N by the benchmark itself (an upper bound, no
search), and random search with the benchmark as oracle."""
from __future__ import annotations

from .context import SearchContext, best_by
from .registry import check_int, register


@register("random", paper="NASWOT (Mellor et al., ICML 2021), Table 2 'Random' (500 runs)", trains=False,
          title="Random", default_repeats=500)
def random_arch(ctx: SearchContext) -> str:
    """One architecture drawn uniformly, nothing trained or scored (NASWOT Table 2's "Random" row).

    Its accuracy is the space's average; every other strategy should beat it.
    """
    return ctx.space.sample(ctx.rng)


@register("optimal", paper="NASWOT (Mellor et al., ICML 2021), Table 2 'Optimal (N=10)', 'Optimal (N=100)' "
          "(500 runs)", trains=False, title="Optimal (N={n})", default_repeats=500, n=100)
def optimal(ctx: SearchContext, n: int = 100) -> str | None:
    """The best possible pick from a sample of N (NASWOT Table 2's "Optimal (N)" rows): draw
    ``n`` architectures exactly as ``naswot`` does (uniform, with replacement, the same draws for
    the same seed), and report, for every dataset and split, the best full-schedule accuracy in
    the sample, each column on its own (:func:`~knas.search.context.pool_best`; the paper's
    numbers are these: on the NB201 export, 500-run means agree with its N=100 row to 0.05).
    It is an oracle bound, not a search: nothing is scored or trained, nothing charged (Table 2:
    search time N/A). ``arch`` is the sample's best by the search dataset's validation accuracy.
    """
    check_int("n", n)
    if ctx.oracle is None:
        raise ValueError("optimal reads the benchmark's accuracies but no oracle was given")
    drawn = [ctx.space.sample(ctx.rng) for _ in range(n)]
    ctx.pool = drawn
    best = best_by(drawn, key=lambda a: ctx.oracle.fidelity(a)["valid_acc"])
    return drawn[0] if best is None else best


@register(
    "random_search",
    paper="Bergstra & Bengio (JMLR 2012) as run in NAS-Bench-201 (Dong & Yang, ICLR 2020)",
    trains=True,
    title="RS",
    default_repeats=500,
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
