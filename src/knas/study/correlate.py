"""Stage 5: correlations of the proxies with the ground truth, KNAS's repeated sampling, rank groups, figures."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from knas import analysis, plots
from knas.utils import read_table, write_table

from .tables import directions, primary_metric, with_combined


def correlate(scores_path, truth_path, out_dir, *, bootstrap=1000, repeats=50, repeat_n=200, seed=0,
              benchmark: str | None = None) -> None:
    """Correlations (+ bootstrap CIs), KNAS repeated sampling, rank groups and figures."""
    out = Path(out_dir)
    scores = with_combined(read_table(scores_path))
    truth = read_table(truth_path)
    dirs = directions(scores)
    proxies = analysis.proxy_columns(scores)
    metrics = [m for m in analysis.DEFAULT_METRICS
               if m in truth and pd.to_numeric(truth[m], errors="coerce").notna().any()]
    corr = analysis.correlations(scores, truth, proxies, metrics, n_boot=bootstrap, seed=seed, directions=dirs)
    write_table(out / "correlations.csv", corr)
    metric = primary_metric(truth, benchmark)
    n_known = int(pd.to_numeric(truth[metric], errors="coerce").notna().sum())
    if repeats > 0:
        rs = analysis.repeated_sampling(
            scores, truth, proxies, metric, repeats=repeats, n=min(repeat_n, n_known), seed=seed, directions=dirs
        )
        per, summary = rs.per_repeat, rs.summary
    else:
        per = pd.DataFrame(columns=["repeat", "proxy", "n", "n_excluded", "spearman", "kendall"])
        summary = pd.DataFrame(columns=["proxy", "coefficient", "mean", "std", "min", "max", "repeats"])
    write_table(out / "repeated_sampling.csv", per)
    write_table(out / "repeated_sampling_summary.csv", summary)
    groups = []
    for p in proxies:
        try:
            groups.append(analysis.rank_groups(scores, truth, p, metric, directions=dirs))
        except ValueError:  # too few valid scores for 4 groups: reported as missing
            continue
    gtab = pd.concat(groups, ignore_index=True) if groups else pd.DataFrame()
    write_table(out / "rank_groups.csv", gtab)
    fig = out / "figures"
    plots.correlation_heatmap(corr, fig / "heatmap.png")
    for p in proxies:
        plots.scatter_proxy_vs_accuracy(scores, truth, p, metric, fig / f"scatter_{p}.png", directions=dirs)
        sub = gtab[gtab["proxy"] == p] if len(gtab) else gtab
        if len(sub):
            plots.rank_group_bars(sub, fig / f"rank_groups_{p}.png")
