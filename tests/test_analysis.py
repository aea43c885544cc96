"""Tests of the analysis stage (knas.analysis) and its figures (knas.plots).

References: scipy.stats (spearmanr, kendalltau tau-b, pearsonr) on the same data; toy tables
whose right answers are known by construction. Budget: ~30 s on a 2-core CPU.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from knas import analysis, plots
from knas.analysis import (
    best_of_n,
    bootstrap_rank_correlations,
    correlations,
    random_pick,
    rank_groups,
    repeated_sampling,
    select_topk,
)

DIRS = {"good": True, "loss_like": False, "noise": True}


def make_tables(n: int = 60, seed: int = 0):
    """SCORE/TRUTH tables: ``good`` tracks test_acc, ``loss_like`` is lower-is-better, ``noise``
    is unrelated; scores are rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(60, 94, n)
    ids = np.arange(100, 100 + n)
    scores = pd.DataFrame(
        {
            "arch_id": ids,
            "arch": [f"a{i}" for i in ids],
            "good": np.round(acc + rng.normal(0, 6, n), 0),
            "loss_like": np.round(-acc + rng.normal(0, 6, n), 0),
            "noise": rng.normal(size=n),
            "good__seconds": rng.uniform(0.5, 1.5, n),
        }
    )
    truth = pd.DataFrame(
        {
            "arch_id": ids[::-1],  # other row order: tables are matched on arch_id
            "arch": [f"a{i}" for i in ids[::-1]],
            "test_acc": acc[::-1],
            "valid_acc": (acc + rng.normal(0, 1, n))[::-1],
            "train_loss": (3.0 - acc / 40 + rng.normal(0, 0.05, n))[::-1],
        }
    )
    return scores, truth


def _aligned(scores, truth, proxy, metric):
    t = truth.set_index("arch_id").reindex(scores["arch_id"])
    return scores[proxy].to_numpy(float), t[metric].to_numpy(float)


# ------------------------------------------------------------------------------- correlations


def test_correlations_equal_scipy_and_are_oriented():
    scores, truth = make_tables()
    out = correlations(scores, truth, ["good", "loss_like"], ["test_acc", "valid_acc"], n_boot=0, directions=DIRS)
    assert list(out[["proxy", "metric"]].itertuples(index=False, name=None)) == [
        ("good", "test_acc"), ("good", "valid_acc"), ("good", "neg_train_loss"),
        ("loss_like", "test_acc"), ("loss_like", "valid_acc"), ("loss_like", "neg_train_loss"),
    ]  # fmt: skip
    for r in out.itertuples():
        x, y = _aligned(scores, truth, r.proxy, "train_loss" if r.metric == "neg_train_loss" else r.metric)
        if r.metric == "neg_train_loss":
            y = -y
        sign = -1.0 if r.proxy == "loss_like" else 1.0
        assert r.oriented == (r.proxy == "loss_like") and r.higher_is_better == (r.proxy == "good")
        assert (r.n, r.n_excluded, r.n_no_metric) == (60, 0, 0)
        sp, kt, pr = stats.spearmanr(sign * x, y), stats.kendalltau(sign * x, y), stats.pearsonr(sign * x, y)
        assert r.spearman == pytest.approx(sp.statistic, abs=1e-12)
        assert r.spearman_p == pytest.approx(sp.pvalue, rel=1e-9)
        assert r.kendall == pytest.approx(kt.statistic, abs=1e-12)
        assert r.kendall_p == pytest.approx(kt.pvalue, rel=1e-9)
        assert r.pearson == pytest.approx(pr.statistic, abs=1e-12)
        assert r.pearson_p == pytest.approx(pr.pvalue, rel=1e-9)
        assert r.spearman > 0.5 and r.kendall > 0.3  # oriented: good ranking is positive
    assert out[["spearman_lo", "spearman_hi", "kendall_lo", "kendall_hi"]].isna().all().all()  # n_boot=0


def test_orientation_flips_sign_exactly():
    scores, truth = make_tables()
    up = correlations(scores, truth, "loss_like", "test_acc", n_boot=200, directions={"loss_like": True})
    down = correlations(scores, truth, "loss_like", "test_acc", n_boot=200, directions={"loss_like": False})
    for c in ("spearman", "kendall", "pearson"):
        assert down[c].iloc[0] == pytest.approx(-up[c].iloc[0], abs=1e-12)
        assert down[f"{c}_p"].iloc[0] == pytest.approx(up[f"{c}_p"].iloc[0], rel=1e-9)
    assert down["spearman"].iloc[0] > 0 > up["spearman"].iloc[0]
    assert bool(down["oriented"].iloc[0]) and not bool(up["oriented"].iloc[0])
    # same resamples, negated data: the interval is mirrored
    assert down["spearman_lo"].iloc[0] == pytest.approx(-up["spearman_hi"].iloc[0], abs=1e-12)


