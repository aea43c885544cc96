"""Paper-ready figures of the analysis stage.

Figures are built as ``matplotlib.figure.Figure`` objects and saved through the Agg (PNG) and
PDF canvases directly: no pyplot, no global backend switch, nothing left open.

Every function writes ``path`` (format from its suffix: .png at 150 dpi, .pdf or .svg) and, for
a .png, the same figure as .pdf beside it unless ``pdf=False``; files are written atomically.
Each returns the list of paths written. Colours are the Okabe-Ito colour-blind-safe palette;
the heatmap uses ColorBrewer's diverging RdBu (colour-blind safe), centred on 0.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from knas import analysis
from knas.utils import atomic_path

DPI = 150
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_METRIC_LABELS = {
    "valid_acc": "Validation accuracy",
    "test_acc": "Test accuracy",
    "valid_acc_12ep": "Validation accuracy, 12 epochs",
    "test_acc_12ep": "Test accuracy, 12 epochs",
    "train_loss": "Training loss",
    "accuracy": "Accuracy",
    analysis.NEG_TRAIN_LOSS: "Negative training loss",
}
_COEF_SYMBOL = {"spearman": "Spearman ρ", "kendall": "Kendall τ", "pearson": "Pearson r"}


def metric_label(metric: str, values=None) -> str:
    """Axis label of a metric, with its unit (``%`` for accuracies given in percent)."""
    label = _METRIC_LABELS.get(metric, metric.replace("_", " "))
    if "acc" in metric:
        v = np.asarray(values, dtype=float) if values is not None else np.array([100.0])
        v = v[np.isfinite(v)]
        label += " (%)" if v.size == 0 or v.max() > 1.0 else " (fraction)"
    return label


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    fig.set_layout_engine("tight")
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, pdf: bool = True) -> list[Path]:
    """Write ``fig`` to ``path`` (and a .pdf twin of a .png when ``pdf``), atomically."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "svg"):
        raise ValueError(f"unsupported figure format {path.suffix!r} for {path}; use .png, .pdf or .svg")
    targets = [path] + ([path.with_suffix(".pdf")] if pdf and fmt == "png" else [])
    for target in targets:
        with atomic_path(target, digest=False) as tmp:  # figures: read by people only
            # "tight": legends placed outside the axes (e.g. below) stay inside the image
            fig.savefig(tmp, format=target.suffix.lstrip("."), dpi=DPI, bbox_inches="tight")
    return targets


def _use_log(values: np.ndarray, decades: float = 3.0) -> bool:
    """Log axis when all values are positive and span at least ``decades`` orders of magnitude."""
    v = values[np.isfinite(values)]
    return v.size > 1 and v.min() > 0 and np.log10(v.max() / v.min()) >= decades


def scatter_proxy_vs_accuracy(
    scores: pd.DataFrame,
    truth: pd.DataFrame,
    proxy: str,
    metric: str,
    path: str | os.PathLike,
    *,
    directions: Mapping[str, bool] | None = None,
    logx: bool | None = None,
    title: str | None = None,
    pdf: bool = True,
) -> list[Path]:
    """KNAS Fig. 4: raw proxy score (x) against ``metric`` (y), one point per architecture.

    Only valid scores with a known metric are drawn; ``degenerate``-flagged ones in a second
    colour. ``logx=None`` picks a log x-axis when the scores are positive and span >= 3 decades.
    The corner box gives the oriented Spearman rho and Kendall tau (sign flipped for
    lower-is-better proxies, so positive = good ranking), n and the number excluded.
    """
    row = analysis.correlations(
        scores, truth, [proxy], [metric], n_boot=0, directions=directions, neg_train_loss=False
    ).iloc[0]
    y_all = analysis.metric_values(truth, metric, scores["arch_id"])
    use = analysis.valid_mask(scores, proxy) & np.isfinite(y_all)
    if not use.any():
        raise ValueError(f"no architecture has both a valid {proxy!r} score and a known {metric!r}")
    x = pd.to_numeric(scores[proxy], errors="coerce").to_numpy(dtype=float)[use]
    y = y_all[use]
    flag_col = f"{proxy}__flag"
    degenerate = (
        (scores[flag_col].astype(object) == "degenerate").to_numpy()[use]
        if flag_col in scores.columns
        else np.zeros(len(x), dtype=bool)
    )
    log = _use_log(x) if logx is None else bool(logx)
    if log and not (x > 0).all():
        raise ValueError(f"logx=True but {proxy!r} has non-positive scores; use logx=False")
    alpha = 0.6 if len(x) <= 2000 else 0.25
    with matplotlib.rc_context(_STYLE):
        fig = _figure(4.0, 3.2)
        ax = fig.add_subplot()
        ax.scatter(x[~degenerate], y[~degenerate], s=5, alpha=alpha, color=OKABE_ITO[0],
                   linewidths=0, rasterized=True, label="architectures")  # fmt: skip
        if degenerate.any():
            ax.scatter(x[degenerate], y[degenerate], s=9, marker="x", color=OKABE_ITO[3],
                       linewidths=0.8, rasterized=True, label="degenerate score")  # fmt: skip
            ax.legend(loc="lower right", frameon=False)
        if log:
            ax.set_xscale("log")
        direction = "higher is better" if row["higher_is_better"] else "lower is better"
        ax.set_xlabel(f"{proxy} score ({direction}{', log scale' if log else ''})")
        ax.set_ylabel(metric_label(metric, y))
        ax.set_title(title or f"{proxy} vs. {metric_label(metric).split(' (')[0].lower()}")
        note = " (sign flipped)" if row["oriented"] else ""
        text = (
            f"Spearman ρ = {row['spearman']:.3f}{note}\nKendall τ = {row['kendall']:.3f}{note}\n"
            f"n = {row['n']}" + (f", excluded {row['n_excluded']}" if row["n_excluded"] else "")
        )
        ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="0.7", alpha=0.9))  # fmt: skip
        ax.grid(True, alpha=0.3, linewidth=0.5)
        return save_figure(fig, path, pdf)


