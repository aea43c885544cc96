"""Markdown pieces of the reports (study report, text study, search summary): one table format."""
from __future__ import annotations

import math


def fmt(v, nd: int = 2) -> str:
    """A table cell: ``n/a`` for missing or non-finite values, floats with ``nd`` decimals."""
    import pandas as pd

    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def md_table(df, nd: int = 2) -> str:
    """A DataFrame as a Markdown table (header, ``|---|`` rule, one line per row; no trailing newline)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(fmt(r[c], nd) for c in cols) + " |")
    return "\n".join(lines)

