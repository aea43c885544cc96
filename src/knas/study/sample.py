"""Stage 2: the study's architectures (a seeded sample, all, or a user list).

Imported when the workflow is parsed (``common.smk`` plans every job from it): no torch here.
"""
from __future__ import annotations

import os
from typing import Sequence

import pandas as pd

from knas.nb201 import space


def sample_table(
    n: int | str = 100,
    seed: int = 0,
    archs: Sequence[str] = (),
    file: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The architectures of a study, one row each: ``order``, ``arch_id`` (NB201 index), ``arch``.

    An explicit list (``archs`` and/or the lines of ``file``) takes precedence over sampling;
    otherwise ``n`` architectures are drawn uniformly without replacement with ``seed``, or all
    15,625 in index order for ``n="all"``. Duplicates in an explicit list are dropped (first kept).
    """
    explicit = list(archs)
    if file is not None:
        with open(file) as fh:
            explicit += [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    if explicit:
        chosen = list(dict.fromkeys(space.validate(a) for a in explicit))
    elif n == "all":
        chosen = space.all_archs()
    else:
        n = int(n)
        if not 1 <= n <= space.num_archs:
            raise ValueError(f"n={n}: must be 1..{space.num_archs} or 'all'")
        chosen = space.sample(n, seed)
    return pd.DataFrame(
        {
            "order": range(len(chosen)),
            "arch_id": [space.index_of(a) for a in chosen],
            "arch": chosen,
        }
    )


def read_archs(path: str | os.PathLike) -> pd.DataFrame:
    """Read an architecture table (``knas sample`` output, or any table with an ``arch`` column).

    Returns ``order``, ``arch_id``, ``arch`` (canonical strings; ``order`` = row order when the
    table has none). A table without an ``arch`` column, without rows, or with an invalid arch
    string is a ValueError naming the file and the row.
    """
    from knas.utils import read_table

    table = read_table(path)
    if "arch" not in table.columns:
        raise ValueError(f"{path}: an architecture table needs an 'arch' column of NB201 strings (as "
                         f"`knas sample` writes); found columns: {', '.join(map(str, table.columns)) or 'none'}")
    if len(table) == 0:
        raise ValueError(f"{path}: the architecture table has no rows")
    archs = []
    for row, a in enumerate(table["arch"]):
        try:
            archs.append(space.validate(a))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}, row {row}: {err}") from None
    order = table["order"].tolist() if "order" in table.columns else range(len(archs))
    return pd.DataFrame({"order": order, "arch_id": [space.index_of(a) for a in archs], "arch": archs})

