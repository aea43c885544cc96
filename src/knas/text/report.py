"""KNAS Table 2 for the text study: the baseline against the best MGM candidate, as a Markdown section."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from knas.markdown import md_table
from knas.utils import atomic_path, read_json, read_table


def text_report(summary_path, scores_path, runs: Sequence[str], out_path) -> None:
    """KNAS Table 2 for the text study: dev accuracy (mean, std) of the baseline and the best
    candidate found, and the search time (MGM scoring of every candidate + fine-tuning the top-k)."""
    summary = read_table(summary_path)
    scores = read_table(scores_path)
    seconds = {}
    for p in runs:
        r = read_json(p)
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
    lines += [md_table(table), "", "Every fine-tuned candidate:", "", md_table(summary.drop(columns=["smoke"])), ""]
    with atomic_path(out_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
