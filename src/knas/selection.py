"""NASWOT's best-of-N rule, the one implementation behind every "best of N by a score" in knas.

NASWOT (Mellor et al., ICML 2021, Algorithm 1) proposes N architectures, scores each in turn and
keeps the best: ``if score > best_score: best = net``. So

- the pick is the best score among the N proposals, in the order they were proposed;
- a later proposal replaces the current best only when *strictly* better: ties go to the earliest;
- a proposal without a usable score (NaN / None; the official code's ``nanargmax``) is never picked.

How the N are proposed is the caller's, and named there:

- the ``naswot`` search strategy (:mod:`knas.search.naswot`) draws them i.i.d. uniformly from the
  space, with replacement (the official ``search.py``: ``np.random.randint(0, 15625, N)``);
- the study's ``select`` stage (:func:`knas.analysis.best_of_n` with ``seed=None``) takes the first N
  architectures of the study's sample, itself a seeded uniform draw without replacement, so the
  proposals are N distinct architectures in sample order;
- :func:`knas.analysis.best_of_n` with an integer ``seed`` draws N rows of a score table without
  replacement (``numpy.random.default_rng(seed)``), proposed in table order.

Pure Python: the search package and the analysis both use it without further imports.
"""
from __future__ import annotations

import math
from typing import Iterable


def first_best(values: Iterable[float | None], higher_is_better: bool = True) -> int | None:
    """Index of the pick among ``values`` (one per proposal, in proposal order) by NASWOT's rule
    (module docstring): the first strictly best value, NaN/None skipped; None when all are."""
    sign = 1.0 if higher_is_better else -1.0
    best, best_v = None, -math.inf
    for i, v in enumerate(values):
        if v is None or math.isnan(v):
            continue
        v = sign * v
        if best is None or v > best_v:
            best, best_v = i, v
    return best
