"""The vision study's later stages behind the Snakemake rules: correlate, select, report.

Each stage reads the tables earlier stages wrote (scores, truth, training histories) and writes
its own; ``knas correlate|select|report`` are thin CLI wrappers around these functions.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from knas import analysis, plots
from knas.utils import atomic_path, read_table, write_table

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
    from knas import proxies as P

    P.load_all()
    d = {}
    for col in analysis.proxy_columns(scores):
        if col in P.PROXIES:
            d[col] = P.PROXIES[col].higher_is_better
        elif col in P.COMBINED:
            d[col] = P.COMBINED[col].higher_is_better
    return d


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


def select(scores_path, archs_path, out_path, *, proxy="mgm", ks=(20, 40), naswot_n=(10, 100), random_seeds=10,
           seed=0) -> pd.DataFrame:
    """The architectures each search method picks, one row per (method, pick).

    - ``knas_k{k}``: the top-k by ``proxy`` (rank 1 = best); they are trained, best by validation wins.
    - ``naswot_n{N}``: best of the first N sampled architectures by ``naswot`` (or ``proxy``).
    - ``random_s{i}``: one architecture drawn uniformly from the sample with seed ``seed + i``.
    ``k``/``N`` larger than the sample are clipped to it (the method name keeps the asked value).
    """
    scores = with_combined(read_table(scores_path))
    order = read_table(archs_path)[["order", "arch_id"]]
    scores = scores.merge(order, on="arch_id").sort_values("order", kind="stable").reset_index(drop=True)
    dirs = directions(scores)
    if proxy not in scores:
        raise ValueError(f"select.proxy={proxy!r} was not scored; scored: {analysis.proxy_columns(scores)}")
    rows = []
    n_valid = int(analysis.valid_mask(scores, proxy).sum())
    for k in ks:
        for rank, aid in enumerate(analysis.select_topk(scores, proxy, min(k, n_valid), dirs), start=1):
            rows.append({"method": f"knas_k{k}", "proxy": proxy, "rank": rank, "arch_id": aid})
    nw = "naswot" if "naswot" in scores else proxy
    for n in naswot_n:
        head = scores.iloc[: min(n, len(scores))]
        (aid,) = analysis.select_topk(head, nw, 1, dirs)
        rows.append({"method": f"naswot_n{n}", "proxy": nw, "rank": 1, "arch_id": aid})
    for i in range(random_seeds):
        rng = np.random.default_rng(seed + i)
        rows.append({"method": f"random_s{i}", "proxy": None, "rank": 1,
                     "arch_id": int(scores["arch_id"].iloc[rng.integers(len(scores))])})
    table = pd.DataFrame(rows)
    arch = dict(zip(scores["arch_id"], scores["arch"]))
    table["arch"] = table["arch_id"].map(arch)
    write_table(out_path, table)
    return table


def _history(path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _fmt(v, nd=2) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _md_table(df: pd.DataFrame, nd=2) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c], nd) for c in cols) + " |")
    return "\n".join(lines)


def methods_table(scores, truth, selection, histories: dict[int, dict], benchmark: str) -> pd.DataFrame:
    """KNAS Table 1: per method the chosen architecture, its accuracy, search time, speed-up."""
    metric = primary_metric(truth, benchmark)
    acc = dict(zip(truth["arch_id"], pd.to_numeric(truth[metric], errors="coerce")))
    own_metric = benchmark == "train"
    tsec = "train_seconds" if own_metric else "train_seconds_200ep"
    train_all_s = float(pd.to_numeric(truth.get(tsec, pd.Series(dtype=float)), errors="coerce").sum(min_count=1))
    rows = []
    for method, part in selection.groupby("method", sort=False):
        proxy = part["proxy"].iloc[0]
        if method.startswith("knas_k"):
            hist = {int(a): histories[int(a)] for a in part["arch_id"]}
            best = max(hist, key=lambda a: (hist[a]["final"]["valid_acc"], -a))
            # benchmark configured: its 200-epoch test accuracy; else our own validation accuracy
            accuracy = acc.get(best, float("nan")) if not own_metric else hist[best]["final"]["valid_acc"]
            score_s = float(scores[f"{proxy}__seconds"].sum()) if f"{proxy}__seconds" in scores else float("nan")
            seconds = score_s + sum(h["final"]["train_seconds"] for h in hist.values())
            rows.append({"method": f"KNAS k={len(part)} ({proxy})", "arch_id": best, "accuracy": accuracy,
                         "search_seconds": seconds})
        elif method.startswith("naswot_n"):
            n = int(method[len("naswot_n"):])
            aid = int(part["arch_id"].iloc[0])
            head = scores.iloc[: min(n, len(scores))]
            seconds = float(head[f"{proxy}__seconds"].sum()) if f"{proxy}__seconds" in head else float("nan")
            rows.append({"method": f"NASWOT best-of-{min(n, len(scores))} ({proxy})", "arch_id": aid,
                         "accuracy": acc.get(aid, float("nan")), "search_seconds": seconds})
    rnd = selection[selection["method"].str.startswith("random_s")]
    if len(rnd):
        a = np.array([acc.get(int(x), float("nan")) for x in rnd["arch_id"]])
        rows.append({"method": f"random (mean of {len(rnd)})", "arch_id": None,
                     "accuracy": float(np.nanmean(a)) if np.isfinite(a).any() else float("nan"),
                     "search_seconds": 0.0})
    best_all = truth.loc[pd.to_numeric(truth["valid_acc"], errors="coerce").idxmax()] if "valid_acc" in truth else None
    if best_all is not None:
        rows.append({"method": f"train all {len(truth)} sampled", "arch_id": int(best_all["arch_id"]),
                     "accuracy": float(acc.get(int(best_all["arch_id"]), float("nan"))),
                     "search_seconds": train_all_s})
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
            "spearman_95ci": f"[{_fmt(c['spearman_lo'].iloc[0])}, {_fmt(c['spearman_hi'].iloc[0])}]" if len(c) else "n/a",
            "kendall": float(c["kendall"].iloc[0]) if len(c) else float("nan"),
            "seconds_per_arch": float(scores[f"{p}__seconds"].mean()) if f"{p}__seconds" in scores else float("nan"),
            "n_nan": int((flags == "nan").sum()),
            "n_sentinel": int((flags == "sentinel").sum()),
            "n_used": int(c["n"].iloc[0]) if len(c) else 0,
        })
    return pd.DataFrame(rows)


def report(scores_path, truth_path, corr_dir, selection_path, histories: Sequence[str], out_dir, *,
           config: dict, text_report: str | None = None, search_summary: str | None = None) -> None:
    """``report.md``, ``methods.csv``, ``proxies.csv`` and the search-time figure."""
    out = Path(out_dir)
    scores = with_combined(read_table(scores_path))
    truth = read_table(truth_path)
    corr = read_table(Path(corr_dir) / "correlations.csv")
    summary = read_table(Path(corr_dir) / "repeated_sampling_summary.csv")
    selection = read_table(selection_path)
    hist = {}
    for p in histories:
        h = _history(p)
        from knas.nb201 import index_of

        hist[index_of(h["arch"])] = h
    benchmark = config["truth"]["benchmark"]
    metric = primary_metric(truth, benchmark)
    methods = methods_table(scores, truth, selection, hist, benchmark)
    proxies = proxy_table(scores, corr, metric)
    write_table(out / "methods.csv", methods)
    write_table(out / "proxies.csv", proxies)
    # methods whose search time is unknown (e.g. a benchmark table without training times) are
    # left out of the figure; "random" (0 s) is drawn as a band by the plot
    timed = methods.rename(columns={"method": "strategy"}).dropna(subset=["accuracy", "search_seconds"])
    plots.accuracy_vs_search_time(timed, out / "figures" / "accuracy_vs_search_time.png")
    smoke = config["data"]["dataset"] == "digits"
    lines = [f"# knas study `{config['study']}`", ""]
    if smoke:
        lines += ["> **Smoke configuration**: scikit-learn's 8x8 digits and a small network "
                  f"(C={config['space']['C']}, N={config['space']['N']}); numbers show the pipeline works, "
                  "not NAS-Bench-201 results.", ""]
    lines += [
        f"- dataset: {config['data']['dataset']}; architectures: {len(scores)}; "
        f"ground truth: `{benchmark}` (metric `{metric}`)",
        f"- network: NB201 C={config['space']['C']}, N={config['space']['N']}; scoring batch "
        f"{config['scoring']['batch_size']} (seed {config['scoring']['batch_seed']}), init seed {config['scoring']['init_seed']}",
        "",
        "## Search methods (KNAS Table 1)",
        "",
        "Accuracy: " + ("the benchmark's record (`" + metric + "`) of the chosen architecture." if benchmark != "train"
                        else "own validation accuracy (KNAS: after train.epochs of the top-k training; others: "
                             f"after truth.epochs = {config['truth']['epochs']})."),
        "Search time: proxy seconds over the scored architectures plus training of the top-k "
        "(train all: the training time of every sampled architecture).",
        "",
        _md_table(methods.drop(columns=["accuracy_metric"])),
        "",
        f"## Proxies against `{metric}`",
        "",
        "Spearman/Kendall oriented so that positive means the proxy ranks good architectures high; "
        "NaN and sentinel scores are left out of the correlations and counted here.",
        "",
        _md_table(proxies, 3),
        "",
    ]
    if len(summary):
        lines += ["## Repeated sampling (KNAS)", "", _md_table(summary, 3), ""]
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


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("correlate", help="correlations, repeated sampling, rank groups, figures")
    p.add_argument("--scores", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--repeat-n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--benchmark", default=None, help="truth.benchmark (train: rank by validation accuracy)")
    p.set_defaults(func=lambda a: correlate(a.scores, a.truth, a.out_dir, bootstrap=a.bootstrap,
                                            repeats=a.repeats, repeat_n=a.repeat_n, seed=a.seed,
                                            benchmark=a.benchmark))
    p = subparsers.add_parser("select", help="architectures picked by each search method")
    p.add_argument("--scores", required=True)
    p.add_argument("--archs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--proxy", default="mgm")
    p.add_argument("--k", type=int, nargs="+", default=[20, 40])
    p.add_argument("--naswot-n", type=int, nargs="+", default=[10, 100])
    p.add_argument("--random-seeds", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=lambda a: select(a.scores, a.archs, a.out, proxy=a.proxy, ks=a.k, naswot_n=a.naswot_n,
                                         random_seeds=a.random_seeds, seed=a.seed))
    _add_text_report_cli(subparsers)
    p = subparsers.add_parser("report", help="report.md and tables of a study")
    p.add_argument("--scores", required=True)
    p.add_argument("--truth", required=True)
    p.add_argument("--correlation-dir", required=True)
    p.add_argument("--selection", required=True)
    p.add_argument("--histories", nargs="*", default=[])
    p.add_argument("--config", required=True, help="the study config as a JSON string")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--text-report", default=None, help="text study section to append")
    p.add_argument("--search-summary", default=None, help="search strategies table (Markdown) to append")
    p.set_defaults(func=lambda a: report(a.scores, a.truth, a.correlation_dir, a.selection, a.histories,
                                         a.out_dir, config=json.loads(a.config), text_report=a.text_report,
                                         search_summary=a.search_summary))


def text_report(summary_path, scores_path, runs: Sequence[str], out_path) -> None:
    """KNAS Table 2 for the text study: dev accuracy (mean, std) of the baseline and the best
    candidate found, and the search time (MGM scoring of every candidate + fine-tuning the top-k)."""
    summary = read_table(summary_path)
    scores = read_table(scores_path)
    seconds = {}
    for p in runs:
        r = _history(p)
        seconds[r["candidate"]] = seconds.get(r["candidate"], 0.0) + sum(h["seconds"] for h in r["history"])
    base = summary[summary["candidate"] == "identity"]
    cands = summary[summary["candidate"] != "identity"]
    best = cands.sort_values(["dev_acc_mean_pct", "rank"], ascending=[False, True]).iloc[0]
    search_s = float(scores["seconds"].sum()) + sum(v for k, v in seconds.items() if k != "identity")
    table = pd.DataFrame([
        {"model": "baseline (unmodified)", "candidate": "identity",
         "dev_acc_mean": float(base["dev_acc_mean_pct"].iloc[0]) if len(base) else float("nan"),
         "dev_acc_std": float(base["dev_acc_std_pct"].iloc[0]) if len(base) else float("nan"),
         "runs": int(base["n_runs"].iloc[0]) if len(base) else 0, "search_seconds": float("nan")},
        {"model": f"best of top-{len(cands)} by MGM", "candidate": best["candidate"],
         "dev_acc_mean": float(best["dev_acc_mean_pct"]), "dev_acc_std": float(best["dev_acc_std_pct"]),
         "runs": int(best["n_runs"]), "search_seconds": search_s},
    ])
    task = summary["task"].iloc[0]
    smoke = bool(summary["smoke"].any())
    lines = [f"## Text study: {task} (KNAS Table 2)", ""]
    if smoke:
        lines += ["> **Smoke configuration**: a tiny random-weight RoBERTa and a generated sentence-pair "
                  "task; the numbers show the pipeline works, not GLUE results.", ""]
    lines += [_md_table(table), "", "Every fine-tuned candidate:", "", _md_table(summary.drop(columns=["smoke"])), ""]
    with atomic_path(out_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _add_text_report_cli(subparsers) -> None:
    p = subparsers.add_parser("text-report", help="text study: KNAS Table-2-like Markdown section")
    p.add_argument("runs", nargs="+", help="fine-tuning result JSONs")
    p.add_argument("--summary", required=True)
    p.add_argument("--scores", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=lambda a: text_report(a.summary, a.scores, a.runs, a.out))
