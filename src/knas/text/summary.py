"""Collect fine-tuning runs: mean and std of dev accuracy per candidate, next to its MGM rank."""
from __future__ import annotations

import json
import os
from pathlib import Path


def read_runs(paths: list[str | os.PathLike]) -> list[dict]:
    """The result JSONs written by :func:`knas.text.finetune.run_finetune`."""
    runs = []
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        for key in ("task", "model", "candidate", "seed", "dev_accuracy"):
            if key not in r:
                raise ValueError(f"{p}: not a text fine-tuning result (missing {key!r})")
        r["_path"] = str(Path(p))
        runs.append(r)
    return runs


def summarize(runs: list[dict], scores=None):
    """One row per candidate: ``n_runs``, ``seeds``, ``dev_acc_mean_pct``, ``dev_acc_std_pct``
    (sample std, ddof=1; 0 for one run), ``delta_vs_baseline_pct`` (mean minus the baseline's mean),
    and, with a score table, ``mgm`` and ``rank``. The baseline (``identity``) comes first, then
    candidates by MGM rank. ``smoke`` marks the smoke configuration (tiny model or generated task).
    """
    import pandas as pd

    if not runs:
        raise ValueError("no fine-tuning runs to summarise")
    for key in ("task", "model"):
        vals = sorted({str(r[key]) for r in runs})
        if len(vals) > 1:
            raise ValueError(f"runs mix several {key}s ({', '.join(vals)}); summarise one study at a time")
    df = pd.DataFrame([{"candidate": r["candidate"], "seed": r["seed"], "acc": 100.0 * r["dev_accuracy"],
                        "smoke": bool(r.get("smoke", False))} for r in runs])
    dup = df[df.duplicated(["candidate", "seed"], keep=False)]
    if len(dup):
        raise ValueError(f"duplicate (candidate, seed) runs: {sorted(set(zip(dup.candidate, dup.seed)))}")
    g = df.groupby("candidate", sort=False)
    out = pd.DataFrame({
        "n_runs": g["acc"].size(),
        "seeds": g["seed"].apply(lambda s: " ".join(map(str, sorted(s)))),
        "dev_acc_mean_pct": g["acc"].mean(),
        "dev_acc_std_pct": g["acc"].std(ddof=1).fillna(0.0),
        "smoke": g["smoke"].any(),
    }).reset_index()
    base = out.loc[out["candidate"] == "identity", "dev_acc_mean_pct"]
    out["delta_vs_baseline_pct"] = out["dev_acc_mean_pct"] - float(base.iloc[0]) if len(base) else float("nan")
    out.insert(1, "task", runs[0]["task"])
    out.insert(2, "model", runs[0]["model"])
    if scores is not None:
        out = out.merge(scores[["candidate", "mgm", "rank"]], on="candidate", how="left")
    # baseline first, then by MGM rank (unranked, or no score table: by name)
    rank = out["rank"].astype("Float64").fillna(float("inf")) if "rank" in out else 0.0
    key = pd.DataFrame({"b": out["candidate"].ne("identity"), "r": rank, "c": out["candidate"]})
    out = out.loc[key.sort_values(["b", "r", "c"]).index].reset_index(drop=True)
    return out