def rank_group_bars(
    groups_table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    pdf: bool = True,
) -> list[Path]:
    """KNAS Fig. 1: mean metric (± std) of each proxy-rank group, from :func:`analysis.rank_groups`.

    A table concatenating several proxies' groups (same metric) gives grouped bars, one colour
    per proxy. Bars start at 0; each is labelled with its mean.
    """
    need = {"proxy", "metric", "group", "mean", "std", "n"}
    missing = sorted(need - set(groups_table.columns))
    if missing:
        raise ValueError(f"groups_table lacks column(s) {missing}; expected the output of analysis.rank_groups")
    if groups_table.empty:
        raise ValueError("groups_table is empty")
    metrics = groups_table["metric"].unique()
    if len(metrics) != 1:
        raise ValueError(f"groups_table mixes metrics {list(metrics)}; plot one metric per figure")
    proxies = list(dict.fromkeys(groups_table["proxy"]))
    groups = sorted(groups_table["group"].unique())
    G = len(groups)
    width = 0.8 / len(proxies)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(max(3.6, 1.0 + 0.35 * G * len(proxies)), 3.2)
        ax = fig.add_subplot()
        for k, proxy in enumerate(proxies):
            sub = groups_table[groups_table["proxy"] == proxy].set_index("group").reindex(groups)
            pos = np.arange(G) + (k - (len(proxies) - 1) / 2) * width
            bars = ax.bar(pos, sub["mean"], width=width * 0.95, yerr=sub["std"].fillna(0.0),
                          capsize=2, color=OKABE_ITO[k % len(OKABE_ITO)], edgecolor="black",
                          linewidth=0.4, error_kw=dict(linewidth=0.8), label=proxy)  # fmt: skip
            for b, m, sd in zip(bars, sub["mean"], sub["std"].fillna(0.0)):  # label above the error bar
                top = m + sd if m >= 0 else m - sd
                ax.annotate(f"{m:.1f}", (b.get_x() + b.get_width() / 2, top), xytext=(0, 2 if m >= 0 else -2),
                            textcoords="offset points", ha="center", va="bottom" if m >= 0 else "top",
                            fontsize=7)  # fmt: skip
        ticks = [f"G{g}" + ("\n(best)" if i == 0 else "") for i, g in enumerate(groups)]
        ax.set_xticks(np.arange(G), ticks)
        ax.set_xlabel("Proxy-rank group (equal sizes, best scores first)")
        label = metric_label(metrics[0], groups_table["mean"])
        ax.set_ylabel(f"{label}, mean ± std")
        spread = groups_table["std"].fillna(0.0)
        if (groups_table["mean"] - spread).min() >= 0:  # room above the bars for their labels
            ax.set_ylim(0, float((groups_table["mean"] + spread).max()) * 1.12)
        if len(proxies) > 1:
            ax.legend(frameon=False, ncols=min(len(proxies), 4), loc="upper right")
        ax.set_title(title or f"{label.split(' (')[0]} by {' / '.join(proxies)} rank group")
        ax.grid(True, axis="y", alpha=0.3, linewidth=0.5)
        return save_figure(fig, path, pdf)


