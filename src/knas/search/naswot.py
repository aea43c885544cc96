"""NASWOT search: score N random architectures, keep the best by the score, train nothing."""
from __future__ import annotations

from .context import SearchContext, best_by
from .registry import check_int, register


@register(
    "naswot",
    paper="NASWOT (Mellor et al., ICML 2021), Section 5 / Table 2: N = 10, 100 (1000 in the appendix)",
    trains=False,
    n=100,
    proxy="naswot",
)
def best_of_n(ctx: SearchContext, n: int = 100, proxy: str = "naswot") -> str | None:
    """Best of N by a proxy: draw ``n`` architectures uniformly *with* replacement (official
    ``search.py``: ``np.random.randint(0, 15625, N)``), score each, return the best score
    (``nanargmax``: NaN scores are skipped; ties go to the first drawn).

    ``proxy`` is any column of the score cache; its direction comes from the proxy registry
    (e.g. ``naswot`` and ``params``: higher is better).
    """
    check_int("n", n)
    direction = ctx.direction(proxy)
    drawn = [ctx.space.sample(ctx.rng) for _ in range(n)]
    scored: list[tuple[str, float]] = []
    with ctx.budgeted():
        for arch in drawn:
            scored.append((arch, ctx.score(arch, [proxy])[proxy]))
    best = best_by(scored, key=lambda s: s[1], direction=direction)
    return None if best is None else best[0]