def test_nan_and_sentinel_rows_are_excluded_and_counted():
    scores, truth = make_tables()
    scores["good__flag"] = None
    scores.loc[0, ["good", "good__flag"]] = [1e5, "sentinel"]  # huge: would dominate if used
    scores.loc[1, ["good", "good__flag"]] = [np.nan, "nan"]
    scores.loc[2, "good"] = np.inf  # non-finite without a flag: excluded too
    scores.loc[3, "good__flag"] = "nan"  # flagged: excluded even though the value is finite
    scores.loc[4, ["good", "good__flag"]] = [-50.0, "degenerate"]  # a real score: kept
    truth.loc[truth["arch_id"] == scores["arch_id"][5], "test_acc"] = np.nan  # unknown metric
    out = correlations(scores, truth, ["good"], ["test_acc"], n_boot=0, directions=DIRS, neg_train_loss=False)
    r = out.iloc[0]
    assert (r["n"], r["n_excluded"], r["n_no_metric"]) == (55, 4, 1)
    x, y = _aligned(scores, truth, "good", "test_acc")
    keep = np.ones(60, bool)
    keep[[0, 1, 2, 3, 5]] = False
    assert r["spearman"] == pytest.approx(stats.spearmanr(x[keep], y[keep]).statistic, abs=1e-12)
    assert r["kendall"] == pytest.approx(stats.kendalltau(x[keep], y[keep]).statistic, abs=1e-12)
    assert r["pearson"] == pytest.approx(stats.pearsonr(x[keep], y[keep]).statistic, abs=1e-12)
    # the sentinel row is not silently counted as a measurement
    assert r["pearson"] != pytest.approx(stats.pearsonr(np.r_[1e5, x[keep]], np.r_[y[0], y[keep]]).statistic)


def test_bad_inputs_raise_clear_errors():
    scores, truth = make_tables(20)
    with pytest.raises(ValueError, match="proxy column.*'nope'.*available"):
        correlations(scores, truth, ["nope"], ["test_acc"], directions=DIRS)
    with pytest.raises(ValueError, match="unknown metric 'top1'.*test_acc"):
        correlations(scores, truth, ["good"], ["top1"], directions=DIRS)
    bad = scores.assign(good__flag=["weird"] + [None] * 19)
    with pytest.raises(ValueError, match="unknown flag.*weird.*allowed"):
        correlations(bad, truth, ["good"], ["test_acc"], directions=DIRS)
    with pytest.raises(ValueError, match="duplicated arch_id"):
        correlations(pd.concat([scores, scores.iloc[:1]]), truth, ["good"], ["test_acc"], directions=DIRS)
    other = truth.copy()
    other.loc[0, "arch"] = "something else"
    with pytest.raises(ValueError, match="disagree on arch_id"):
        correlations(scores, other, ["good"], ["test_acc"], directions=DIRS)
    with pytest.raises(ValueError, match="n_boot"):
        correlations(scores, truth, ["good"], ["test_acc"], n_boot=-1, directions=DIRS)
    with pytest.raises(ValueError, match="no direction for proxy 'good'"):
        correlations(scores, truth, ["good"], ["test_acc"])  # not registered, no mapping given


def test_too_few_pairs_and_constant_scores_give_nan():
    scores, truth = make_tables(20)
    scores["const"] = 1.0
    scores["few"] = [1.0, 2.0] + [np.nan] * 18
    out = correlations(scores, truth, ["const", "few"], ["test_acc"], directions={"const": True, "few": True},
                       neg_train_loss=False)  # fmt: skip
    assert out[["spearman", "kendall", "pearson", "spearman_lo"]].isna().all().all()
    assert out["n"].tolist() == [20, 2] and out["n_excluded"].tolist() == [0, 18]


# ---------------------------------------------------------------------------------- bootstrap


