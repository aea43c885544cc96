"""Running strategies: one run, R seeded repeats, and the NASWOT-Table-2-style summary."""
from __future__ import annotations

import json
import math
from typing import Sequence

from .cache import ProxyCache
from .context import Budget, SearchContext, SearchResult, pool_best
from .oracle import Oracle
from .registry import StrategySpec
from .space import GridSpace


def get_strategy(name: str) -> StrategySpec:
    from . import load_all

    reg = load_all()
    if name not in reg:
        raise ValueError(f"unknown search strategy {name!r}; allowed: {', '.join(sorted(reg))}")
    return reg[name]


def run_strategy(
    name: str,
    space: GridSpace,
    oracle: Oracle | None,
    proxies: ProxyCache | None,
    *,
    seed: int,
    supernet=None,
    **params,
) -> SearchResult:
    """Run strategy ``name`` once with ``seed``; ``params`` override its registered defaults
    and may set the budget (``max_trained``, ``max_scored``, ``max_seconds``, ``max_wall_seconds``).

    ``oracle`` answers trainings and gives the found architecture's accuracies (its default
    dataset is the search dataset; may be None for a strategy that trains nothing: accuracies
    are then NaN). ``proxies`` is the score cache (None for strategies that score nothing);
    ``supernet`` the supernet indicators (:class:`.supernet.SupernetIndicators`) of supernet searches.
    """
    spec = get_strategy(name)
    strategy_params, budget = spec.resolve(params)
    ctx = SearchContext(space, oracle, proxies, seed=seed, budget=Budget(**budget), supernet=supernet)
    arch = spec.fn(ctx, **strategy_params)
    return ctx.result(arch)


def run_repeats(
    name: str,
    space: GridSpace,
    oracle: Oracle | None,
    proxies: ProxyCache | None,
    *,
    repeats: int | None = None,
    seed: int = 0,
    label: str | None = None,
    eval_datasets: Sequence[str] | None = None,
    supernet=None,
    **params,
):
    """Run ``name`` ``repeats`` times (default: the strategy's, 100) with seeds ``seed, seed+1, ...``.

    Returns a DataFrame, one row per run: ``strategy`` (``label``, default name plus the
    non-default parameters, e.g. ``naswot(n=10)``), ``name``, ``run``, ``seed``, ``dataset``
    (the search dataset), ``arch``, ``arch_index``, ``valid_acc``/``test_acc`` (200 epochs, search
    dataset), the cost columns, ``stopped_by``, ``params`` (JSON), and for every dataset in
    ``eval_datasets`` (default: all the oracle knows) ``<dataset>__valid_acc`` and
    ``<dataset>__test_acc`` of the found architecture.
    """
    import pandas as pd

    spec = get_strategy(name)
    repeats = spec.default_repeats if repeats is None else repeats
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats={repeats!r}: must be a positive integer")
    spec.check_params(params)  # fail on unknown parameters and bad values before any run
    label = label or spec.label(params)
    datasets = tuple(eval_datasets) if eval_datasets is not None else (oracle.datasets if oracle else ())
    rows = []
    for r in range(repeats):
        res = run_strategy(name, space, oracle, proxies, seed=seed + r, supernet=supernet, **params)
        row = {
            "strategy": label,
            "name": name,
            "run": r,
            "seed": seed + r,
            "dataset": oracle.dataset if oracle else None,
            "arch": res.arch,
            "arch_index": space.index_of(res.arch),
            "valid_acc": res.valid_acc,
            "test_acc": res.test_acc,
            "search_seconds": res.search_seconds,
            "proxy_seconds": res.proxy_seconds,
            "train_seconds": res.train_seconds,
            "wall_seconds": res.wall_seconds,
            "n_trained": res.n_trained,
            "n_scored": res.n_scored,
            "untimed_trainings": res.untimed_trainings,
            "stopped_by": res.stopped_by,
            "params": json.dumps(params, sort_keys=True, default=str),
        }
        for ds in datasets:  # the full schedule; an oracle bound: the best of its pool per column
            final = pool_best(oracle, res.pool, ds) if res.pool else oracle.fidelity(res.arch, dataset=ds)
            row[f"{ds}__valid_acc"] = final["valid_acc"]
            row[f"{ds}__test_acc"] = final["test_acc"]
        rows.append(row)
    return pd.DataFrame(rows)


def eval_datasets_of(runs) -> list[str]:
    """Datasets with ``<dataset>__valid_acc`` / ``__test_acc`` columns, in column order."""
    out: list[str] = []
    for c in runs.columns:
        if "__" in c and c.rsplit("__", 1)[1] in ("valid_acc", "test_acc"):
            ds = c.rsplit("__", 1)[0]
            if ds not in out:
                out.append(ds)
    return out


