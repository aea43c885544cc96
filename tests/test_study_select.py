"""KNAS's protocol in the select and report stages (Algorithm 1, Sec. 6.3, Table 1, Fig. 2): the
search pool, the fine selection, the search-cost accounting, and the config checks of the sizes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from knas.config import ConfigError, check_config
from knas.study import sample_table
from knas.study.report import methods_table
from knas.study.select import select
from knas.study.tables import search_pool
from knas.utils import read_table, write_table


@pytest.fixture
def study(tmp_path):
    """12 sampled architectures; the score table in arch_id order (as merge_scores writes it),
    mgm rising along the sample order, so the best of the first P is the P-th of the sample."""
    archs = sample_table(12, 3)
    order = dict(zip(archs["arch_id"], archs["order"]))
    scores = archs[["arch_id", "arch"]].sort_values("arch_id").reset_index(drop=True)
    scores["mgm"] = [float(order[a]) for a in scores["arch_id"]]
    scores["mgm__flag"] = None
    scores["mgm__seconds"] = [0.5 + order[a] for a in scores["arch_id"]]  # distinct per architecture
    scores["naswot"] = -scores["mgm"]  # NASWOT prefers the earliest of the sample
    scores["naswot__flag"] = None
    scores["naswot__seconds"] = 0.25
    write_table(tmp_path / "archs.csv", archs)
    write_table(tmp_path / "scores.parquet", scores)
    return archs, scores, tmp_path


def test_the_pool_is_the_first_of_the_sample_order(study):
    archs, scores, d = study
    assert not scores["arch_id"].equals(archs["arch_id"])  # the two orders differ, else nothing is tested
    pool = search_pool(scores, d / "archs.csv", 5)
    assert pool["arch_id"].tolist() == archs["arch_id"].tolist()[:5]
    assert search_pool(scores, d / "archs.csv")["arch_id"].tolist() == archs["arch_id"].tolist()
    with pytest.raises(ValueError, match="select.pool = 13 is larger than the 12"):
        search_pool(scores, d / "archs.csv", 13)


def test_select_searches_the_pool_only(study):
    archs, _, d = study
    sel = select(d / "scores.parquet", d / "archs.csv", d / "sel.csv", ks=(2, 20), naswot_n=(3,), random_seeds=30,
                 pool=5)
    first5 = archs["arch_id"].tolist()[:5]
    knas2 = sel[sel["method"] == "knas_k2"]["arch_id"].tolist()
    assert knas2 == [first5[4], first5[3]]  # the top-2 of the pool, not of all 12 scored
    assert sorted(sel[sel["method"] == "knas_k20"]["arch_id"]) == sorted(first5)  # k clipped to the pool
    assert sel[sel["method"] == "naswot_n3"]["arch_id"].tolist() == [first5[0]]  # first N in sample order
    rnd = set(sel[sel["method"].str.startswith("random_s")]["arch_id"])
    assert rnd <= set(first5) and len(rnd) > 1
    assert read_table(d / "sel.csv")["arch_id"].tolist() == sel["arch_id"].tolist()


def _truth(archs):
    n = len(archs)
    return archs[["arch_id", "arch"]].assign(
        valid_acc=np.linspace(50, 90, n), test_acc=np.linspace(40, 80, n),
        valid_acc_12ep=np.linspace(70, 30, n),  # the 12-epoch record ranks the other way round
        test_acc_12ep=np.linspace(60, 20, n), train_seconds_200ep=2160.0, train_seconds_12ep=130.0)


def test_methods_table_fine_selection_and_search_cost(study):
    archs, scores, d = study
    sel = select(d / "scores.parquet", d / "archs.csv", d / "sel.csv", ks=(3,), naswot_n=(2,), random_seeds=2, pool=6)
    pool = search_pool(read_table(d / "scores.parquet"), d / "archs.csv", 6)
    truth = _truth(archs)
    top3 = sel[sel["method"] == "knas_k3"]["arch_id"].tolist()  # the last 3 of the pool, best first
    # the 20-epoch training ranks the first (the best by MGM) best
    hist = {a: {"final": {"valid_acc": 10.0 - i, "train_seconds": 216.0}} for i, a in enumerate(top3)}
    m = methods_table(pool, truth, sel, hist, "nb201").set_index("method")
    knas = m.loc["KNAS k=3 (mgm)"]
    assert knas["arch_id"] == top3[0]
    acc = dict(zip(truth["arch_id"], truth["test_acc"]))
    assert knas["accuracy"] == pytest.approx(acc[top3[0]])
    # Table 1: MGM over every pool architecture + k x the 20-epoch training
    assert knas["score_seconds"] == pytest.approx(sum(0.5 + i for i in range(6)))
    assert knas["train_seconds"] == pytest.approx(3 * 216.0)
    assert knas["search_seconds"] == pytest.approx(knas["score_seconds"] + 3 * 216.0)
    # the RS row: every pool architecture trained (6 x 2160 s), 1.0x
    rs = m.loc["train all 6 in the pool"]
    assert rs["search_seconds"] == pytest.approx(6 * 2160.0) and rs["speedup_vs_train_all"] == pytest.approx(1.0)
    assert knas["speedup_vs_train_all"] == pytest.approx(6 * 2160.0 / knas["search_seconds"])
    nw = m.loc["NASWOT best-of-2 (naswot)"]
    assert nw["search_seconds"] == pytest.approx(0.5)  # 2 x 0.25 s over the first 2 of the pool

    # the benchmark as oracle: its 12-epoch validation record picks, labelled, with its recorded time
    m12 = methods_table(pool, truth, sel, {}, "nb201", fine="benchmark_12ep").set_index("method")
    k12 = m12.loc["KNAS k=3 (mgm; fine selection: benchmark 12-epoch record)"]
    v12 = dict(zip(truth["arch_id"], truth["valid_acc_12ep"]))
    assert k12["arch_id"] == max(top3, key=v12.get) != top3[0]
    assert k12["train_seconds"] == pytest.approx(3 * 130.0)
    with pytest.raises(ValueError, match="select.fine = 'epochs20'"):
        methods_table(pool, truth, sel, hist, "nb201", fine="epochs20")
    with pytest.raises(ValueError, match="valid_acc_12ep"):
        methods_table(pool, truth.drop(columns=["valid_acc_12ep"]), sel, {}, "nb201", fine="benchmark_12ep")


def test_config_checks_the_sizes_drawn_from_the_study():
    def check(cfg):
        check_config({"scoring": {"proxies": ["mgm"]}, **cfg})

    # KNAS Fig. 2 statistics: every repetition would draw the same 100 architectures
    with pytest.raises(ConfigError, match=r"analysis.repeat_n = 100 and sample.n \(100 architectures\)"):
        check({"sample": {"n": 100}, "analysis": {"repeats": 50, "repeat_n": 100}})
    with pytest.raises(ConfigError, match=r"analysis.repeat_n = 200 and sample.n"):
        check({"sample": {"n": 100}, "analysis": {"repeats": 50, "repeat_n": 200}})
    check({"sample": {"n": 100}, "analysis": {"repeats": 50, "repeat_n": 99}})
    check({"sample": {"n": 3}, "analysis": {"repeats": 0, "repeat_n": 3}})  # no repeated sampling
    with pytest.raises(ConfigError, match=r"select.pool = 101 and sample.n"):
        check({"sample": {"n": 100}, "select": {"pool": 101}})
    check({"sample": {"n": 100}, "select": {"pool": 100}})
    with pytest.raises(ConfigError, match=r"select.fine = 'benchmark_12ep'.*truth.benchmark"):
        check({"sample": {"n": 10}, "select": {"fine": "benchmark_12ep"}, "truth": {"benchmark": "train"}})
