"""Stage 2: the study's architectures (a seeded sample, all, or a user list).

Imported when the workflow is parsed (``common.smk`` plans every job from it): no torch here.
"""
from __future__ import annotations

import os
from typing import Sequence

import pandas as pd


def sample_table(
    n: int | str = 100,
    seed: int = 0,
    archs: Sequence[str] = (),
    file: str | os.PathLike | None = None,
    space: str = "nb201",
) -> pd.DataFrame:
    """The architectures of a study, one row each: ``order``, ``arch_id`` (index in the space),
    ``arch`` (canonical string of ``space``, a name of :mod:`knas.spaces`).

    An explicit list (``archs`` and/or the lines of ``file``) takes precedence over sampling;
    otherwise ``n`` architectures are drawn uniformly without replacement with ``seed``
    (``Space.sample_n``; NB201: :func:`knas.nb201.sample`), or all of them in index order for
    ``n="all"``. Duplicates in an explicit list are dropped (first kept).
    """
    from knas.spaces import get_space

    sp = get_space(space)
    explicit = list(archs)
    if file is not None:
        with open(file) as fh:
            explicit += [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    if explicit:
        chosen = list(dict.fromkeys(sp.validate(a) for a in explicit))
    elif n == "all":
        chosen = list(sp.all_archs())
    else:
        n = int(n)
        if not 1 <= n <= sp.size:
            raise ValueError(f"n={n}: must be 1..{sp.size} or 'all'")
        chosen = sp.sample_n(n, seed)
    return pd.DataFrame(
        {
            "order": range(len(chosen)),
            "arch_id": [sp.index_of(a) for a in chosen],
            "arch": chosen,
        }
    )