def test_bootstrap_resamples_equal_scipy_on_the_drawn_indices():
    """The documented draw (rng.integers(0, n, (n_boot, n)) for small n) reproduced by hand:
    every resample's rho and tau-b equal scipy's on x[idx], y[idx], ties included."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, 40).astype(float)  # many ties in x
    y = np.round(x + rng.normal(0, 2, 40), 0)  # and in y
    rho, tau = bootstrap_rank_correlations(x, y, 60, np.random.default_rng(11))
    idx = np.random.default_rng(11).integers(0, 40, size=(60, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_rho = [stats.spearmanr(x[i], y[i]).statistic for i in idx]
        ref_tau = [stats.kendalltau(x[i], y[i]).statistic for i in idx]
    np.testing.assert_allclose(rho, ref_rho, atol=1e-12)
    np.testing.assert_allclose(tau, ref_tau, atol=1e-12)


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    scores, truth = make_tables(80, seed=1)
    kw = dict(n_boot=500, directions=DIRS, neg_train_loss=False)
    a = correlations(scores, truth, ["good", "noise"], ["test_acc"], seed=7, **kw)
    b = correlations(scores, truth, ["good", "noise"], ["test_acc"], seed=7, **kw)
    c = correlations(scores, truth, ["good", "noise"], ["test_acc"], seed=8, **kw)
    alone = correlations(scores, truth, ["noise"], ["test_acc"], seed=7, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["spearman_lo"], c["spearman_lo"])
    # a cell's resamples do not depend on which other cells are computed
    pd.testing.assert_frame_equal(a.iloc[[1]].reset_index(drop=True), alone)
    for c_ in ("spearman", "kendall"):
        assert (a[f"{c_}_lo"] <= a[c_]).all() and (a[c_] <= a[f"{c_}_hi"]).all()
        assert (a[f"{c_}_hi"] - a[f"{c_}_lo"] > 0.02).all()
    # percentile interval of rho for n=80 is roughly +-2 standard errors
    assert 0.1 < a["spearman_hi"].iloc[0] - a["spearman_lo"].iloc[0] < 0.4


def test_bootstrap_is_fast():
    """1,000 architectures x 1,000 resamples, Spearman and Kendall: well under a second."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    y = x + rng.normal(size=1000)
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        rho, tau = bootstrap_rank_correlations(x, y, 1000, np.random.default_rng(0))
        best = min(best, time.perf_counter() - t)
    assert rho.shape == tau.shape == (1000,) and np.isfinite(rho).all() and np.isfinite(tau).all()
    assert best < 1.0, f"bootstrap took {best:.2f} s"


# -------------------------------------------------------------------------- repeated sampling


def test_repeated_sampling_shapes_values_and_determinism():
    scores, truth = make_tables(60)
    scores.loc[0, "good"] = np.nan  # excluded inside draws that contain it
    res = repeated_sampling(scores, truth, ["good", "noise"], "test_acc", repeats=7, n=20, seed=3, directions=DIRS)
    assert res.per_repeat.shape == (14, 6)
    assert list(res.per_repeat.columns) == ["repeat", "proxy", "n", "n_excluded", "spearman", "kendall"]
    assert res.summary[["proxy", "coefficient"]].values.tolist() == [
        ["good", "spearman"], ["good", "kendall"], ["noise", "spearman"], ["noise", "kendall"]
    ]
    assert res.samples.shape == (140, 2)
    assert (res.per_repeat["n"] + res.per_repeat["n_excluded"] == 20).all()
    # each repetition equals scipy on the architectures it drew
    for (rep, proxy), row in res.per_repeat.set_index(["repeat", "proxy"]).iterrows():
        ids = res.samples.loc[res.samples["repeat"] == rep, "arch_id"]
        assert ids.is_unique and len(ids) == 20
        sub = scores.set_index("arch_id").loc[ids]
        x, y = sub[proxy].to_numpy(float), truth.set_index("arch_id").loc[ids, "test_acc"].to_numpy(float)
        ok = np.isfinite(x)
        assert row["n"] == ok.sum()
        assert row["spearman"] == pytest.approx(stats.spearmanr(x[ok], y[ok]).statistic, abs=1e-12)
        assert row["kendall"] == pytest.approx(stats.kendalltau(x[ok], y[ok]).statistic, abs=1e-12)
    good = res.per_repeat[res.per_repeat["proxy"] == "good"]
    s = res.summary.set_index(["proxy", "coefficient"]).loc[("good", "spearman")]
    assert s["mean"] == pytest.approx(good["spearman"].mean()) and s["std"] == pytest.approx(good["spearman"].std())
    again = repeated_sampling(scores, truth, ["good", "noise"], "test_acc", repeats=7, n=20, seed=3, directions=DIRS)
    pd.testing.assert_frame_equal(res.per_repeat, again.per_repeat)
    other = repeated_sampling(scores, truth, ["good", "noise"], "test_acc", repeats=7, n=20, seed=4, directions=DIRS)
    assert not res.samples.equals(other.samples)


