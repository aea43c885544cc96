"""Stage 8: ``report.md`` (KNAS Table 1, the proxies, repeated sampling, figures) and its tables."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from knas import analysis, plots
from knas.markdown import fmt, md_table
from knas.utils import atomic_path, read_json, read_table, write_table

from .tables import primary_metric, search_pool, with_combined


FINE_SELECTIONS = ("train", "benchmark_12ep")


def _knas_row(part, acc, truth, histories, scores, fine, own_metric) -> dict:
    """One KNAS Table 1 row: the top-k set ``part``, its fine selection and the search cost."""
    proxy = part["proxy"].iloc[0]
    ids = [int(a) for a in part["arch_id"]]
    if fine == "train":  # KNAS Algorithm 1: the top-k trained (train.epochs, 20), best by validation
        hist = {a: histories[a] for a in ids}
        valid = {a: hist[a]["final"]["valid_acc"] for a in ids}
        train_s = float(sum(h["final"]["train_seconds"] for h in hist.values()))
        label = f"KNAS k={len(part)} ({proxy})"
    else:  # the benchmark as oracle: its 12-epoch record stands in for the 20-epoch training
        rec = truth.set_index("arch_id")
        if "valid_acc_12ep" not in rec or rec["valid_acc_12ep"].reindex(ids).isna().all():
            raise ValueError("select.fine = 'benchmark_12ep' needs the benchmark's 12-epoch records "
                             "(valid_acc_12ep); the truth table has none for the top-k")
        valid = dict(zip(ids, pd.to_numeric(rec["valid_acc_12ep"].reindex(ids), errors="coerce").fillna(-np.inf)))
        secs = pd.to_numeric(rec.get("train_seconds_12ep", pd.Series(dtype=float)).reindex(ids), errors="coerce")
        train_s = float(secs.sum(min_count=len(ids)))
        label = f"KNAS k={len(part)} ({proxy}; fine selection: benchmark 12-epoch record)"
    best = max(ids, key=lambda a: (valid[a], -a))
    # benchmark configured: its 200-epoch test accuracy; else our own validation accuracy
    accuracy = acc.get(best, float("nan")) if not own_metric else float(valid[best])
    # every architecture of the pool is scored before the top-k is known (Algorithm 1's loop)
    score_s = float(scores[f"{proxy}__seconds"].sum()) if f"{proxy}__seconds" in scores else float("nan")
    return {"method": label, "arch_id": best, "accuracy": accuracy, "score_seconds": score_s,
            "train_seconds": train_s, "search_seconds": score_s + train_s}


def methods_table(scores, truth, selection, histories: dict[int, dict], benchmark: str, *,
                  fine: str = "train") -> pd.DataFrame:
    """KNAS Table 1: per method the chosen architecture, its accuracy, search cost, speed-up.

    ``scores``: the search pool in sample order (:func:`knas.study.tables.search_pool`).
    KNAS (Algorithm 1): the top-k by the proxy, the best by validation accuracy after
    ``train.epochs`` of training (``fine="train"``, ``histories``), or by the benchmark's 12-epoch
    validation record (``fine="benchmark_12ep"``, the benchmark as oracle; labelled so).
    Search cost = ``score_seconds`` (the proxy over every pool architecture) + ``train_seconds``
    (the k candidates' fine-selection training). KNAS Table 1 prints the training part: k x the
    20-epoch share of the 200-epoch evaluation time (CIFAR-100: 20 x 460 s = 9.2K), the MGM time
    being below its rounding. ``speedup_vs_train_all``: against training every pool architecture
    (the paper's RS row: 100 architectures x the evaluation time, its 1.0x).
    """
    if fine not in FINE_SELECTIONS:
        raise ValueError(f"select.fine = {fine!r}: allowed: {', '.join(FINE_SELECTIONS)}")
    metric = primary_metric(truth, benchmark)
    acc = dict(zip(truth["arch_id"], pd.to_numeric(truth[metric], errors="coerce")))
    own_metric = benchmark == "train"
    tsec = "train_seconds" if own_metric else "train_seconds_200ep"
    pool = truth[truth["arch_id"].isin(scores["arch_id"])]
    train_all_s = float(pd.to_numeric(pool.get(tsec, pd.Series(dtype=float)), errors="coerce").sum(min_count=1))
    rows = []
    for method, part in selection.groupby("method", sort=False):
        proxy = part["proxy"].iloc[0]
        if method.startswith("knas_k"):
            rows.append(_knas_row(part, acc, truth, histories, scores, fine, own_metric))
        elif method.startswith("naswot_n"):
            n = int(method[len("naswot_n"):])
            aid = int(part["arch_id"].iloc[0])
            head = scores.iloc[: min(n, len(scores))]  # the first N of the pool, in sample order
            seconds = float(head[f"{proxy}__seconds"].sum()) if f"{proxy}__seconds" in head else float("nan")
            rows.append({"method": f"NASWOT best-of-{min(n, len(scores))} ({proxy})", "arch_id": aid,
                         "accuracy": acc.get(aid, float("nan")), "score_seconds": seconds, "train_seconds": 0.0,
                         "search_seconds": seconds})
    rnd = selection[selection["method"].str.startswith("random_s")]
    if len(rnd):
        a = np.array([acc.get(int(x), float("nan")) for x in rnd["arch_id"]])
        rows.append({"method": f"random (mean of {len(rnd)})", "arch_id": None,
                     "accuracy": float(np.nanmean(a)) if np.isfinite(a).any() else float("nan"),
                     "score_seconds": 0.0, "train_seconds": 0.0, "search_seconds": 0.0})
    if "valid_acc" in pool and pd.to_numeric(pool["valid_acc"], errors="coerce").notna().any():
        best_all = pool.loc[pd.to_numeric(pool["valid_acc"], errors="coerce").idxmax()]
        rows.append({"method": f"train all {len(pool)} in the pool", "arch_id": int(best_all["arch_id"]),
                     "accuracy": float(acc.get(int(best_all["arch_id"]), float("nan"))),
                     "score_seconds": 0.0, "train_seconds": train_all_s, "search_seconds": train_all_s})
    table = pd.DataFrame(rows)
    table["arch_id"] = table["arch_id"].astype("Int64")
    table["speedup_vs_train_all"] = train_all_s / table["search_seconds"].where(table["search_seconds"] > 0)
    table["accuracy_metric"] = metric
    return table


def proxy_table(scores: pd.DataFrame, corr: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every proxy with its Spearman, Kendall, seconds per architecture and NaN/sentinel counts."""
    rows = []
    for p in analysis.proxy_columns(scores):
        c = corr[(corr["proxy"] == p) & (corr["metric"] == metric)]
        flags = scores.get(f"{p}__flag", pd.Series([None] * len(scores)))
        rows.append({
            "proxy": p,
            "spearman": float(c["spearman"].iloc[0]) if len(c) else float("nan"),
            "spearman_95ci": f"[{fmt(c['spearman_lo'].iloc[0])}, {fmt(c['spearman_hi'].iloc[0])}]" if len(c) else "n/a",
            "kendall": float(c["kendall"].iloc[0]) if len(c) else float("nan"),
            "seconds_per_arch": float(scores[f"{p}__seconds"].mean()) if f"{p}__seconds" in scores else float("nan"),
            "n_nan": int((flags == "nan").sum()),
            "n_sentinel": int((flags == "sentinel").sum()),
            "n_used": int(c["n"].iloc[0]) if len(c) else 0,
        })
    return pd.DataFrame(rows)


def report(scores_path, truth_path, corr_dir, selection_path, histories: Sequence[str], out_dir, *,
           config: dict, archs_path=None, text_report: str | None = None, search_summary: str | None = None) -> None:
    """``report.md``, ``methods.csv``, ``proxies.csv`` and the search-time figure.

    ``archs_path``: the study's sample table (its order sets the search pool, ``select.pool``);
    without it the pool is every scored architecture in arch_id order."""
    out = Path(out_dir)
    scores = with_combined(read_table(scores_path))
    sel_cfg = config.get("select", {})
    fine, pool_n = sel_cfg.get("fine", "train"), sel_cfg.get("pool")
    pool = search_pool(scores, archs_path, pool_n) if archs_path is not None else scores
    truth = read_table(truth_path)
    corr = read_table(Path(corr_dir) / "correlations.csv")
    summary = read_table(Path(corr_dir) / "repeated_sampling_summary.csv")
    selection = read_table(selection_path)
    from knas.config import space_options
    from knas.spaces import get_space

    space_name = config["space"].get("name", "nb201")
    index_of = get_space(space_name).index_of
    hist = {}
    for p in histories:
        h = read_json(p)
        hist[index_of(h["arch"])] = h
    benchmark = config["truth"]["benchmark"]
    metric = primary_metric(truth, benchmark)
    methods = methods_table(pool, truth, selection, hist, benchmark, fine=fine)
    proxies = proxy_table(scores, corr, metric)
    write_table(out / "methods.csv", methods)
    write_table(out / "proxies.csv", proxies)
    # methods whose search time is unknown (e.g. a benchmark table without training times) are
    # left out of the figure; "random" (0 s) is drawn as a band by the plot
    timed = methods.rename(columns={"method": "strategy"}).dropna(subset=["accuracy", "search_seconds"])
    plots.accuracy_vs_search_time(timed, out / "figures" / "accuracy_vs_search_time.png")
    smoke = config["data"]["dataset"] == "digits"
    if space_name == "nb201":
        size, network, bench = f"C={config['space']['C']}, N={config['space']['N']}", "NB201", "NAS-Bench-201"
    else:
        size = ", ".join(f"{k}={v}" for k, v in space_options(config).items()) or "the benchmark's widths"
        network, bench = f"space {space_name}", f"{space_name} benchmark"
    lines = [f"# knas study `{config['study']}`", ""]
    if smoke:
        lines += ["> **Smoke configuration**: scikit-learn's 8x8 digits and a small network "
                  f"({size}); numbers show the pipeline works, not {bench} results.", ""]
    lines += [
        f"- dataset: {config['data']['dataset']}; architectures: {len(scores)}; "
        f"ground truth: `{benchmark}` (metric `{metric}`)",
        f"- network: {network} {size}; scoring batch "
        f"{config['scoring']['batch_size']} (seed {config['scoring']['batch_seed']}), init seed {config['scoring']['init_seed']}",
        "",
        "## Search methods (KNAS Table 1)",
        "",
        f"Search pool: {len(pool)} architectures (" + (f"the first select.pool = {pool_n} of the sample"
                                                       if pool_n is not None else "every scored one") + ").",
        "Accuracy: " + ("the benchmark's record (`" + metric + "`) of the chosen architecture." if benchmark != "train"
                        else "own validation accuracy (KNAS: after train.epochs of the top-k training; others: "
                             f"after truth.epochs = {config['truth']['epochs']})."),
        "KNAS fine selection: " + (f"the top-k trained for train.epochs = {config['train']['epochs']}, the best by "
                                   "validation accuracy (KNAS Algorithm 1; 20 epochs in the paper)." if fine == "train"
                                   else "the benchmark's 12-epoch validation record of the top-k (select.fine = "
                                   "benchmark_12ep: the benchmark as oracle, not the paper's 20-epoch training)."),
        "Search cost (KNAS Table 1): score_seconds (the proxy over every pool architecture) + train_seconds "
        "(the fine selection of the k candidates); the paper's Table 1 prints the training part (k x 20 epochs), "
        "its MGM time being below rounding. Train all: the training time of every pool architecture "
        "(the paper's RS baseline, 1.0x).",
        "",
        md_table(methods.drop(columns=["accuracy_metric"])),
        "",
        f"## Proxies against `{metric}`",
        "",
        "Spearman/Kendall oriented so that positive means the proxy ranks good architectures high; "
        "NaN and sentinel scores are left out of the correlations and counted here.",
        "",
        md_table(proxies, 3),
        "",
    ]
    if len(summary):
        lines += ["## Repeated sampling (KNAS)", "", md_table(summary, 3), ""]
    lines += ["## Figures", "", "![](figures/accuracy_vs_search_time.png)", "",
              f"![](../correlation/figures/heatmap.png)", ""]
    for p in analysis.proxy_columns(scores):
        lines.append(f"![](../correlation/figures/scatter_{p}.png)")
    if search_summary:
        lines += ["", "## Search strategies (NASWOT Table 2)", "", Path(search_summary).read_text(),
                  "![](../search/accuracy_vs_search_time.png)", ""]
    if text_report:
        lines += ["", Path(text_report).read_text()]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
