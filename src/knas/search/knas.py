"""KNAS search: coarse selection of k of N architectures by MGM, then fine selection by training."""
from __future__ import annotations

from .context import SearchContext, best_by, ranked
from .registry import check_int, register


@register(
    "knas",
    paper="KNAS (Xu et al., ICML 2021), Section 4: N = 100 candidates, top k = 20 or 40 by MGM",
    trains=True,
    n=100,
    k=20,
    proxy="mgm",
    epochs=12,
)
def knas_topk(ctx: SearchContext, n: int = 100, k: int = 20, proxy: str = "mgm", epochs: int = 12) -> str | None:
    """KNAS: score ``n`` distinct random architectures with MGM, keep the top ``k`` (coarse
    step, no training), "train" those and return the best by validation accuracy (fine step).

    The paper trains the k candidates for 20 epochs; its released selection script
    (``cifar10.py``) reads the benchmark's 12-epoch ``cifar10-valid`` validation accuracy
    (``get_more_info(i, 'cifar10-valid', None, True)``), which ``epochs=12`` reproduces
    (``epochs=200`` uses the full-schedule records). Training time is charged per candidate.

    Deviations: the released script scores a contiguous index range; here the n candidates are
    drawn uniformly without replacement. It also keys candidates by their MGM value (equal
    scores overwrite each other) and breaks accuracy ties by test accuracy; here ties keep the
    MGM order and test accuracy is never used for selection.
    """
    check_int("n", n)
    check_int("k", k)
    ctx.check_epochs(epochs)
    if n > ctx.space.size:
        raise ValueError(f"parameter n={n}: larger than the search space ({ctx.space.size} architectures)")
    direction = ctx.direction(proxy)
    candidates = ctx.space.sample_unique(n, ctx.rng)
    scored: list[tuple[str, float]] = []
    with ctx.budgeted():
        for arch in candidates:
            scored.append((arch, ctx.score(arch, [proxy])[proxy]))
    top = ranked(scored, key=lambda s: s[1], direction=direction)[:k]
    trained: list[tuple[str, float]] = []
    with ctx.budgeted():
        for arch, _ in top:
            trained.append((arch, ctx.train(arch, epochs)))
    best = best_by(trained, key=lambda t: t[1])
    return None if best is None else best[0]