def test_repeated_sampling_full_population_and_errors():
    scores, truth = make_tables(30)
    truth.loc[0, "test_acc"] = np.nan  # 29 architectures with a known metric
    full = repeated_sampling(scores, truth, ["loss_like"], "test_acc", repeats=3, n=29, directions=DIRS)
    ref = correlations(scores, truth, ["loss_like"], ["test_acc"], n_boot=0, directions=DIRS).iloc[0]
    assert np.allclose(full.per_repeat["spearman"], ref["spearman"]) and ref["spearman"] > 0
    assert full.summary["std"].abs().max() < 1e-12
    with pytest.raises(ValueError, match="n=30 is larger than the 29 architectures"):
        repeated_sampling(scores, truth, ["good"], "test_acc", n=30, directions=DIRS)
    with pytest.raises(ValueError, match="repeats=0"):
        repeated_sampling(scores, truth, ["good"], "test_acc", repeats=0, n=10, directions=DIRS)
    with pytest.raises(ValueError, match="unknown metric"):
        repeated_sampling(scores, truth, ["good"], "top1", n=10, directions=DIRS)


# -------------------------------------------------------------------------------- rank groups


def test_rank_groups_on_a_monotone_toy():
    n = 10
    ids = np.arange(n)
    truth = pd.DataFrame({"arch_id": ids, "test_acc": 50.0 + 4.0 * ids})
    scores = pd.DataFrame({"arch_id": ids, "up": ids * 1.5, "down": -ids * 2.0})
    up = rank_groups(scores, truth, "up", "test_acc", 4, directions={"up": True})
    down = rank_groups(scores, truth, "down", "test_acc", 4, directions={"down": False})
    assert up["n"].tolist() == [3, 3, 2, 2]  # np.array_split: the first groups take the remainder
    assert up["mean"].tolist() == [50.0 + 4.0 * 8, 50.0 + 4.0 * 5, 50.0 + 4.0 * 2.5, 50.0 + 4.0 * 0.5]
    assert up["group"].tolist() == [1, 2, 3, 4] and up["mean"].is_monotonic_decreasing
    assert up["std"].iloc[0] == pytest.approx(np.std([82.0, 86.0, 78.0], ddof=1))
    # a lower-is-better proxy: its lowest scores form group 1
    assert down["mean"].tolist() == [82.0, 70.0, 60.0, 52.0]
    assert (down["score_min"].iloc[0], down["score_max"].iloc[0]) == (-18.0, -14.0)
    # the same scores read as higher-is-better reverse the groups
    wrong = rank_groups(scores, truth, "down", "test_acc", 4, directions={"down": True})
    assert wrong["mean"].tolist() == [54.0, 66.0, 76.0, 84.0]
    with pytest.raises(ValueError, match="groups=11 but only 10"):
        rank_groups(scores, truth, "up", "test_acc", 11, directions={"up": True})


# ---------------------------------------------------------------------------------- selection


def test_select_topk_ties_exclusions_and_direction():
    scores = pd.DataFrame(
        {
            "arch_id": [5, 3, 9, 1, 7, 2],
            "s": [2.0, 2.0, 1e5, np.nan, 1.0, 2.0],
            "s__flag": [None, None, "sentinel", "nan", None, "degenerate"],
        }
    )
    assert select_topk(scores, "s", 3, directions={"s": True}) == [2, 3, 5]  # ties by arch_id
    assert select_topk(scores, "s", 4, directions={"s": True}) == [2, 3, 5, 7]
    assert select_topk(scores, "s", 2, directions={"s": False}) == [7, 2]
    with pytest.raises(ValueError, match="k=5 but only 4 of 6"):
        select_topk(scores, "s", 5, directions={"s": True})
    with pytest.raises(ValueError, match="k=0"):
        select_topk(scores, "s", 0, directions={"s": True})


def test_best_of_n_and_random_pick():
    scores, truth = make_tables(50)
    a = best_of_n(scores, "good", 10, seed=4, directions=DIRS)
    assert a == best_of_n(scores, "good", 10, seed=4, directions=DIRS)
    assert len(set(a.sampled)) == 10 and a.arch_id in a.sampled
    drawn = scores.set_index("arch_id").loc[a.sampled]
    assert a.arch_id == select_topk(drawn.reset_index(), "good", 1, directions=DIRS)[0]
    assert a.search_seconds == pytest.approx(drawn["good__seconds"].sum())
    assert np.isnan(best_of_n(scores, "noise", 5, directions=DIRS).search_seconds)  # no timing column
    whole = best_of_n(scores, "good", 50, directions=DIRS)
    assert whole.arch_id == select_topk(scores, "good", 1, directions=DIRS)[0]
    with pytest.raises(ValueError, match="n=51"):
        best_of_n(scores, "good", 51, directions=DIRS)
    nan_scores = scores.assign(good=np.nan)
    with pytest.raises(ValueError, match="none of the 3 drawn"):
        best_of_n(nan_scores, "good", 3, directions=DIRS)
    archs = list(range(100, 120))
    picks = [random_pick(archs, seed=s) for s in range(40)]
    assert picks == [random_pick(archs, seed=s) for s in range(40)]
    assert set(picks) <= set(archs) and len(set(picks)) > 5
    with pytest.raises(ValueError, match="no architectures"):
        random_pick([], seed=0)


