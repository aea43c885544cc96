"""Search strategies guided by training-free proxies, with the benchmark as oracle.

Each strategy is a module registering itself (:mod:`.registry`) with its paper's defaults:

=================  ==========================================================================
``random``         one random architecture (NASWOT Table 2's "Random")
``optimal``        best accuracy of N random architectures per column, an upper bound (NASWOT Table 2)
``random_search``  sample + train with the oracle until the budget ends (NB201)
``naswot``         best of N by a proxy, no training (NASWOT; N = 10, 100, 1000)
``knas``           top k of N by MGM, then the best of those by validation accuracy (KNAS)
``rea``            regularised evolution with the oracle (NB201's REA)
``area``           REA seeded with the top P of 2P by a proxy (NASWOT's assisted REA, Algorithm 2)
``teg_reinforce``  REINFORCE rewarded by the TEG indicators' improvements (TEG-NAS Eqs. 13-18)
``teg_evolution``  evolution ranked by the TEG indicators' rank sum (TEG-NAS)
``fpnas_teg``      FP-NAS's distribution learnt from TEG rewards of lambda*H samples (TEG-NAS)
``tenas``          TE-NAS supernet pruning by NTK condition number + linear regions
``tenas_teg``      TE-NAS pruning with the NTK-MSE indicator added (TEG-NAS)
=================  ==========================================================================

Usage::

    from knas.search import ProxyCache, TableOracle, get_space, run_repeats, summary_table
    runs = run_repeats("naswot", get_space("nb201"), oracle, ProxyCache(scores), repeats=100, seed=0, n=10)
    summary_table(runs)   # one row per run label, "method" = the paper's row label, e.g. "NASWOT (N=10)"

A run sees the world through a :class:`SearchContext`: proxy values from the score cache
(recorded seconds charged once per architecture), "trainings" from the oracle (recorded
training time charged), a seeded ``random.Random``, and a :class:`Budget`. Same seed, same result.
The ``knas search`` / ``knas search-summary`` commands are in :mod:`knas.cli.search`.
"""
from __future__ import annotations

import importlib

from .cache import ProxyCache, scoring_callback
from .context import Budget, BudgetExhausted, SearchContext, SearchResult
from .oracle import RECORD_KEYS, Oracle, TableOracle, load_truth_oracle
from .registry import STRATEGIES, StrategySpec, register
from .runner import format_table, get_strategy, plot_search, run_repeats, run_strategy, summary_table
from .space import GridSpace, get_space

MODULES = ("baselines", "naswot", "knas", "evolution", "teg", "prune", "fpnas")


def load_all() -> dict[str, StrategySpec]:
    """Import every strategy module (by name, no directory scan); returns the registry."""
    for mod in MODULES:
        importlib.import_module(f"{__name__}.{mod}")
    return STRATEGIES


def names() -> list[str]:
    return sorted(load_all())


__all__ = [
    "Budget",
    "BudgetExhausted",
    "GridSpace",
    "Oracle",
    "ProxyCache",
    "RECORD_KEYS",
    "STRATEGIES",
    "SearchContext",
    "SearchResult",
    "StrategySpec",
    "TableOracle",
    "format_table",
    "get_space",
    "get_strategy",
    "load_all",
    "load_truth_oracle",
    "names",
    "plot_search",
    "register",
    "run_repeats",
    "run_strategy",
    "scoring_callback",
    "summary_table",
]