def correlation_heatmap(
    corr_table: pd.DataFrame,
    path: str | os.PathLike,
    coef: str = "spearman",
    *,
    title: str | None = None,
    pdf: bool = True,
) -> list[Path]:
    """Proxies (rows, table order) x metrics (columns) of ``coef`` from
    :func:`analysis.correlations`, annotated, on a diverging colormap centred at 0."""
    if coef not in analysis.COEFFICIENTS:
        raise ValueError(f"coef={coef!r}; allowed: {', '.join(analysis.COEFFICIENTS)}")
    missing = sorted({"proxy", "metric", coef} - set(corr_table.columns))
    if missing:
        raise ValueError(f"corr_table lacks column(s) {missing}; expected the output of analysis.correlations")
    if corr_table.empty:
        raise ValueError("corr_table is empty")
    proxies = list(dict.fromkeys(corr_table["proxy"]))
    metrics = list(dict.fromkeys(corr_table["metric"]))
    grid = corr_table.pivot_table(index="proxy", columns="metric", values=coef, aggfunc="first", dropna=False)
    M = grid.reindex(index=proxies, columns=metrics).to_numpy(dtype=float)  # (P, K)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(max(3.2, 1.6 + 0.9 * len(metrics)), max(2.2, 1.0 + 0.32 * len(proxies)))
        ax = fig.add_subplot()
        ax.set_facecolor("0.85")  # NaN cells
        im = ax.imshow(np.ma.masked_invalid(M), cmap="RdBu", norm=TwoSlopeNorm(0.0, -1.0, 1.0), aspect="auto")
        for (i, j), v in np.ndenumerate(M):
            ax.text(j, i, "n/a" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center",
                    fontsize=7, color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")  # fmt: skip
        ax.set_xticks(range(len(metrics)), [metric_label(m).split(" (")[0] for m in metrics],
                      rotation=30, ha="right")  # fmt: skip
        ax.set_yticks(range(len(proxies)), proxies)
        ax.spines[:].set_visible(False)
        cbar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
        cbar.set_label(_COEF_SYMBOL[coef])
        ax.set_title(title or f"{_COEF_SYMBOL[coef]} with ground truth\n(oriented: positive = good architectures ranked high)")
        return save_figure(fig, path, pdf)


def accuracy_vs_search_time(
    search_table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    strategy_col: str = "strategy",
    accuracy_col: str = "accuracy",
    seconds_col: str = "search_seconds",
    title: str | None = None,
    pdf: bool = True,
) -> list[Path]:
    """One point per search strategy: mean accuracy vs. mean search time (log x), ± std bars.

    ``search_table`` has one row per run (strategy, repeat). Strategies whose time is 0 (e.g. a
    random pick) cannot sit on a log axis: they are drawn as a horizontal line with a ± std band.
    """
    need = [strategy_col, accuracy_col, seconds_col]
    missing = [c for c in need if c not in search_table.columns]
    if missing:
        raise ValueError(f"search_table lacks column(s) {missing}; has {list(search_table.columns)}")
    if search_table.empty:
        raise ValueError("search_table is empty")
    agg = search_table.groupby(strategy_col, sort=False).agg(
        acc=(accuracy_col, "mean"), acc_std=(accuracy_col, "std"),
        sec=(seconds_col, "mean"), sec_std=(seconds_col, "std"), runs=(accuracy_col, "size"),
    )  # fmt: skip
    bad = agg.index[~np.isfinite(agg["sec"]) | (agg["sec"] < 0)].tolist()
    if bad:
        raise ValueError(f"strategies {bad} have no (or negative) {seconds_col!r}; cannot place them on the time axis")
    agg = agg.fillna({"acc_std": 0.0, "sec_std": 0.0})
    with matplotlib.rc_context(_STYLE):
        fig = _figure(4.4, 3.4 + 0.15 * ((len(agg) + 1) // 2))
        ax = fig.add_subplot()
        timed = agg[agg["sec"] > 0]
        for k, (name, r) in enumerate(agg.iterrows()):
            color, marker = OKABE_ITO[k % len(OKABE_ITO)], MARKERS[k % len(MARKERS)]
            label = f"{name} (n={int(r['runs'])})"
            if r["sec"] > 0:
                # asymmetric x error clipped at a positive floor so the log axis stays valid
                lo = min(r["sec_std"], r["sec"] * 0.999)
                ax.errorbar(r["sec"], r["acc"], xerr=[[lo], [r["sec_std"]]], yerr=r["acc_std"], fmt=marker,
                            color=color, capsize=2, markersize=5, linewidth=0.8, label=label)  # fmt: skip
            else:
                ax.axhline(r["acc"], color=color, linestyle="--", linewidth=1.0, label=f"{label}, no search cost")
                ax.axhspan(r["acc"] - r["acc_std"], r["acc"] + r["acc_std"], color=color, alpha=0.12, linewidth=0)
        ax.set_xscale("log")
        if timed.empty:  # only zero-cost strategies: give the log axis a sensible span
            ax.set_xlim(0.1, 10.0)
        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, not 2x10^1
        ax.xaxis.set_major_formatter(plain)
        narrow = not timed.empty and timed["sec"].max() / timed["sec"].min() < 10
        ax.xaxis.set_minor_formatter(plain if narrow else NullFormatter())
        ax.set_xlabel("Search time (s, log scale)")
        ax.set_ylabel(metric_label(accuracy_col, search_table[accuracy_col]) if "acc" in accuracy_col
                      else accuracy_col.replace("_", " "))  # fmt: skip
        ax.set_title(title or "Accuracy of the selected architecture vs. search cost")
        ax.grid(True, which="major", alpha=0.3, linewidth=0.5)
        ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
        return save_figure(fig, path, pdf)


__all__ = [
    "DPI",
    "OKABE_ITO",
    "accuracy_vs_search_time",
    "correlation_heatmap",
    "metric_label",
    "rank_group_bars",
    "save_figure",
    "scatter_proxy_vs_accuracy",
]