def test_one_best_of_n_rule_for_select_and_search():
    """NASWOT Algorithm 1 (``score > best_score``): earliest proposal wins ties, NaN never picked."""
    from knas.search.context import best_by
    from knas.selection import first_best

    assert first_best([1.0, 3.0, 3.0, np.nan]) == 1
    assert first_best([np.nan, None]) is None and first_best([]) is None
    assert first_best([2.0, 1.0, 1.0], higher_is_better=False) == 1
    assert best_by([("a", 1.0), ("b", 5.0), ("c", 5.0)], key=lambda t: t[1]) == ("b", 5.0)
    # the study's select proposes the first n rows of its table (sample order), ties to the earliest
    scores = pd.DataFrame({"arch_id": [9, 4, 7, 2], "s": [1.0, 3.0, 3.0, 8.0]})
    assert best_of_n(scores, "s", 3, seed=None, directions={"s": True}).arch_id == 4
    assert best_of_n(scores, "s", 3, seed=None, directions={"s": True}).sampled == [9, 4, 7]
    assert best_of_n(scores, "s", 4, seed=None, directions={"s": False}).arch_id == 9


# -------------------------------------------------------------------------------------- plots


def _is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 2000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png_and_pdf(tmp_path):
    scores, truth = make_tables(200, seed=2)
    scores["wide"] = np.exp(scores["good"] / 5.0)  # spans several decades: log x-axis
    scores["wide__flag"] = None
    scores.loc[0, ["wide", "wide__flag"]] = [1e5, "sentinel"]
    scores.loc[1, "wide__flag"] = "degenerate"
    dirs = {**DIRS, "wide": True}
    assert plots._use_log(scores["wide"].to_numpy()) and not plots._use_log(scores["good"].to_numpy())

    out = plots.scatter_proxy_vs_accuracy(scores, truth, "wide", "test_acc", tmp_path / "scatter.png",
                                          directions=dirs)  # fmt: skip
    assert [p.name for p in out] == ["scatter.png", "scatter.pdf"]
    assert _is_png(out[0]) and out[1].read_bytes()[:5] == b"%PDF-"

    groups = pd.concat(
        [rank_groups(scores, truth, p, "test_acc", directions=dirs) for p in ("good", "loss_like")]
    )
    assert _is_png(plots.rank_group_bars(groups, tmp_path / "groups.png", pdf=False)[0])
    assert not (tmp_path / "groups.pdf").exists()

    corr = correlations(scores, truth, ["good", "loss_like", "noise"], None, n_boot=0, directions=dirs)
    assert _is_png(plots.correlation_heatmap(corr, tmp_path / "heat.png", coef="kendall")[0])
    with pytest.raises(ValueError, match="coef='tau'; allowed: spearman, kendall, pearson"):
        plots.correlation_heatmap(corr, tmp_path / "bad.png", coef="tau")

    runs = []
    for s in range(5):
        for n in (10, 50):
            pick = best_of_n(scores, "good", n, seed=s, directions=dirs)
            acc = truth.set_index("arch_id").loc[pick.arch_id, "test_acc"]
            runs.append({"strategy": f"good, N={n}", "accuracy": acc, "search_seconds": pick.search_seconds})
        rp = random_pick(scores["arch_id"], seed=s)
        runs.append({"strategy": "random", "accuracy": truth.set_index("arch_id").loc[rp, "test_acc"],
                     "search_seconds": 0.0})  # fmt: skip
    assert _is_png(plots.accuracy_vs_search_time(pd.DataFrame(runs), tmp_path / "search.png", pdf=False)[0])
    with pytest.raises(ValueError, match="lacks column"):
        plots.accuracy_vs_search_time(pd.DataFrame(runs).drop(columns="search_seconds"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="unsupported figure format"):
        plots.rank_group_bars(groups, tmp_path / "groups.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "groups.png", "heat.pdf", "heat.png", "scatter.pdf", "scatter.png", "search.png"
    ]  # atomic writes leave no temporary files behind
