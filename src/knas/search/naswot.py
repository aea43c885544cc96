"""NASWOT search: score N random architectures, keep the best by the score, train nothing.

The pick is NASWOT's best-of-N rule (:mod:`knas.selection`), the one the study's ``select`` uses;
the proposals here are i.i.d. draws from the whole space, as in the official ``search.py``.
"""
from __future__ import annotations

from knas.selection import first_best

from .context import SearchContext
from .registry import check_int, register


@register(
    "naswot",
    paper="NASWOT (Mellor et al., ICML 2021), Section 4 / Table 2: N = 10, 100, 1000, 500 runs",
    trains=False,
    title="NASWOT (N={n})",
    default_repeats=500,
    n=100,
    proxy="naswot",
)
def best_of_n(ctx: SearchContext, n: int = 100, proxy: str = "naswot") -> str | None:
    """Best of N by a proxy: draw ``n`` architectures uniformly *with* replacement (official
    ``search.py``: ``np.random.randint(0, 15625, N)``), score each, return the best by NASWOT's
    rule (:func:`knas.selection.first_best`: NaN scores are skipped; ties go to the first drawn).
    A budget that ends the scoring early picks among the architectures scored so far.

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
    i = first_best([v for _, v in scored], higher_is_better=direction > 0)
    return None if i is None else scored[i][0]
