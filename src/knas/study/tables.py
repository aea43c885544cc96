"""What the later stages share: the study's primary metric, set-level scores, proxy directions."""
from __future__ import annotations

import pandas as pd

from knas import analysis

PRIMARY_METRICS = ("test_acc", "valid_acc", "test_acc_12ep", "valid_acc_12ep")


def primary_metric(truth: pd.DataFrame, benchmark: str | None = None) -> str:
    """The metric the study ranks by: the first of PRIMARY_METRICS with known values.

    With our own training as ground truth (``benchmark="train"``) it is the validation accuracy
    (the test split stays untouched by the search); with a benchmark, its 200-epoch test accuracy.
    """
    order = ("valid_acc",) + PRIMARY_METRICS if benchmark == "train" else PRIMARY_METRICS
    for m in order:
        if m in truth and pd.to_numeric(truth[m], errors="coerce").notna().any():
            return m
    raise ValueError(f"the truth table has none of the metrics {PRIMARY_METRICS} (columns: {list(truth.columns)})")


def with_combined(scores: pd.DataFrame) -> pd.DataFrame:
    """Add set-level scores (e.g. TEG's rank-sum) whose components are all in ``scores``."""
    from knas import proxies as P

    P.load_all()
    out = scores.copy()
    for name, spec in P.COMBINED.items():
        if all(c in scores for c in spec.components):
            out[name] = spec.fn(scores).to_numpy()
            out[f"{name}__seconds"] = sum(scores.get(f"{c}__seconds", 0.0) for c in spec.components)
    return out


def directions(scores: pd.DataFrame) -> dict[str, bool]:
    """``higher_is_better`` of every registered score column (proxies and combined scores)."""
    from knas import proxies as P

    cat = P.catalog()
    return {col: cat[col].higher_is_better for col in analysis.proxy_columns(scores) if col in cat}


def search_pool(scores: pd.DataFrame, archs_path, pool: int | None = None) -> pd.DataFrame:
    """The rows of ``scores`` the search methods look at, in the study's sample order: the first
    ``pool`` architectures of the sample (``select.pool``; ``None``: every scored one). The merged
    score table is in arch_id order, so the sample's ``order`` (``knas sample``) is merged in."""
    from .sample import read_archs

    if pool is not None and pool < 1:
        raise ValueError(f"select.pool = {pool}: must be at least 1 (or null: every scored architecture)")
    order = read_archs(archs_path, None)[["order", "arch_id"]]
    scores = scores.merge(order, on="arch_id").sort_values("order", kind="stable").reset_index(drop=True)
    if pool is not None and pool > len(scores):
        raise ValueError(f"select.pool = {pool} is larger than the {len(scores)} scored architectures (sample.n)")
    return scores if pool is None else scores.iloc[:pool].reset_index(drop=True)