def paper_labels(runs) -> dict[str, str]:
    """Run label -> the paper's row label (:meth:`StrategySpec.paper_label` of the run's strategy
    and parameters, e.g. ``naswot_n10`` -> ``NASWOT (N=10)``); a label stays itself where its runs
    carry no strategy name or the name is unknown, and two labels that would read alike keep
    theirs in brackets."""
    from . import load_all

    reg = load_all()
    out: dict[str, str] = {}
    for label, g in runs.groupby("strategy", sort=False):
        name = g["name"].iloc[0] if "name" in g else None
        if name not in reg:
            out[label] = str(label)
            continue
        params = json.loads(g["params"].iloc[0]) if "params" in g and isinstance(g["params"].iloc[0], str) else {}
        out[label] = reg[name].paper_label(params)
    seen: dict[str, int] = {}
    for title in out.values():
        seen[title] = seen.get(title, 0) + 1
    return {label: (t if seen[t] == 1 or t == label else f"{t} [{label}]") for label, t in out.items()}


def summary_table(runs):
    """One row per strategy (first-appearance order), like NASWOT's Table 2: ``method`` (the
    paper's row label, :func:`paper_labels`), ``runs``, search seconds (mean, std and median),
    and per dataset the mean and std (sample std, ddof=1) of the found architectures'
    validation and test accuracies (``<dataset>__valid_mean`` ...). ``charged`` is False for a
    row that scored and trained nothing (``random``, ``optimal``: Table 2's "N/A" search time)."""
    import pandas as pd

    if len(runs) == 0:
        raise ValueError("no runs to summarise")
    datasets = eval_datasets_of(runs)
    titles = paper_labels(runs)
    rows = []
    for label, g in runs.groupby("strategy", sort=False):
        row = {
            "strategy": label,
            "method": titles[label],
            "runs": len(g),
            "search_seconds": g["search_seconds"].mean(),
            "search_seconds_std": g["search_seconds"].std(),
            "search_seconds_median": g["search_seconds"].median(),
            "n_trained": g["n_trained"].mean(),
            "n_scored": g["n_scored"].mean(),
            "charged": bool((g["n_trained"] > 0).any() or (g["n_scored"] > 0).any()),
        }
        for ds in datasets:
            for split in ("valid", "test"):
                col = f"{ds}__{split}_acc"
                if col in g:
                    row[f"{ds}__{split}_mean"] = g[col].mean()
                    row[f"{ds}__{split}_std"] = g[col].std()
        rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean: float, std: float) -> str:
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.2f} ± {std:.2f}" if not math.isnan(std) else f"{mean:.2f}"


def format_table(summary) -> str:
    """The summary as a Markdown table like NASWOT's Table 2: the paper's row label (``Method``),
    the mean search seconds ("N/A" for a row that charged nothing), ``mean ± std`` per dataset
    and split."""
    import pandas as pd

    from knas.markdown import md_table

    datasets = [c[: -len("__valid_mean")] for c in summary.columns if c.endswith("__valid_mean")]
    head = ["Method", "Search (s)"] + [f"{ds} {split}" for ds in datasets for split in ("valid", "test")]
    rows = []
    for _, r in summary.iterrows():
        method = r["method"] if "method" in summary and isinstance(r["method"], str) else str(r["strategy"])
        charged = r["charged"] if "charged" in summary else True
        cells = [method, f"{r['search_seconds']:.1f}" if charged else "N/A"]
        for ds in datasets:
            for split in ("valid", "test"):
                cells.append(_pm(r.get(f"{ds}__{split}_mean", math.nan), r.get(f"{ds}__{split}_std", math.nan)))
        rows.append(cells)
    return md_table(pd.DataFrame(rows, columns=head)) + "\n"


def plot_search(summary, path, dataset: str | None = None, split: str = "test") -> None:
    """Accuracy (mean ± std over runs) against mean search seconds (log scale), one point per
    strategy, for ``dataset`` (default: the first in the summary) and ``split`` (valid|test)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from knas.utils import atomic_path

    if split not in ("valid", "test"):
        raise ValueError(f"split={split!r}; allowed: valid, test")
    datasets = [c[: -len("__valid_mean")] for c in summary.columns if c.endswith("__valid_mean")]
    if not datasets:
        raise ValueError("the summary has no accuracy columns (no oracle datasets)")
    dataset = dataset or datasets[0]
    if dataset not in datasets:
        raise ValueError(f"dataset {dataset!r} not in the summary; allowed: {', '.join(datasets)}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, r in summary.iterrows():
        x = max(float(r["search_seconds"]), 1e-3)
        y, e = r[f"{dataset}__{split}_mean"], r[f"{dataset}__{split}_std"]
        label = r["method"] if "method" in summary and isinstance(r["method"], str) else str(r["strategy"])
        ax.errorbar([x], [y], yerr=[0 if math.isnan(e) else e], fmt="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("search time (s, simulated + wall)")
    ax.set_ylabel(f"{dataset} {split} accuracy (%)")
    ax.grid(True, alpha=0.3)
    # below the axes: long method labels (changed parameters in brackets) would hide points inside
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, frameon=False)
    fig.tight_layout()
    suffix = str(path).rsplit(".", 1)[-1] if "." in str(path) else "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, dpi=120, bbox_inches="tight")
    plt.close(fig)
