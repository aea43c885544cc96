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


def read_archs(path: str | os.PathLike, space_name: str | None = "nb201") -> pd.DataFrame:
    """Read an architecture table (``knas sample`` output, or any table with an ``arch`` column).

    Returns ``order``, ``arch_id``, ``arch`` (canonical strings; ``order`` = row order when the
    table has none). A table without an ``arch`` column, without rows, or with an invalid arch
    string is a ValueError naming the file and the row. ``space_name=None``: the strings are not
    parsed, and the table's own ``arch_id`` column is kept (a stage that does not know the space).
    """
    from knas.spaces import get_space
    from knas.utils import read_table

    table = read_table(path)
    if "arch" not in table.columns or (space_name is None and "arch_id" not in table.columns):
        raise ValueError(f"{path}: an architecture table needs an 'arch' column"
                         f"{' and an arch_id column' if space_name is None else ''} (as "
                         f"`knas sample` writes); found columns: {', '.join(map(str, table.columns)) or 'none'}")
    if len(table) == 0:
        raise ValueError(f"{path}: the architecture table has no rows")
    order = table["order"].tolist() if "order" in table.columns else range(len(table))
    if space_name is None:
        return pd.DataFrame({"order": order, "arch_id": table["arch_id"].tolist(), "arch": table["arch"].tolist()})
    space = get_space(space_name)
    archs = []
    for row, a in enumerate(table["arch"]):
        try:
            archs.append(space.validate(a))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}, row {row}: {err}") from None
    return pd.DataFrame({"order": order, "arch_id": [space.index_of(a) for a in archs], "arch": archs})

