"""Tests of knas.search: strategies find the known optimum of a small synthetic space, budgets
hold, the same seed gives the same result, the accounting charges what it should; and on the
NB201 reference export (../shared/data/nb201_accuracy.csv) best-of-100 by parameter count beats
a random architecture on average over 100 runs. Budget: ~40 s on a 2-core CPU."""
from __future__ import annotations

import argparse
import math
import random

import numpy as np
import pandas as pd
import pytest

from knas import nb201
from knas.search import (
    Budget,
    GridSpace,
    ProxyCache,
    SearchContext,
    TableOracle,
    format_table,
    get_space,
    get_strategy,
    names,
    plot_search,
    run_repeats,
    run_strategy,
    summary_table,
)
from knas.cli import search as search_cli
from knas.search.teg import TEG_INDICATORS, Adam, MovingAverage, TegBuffer, min_rank, rank_sum

SPACE = GridSpace(3, ("a", "b", "c"))  # 27 architectures
OPTIMUM = "c|c|c"
SECOND = "c|c|b"
PROXY_SECONDS = 0.5


def synthetic_acc(arch: str) -> float:
    a = SPACE.actions(arch)
    return 60.0 + 10 * a[0] + 4 * a[1] + 1.5 * a[2]  # distinct values, unique optimum c|c|c


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    archs = SPACE.all_archs()
    valid = np.array([synthetic_acc(a) for a in archs])
    return pd.DataFrame({
        "arch": archs,
        "valid": valid,
        "test": valid - 0.5,
        "valid12": valid - 20,  # same order at 12 epochs
        "test12": valid - 21,
        "t200": 1000.0,
        "t12": [100.0 + SPACE.encode(a) for a in archs],  # varied, known training times
    })


@pytest.fixture(scope="module")
def oracle(truth) -> TableOracle:
    cols = {"valid_acc": "valid", "test_acc": "test", "train_seconds_200ep": "t200",
            "valid_acc_12ep": "valid12", "test_acc_12ep": "test12", "train_seconds_12ep": "t12"}
    return TableOracle(truth, {"synth": cols, "synth2": {"valid_acc": "test", "test_acc": "valid"}})


@pytest.fixture(scope="module")
def scores(truth) -> pd.DataFrame:
    v = truth["valid"].to_numpy()
    noisy = v.copy()  # correlated, but its best is the second-best architecture
    i_opt, i_2nd = truth.index[truth.arch == OPTIMUM][0], truth.index[truth.arch == SECOND][0]
    noisy[i_opt], noisy[i_2nd] = v[i_2nd], v[i_opt]
    df = pd.DataFrame({
        "arch": truth["arch"], "good": v, "noisy": noisy, "low": -v,
        "ntk_cond": 200 - v, "linear_regions": 10 * v, "ntk_mse": 100 - v,
    })
    for c in ("good", "noisy", "low", "ntk_cond", "linear_regions", "ntk_mse"):
        df[c + "__seconds"] = PROXY_SECONDS
    return df


@pytest.fixture()
def cache(scores) -> ProxyCache:
    return ProxyCache(scores, higher_is_better={"good": True, "noisy": True, "low": False})


# Parameters with which each strategy can reach the optimum of the 27-architecture space.
FINDS = {
    "random_search": dict(max_trained=150),
    "naswot": dict(n=300, proxy="good"),
    "knas": dict(n=27, k=3, proxy="noisy"),
    "rea": dict(population=5, sample_size=3, max_trained=100),
    "area": dict(population=5, sample_size=3, proxy="noisy", max_trained=60),
    "teg_reinforce": dict(steps=500),  # the paper's defaults (plain policy gradient, lr 0.04)
    "teg_evolution": dict(population=20, sample_size=5, steps=150),
    "fpnas_teg": dict(lam=3.0),
}
SUPERNET_STRATEGIES = {"tenas", "tenas_teg"}  # tests/test_supernet_search.py


def test_registry_lists_every_strategy():
    assert set(names()) == {"random", "optimal", *FINDS, *SUPERNET_STRATEGIES}
    for name in names():
        spec = get_strategy(name)
        assert spec.paper and spec.description
    assert get_strategy("naswot").defaults == {"n": 100, "proxy": "naswot"}
    assert get_strategy("knas").defaults["n"] == 100 and get_strategy("knas").defaults["k"] == 20
    assert {k: get_strategy("teg_reinforce").defaults[k] for k in ("steps", "lr", "momentum")} == {
        "steps": 500, "lr": 0.04, "momentum": 0.9}
    assert {k: get_strategy("teg_evolution").defaults[k] for k in ("population", "sample_size", "steps")} == {
        "population": 256, "sample_size": 64, "steps": 1000}


# ---- spaces -------------------------------------------------------------------------------------

def test_grid_space_codes_sampling_mutation():
    assert SPACE.size == 27 and len(set(SPACE.all_archs())) == 27
    for code in range(27):
        assert SPACE.encode(SPACE.decode(code)) == code
    rng = random.Random(0)
    for _ in range(200):
        a = SPACE.sample(rng)
        b = SPACE.mutate(a, rng)
        assert sum(x != y for x, y in zip(SPACE.actions(a), SPACE.actions(b))) == 1
    u = SPACE.sample_unique(27, random.Random(1))
    assert sorted(u) == sorted(SPACE.all_archs())
    with pytest.raises(ValueError, match="allowed ops: a, b, c"):
        SPACE.validate("a|d|c")
    with pytest.raises(TypeError):
        SPACE.sample(np.random.default_rng(0))


def test_nb201_space_agrees_with_knas_nb201():
    sp = get_space("nb201")
    assert sp.size == nb201.num_archs == 15625
    assert [sp.sample(random.Random(s)) for s in range(5)] == [nb201.sample(1, s, unique=False)[0] for s in range(5)]
    r1, r2 = random.Random(7), random.Random(7)
    a = nb201.arch_of(123)
    for _ in range(20):
        a1, a = sp.mutate(a, r1), nb201.mutate(a, r2)
        assert a1 == a
    assert sp.index_of(a) == nb201.index_of(a)
    assert sp.to_str(sp.actions(a)) == a and sp.encode(a) == nb201.encode(a)


# ---- every strategy finds the known optimum --------------------------------------------------------

@pytest.mark.parametrize("name", sorted(FINDS))
def test_strategy_finds_known_optimum(name, oracle, cache):
    for seed in range(3):
        res = run_strategy(name, SPACE, oracle, cache, seed=seed, **FINDS[name])
        assert res.arch == OPTIMUM, (name, seed, res.arch)
        assert res.valid_acc == synthetic_acc(OPTIMUM) and res.test_acc == synthetic_acc(OPTIMUM) - 0.5
        trains = get_strategy(name).trains
        assert (res.n_trained > 0) == trains
        assert math.isclose(res.search_seconds, res.proxy_seconds + res.train_seconds + res.wall_seconds)


def test_the_oracle_stage_matters(oracle, cache):
    """With the `noisy` proxy (its best is the runner-up), best-of-N alone misses the optimum and
    KNAS's fine selection by validation accuracy recovers it."""
    assert run_strategy("naswot", SPACE, oracle, cache, seed=0, n=300, proxy="noisy").arch == SECOND
    assert run_strategy("knas", SPACE, oracle, cache, seed=0, n=27, k=1, proxy="noisy").arch == SECOND
    res = run_strategy("knas", SPACE, oracle, cache, seed=0, n=27, k=2, proxy="noisy")
    assert res.arch == OPTIMUM and res.n_trained == 2 and res.n_scored == 27
    # a lower-is-better proxy is minimised
    assert run_strategy("naswot", SPACE, oracle, cache, seed=0, n=300, proxy="low").arch == OPTIMUM


def test_random_is_uniform_and_free(oracle, cache):
    res = [run_strategy("random", SPACE, oracle, cache, seed=s) for s in range(300)]
    assert all(r.n_trained == 0 and r.n_scored == 0 and r.proxy_seconds == r.train_seconds == 0 for r in res)
    assert len({r.arch for r in res}) > 20
    mean = np.mean([r.valid_acc for r in res])
    assert abs(mean - np.mean([synthetic_acc(a) for a in SPACE.all_archs()])) < 2.0


# ---- same seed, same result -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["random", *sorted(FINDS)])
def test_same_seed_same_result(name, oracle, cache):
    params = {k: v for k, v in FINDS.get(name, {}).items()}
    if name == "teg_reinforce":
        params["steps"] = 50  # still learning: different seeds take different paths
    if name == "naswot":
        params["n"] = 5
    a = run_strategy(name, SPACE, oracle, cache, seed=11, **params)
    b = run_strategy(name, SPACE, oracle, cache, seed=11, **params)
    assert (a.arch, a.trace, a.n_trained, a.n_scored, a.proxy_seconds, a.train_seconds) == (
        b.arch, b.trace, b.n_trained, b.n_scored, b.proxy_seconds, b.train_seconds)
    others = [run_strategy(name, SPACE, oracle, cache, seed=s, **params) for s in range(4)]
    key = (lambda r: r.arch) if name == "random" else (lambda r: [t.get("arch") for t in r.trace])
    assert len({str(key(r)) for r in others}) > 1, "the seed has no effect"


# ---- budgets and accounting --------------------------------------------------------------------------

def test_budget_max_trained(oracle, cache):
    for name, p in (("rea", {}), ("random_search", {}), ("area", {"proxy": "good"}), ("knas", {"proxy": "good", "n": 27, "k": 20})):
        res = run_strategy(name, SPACE, oracle, cache, seed=0, max_trained=7, **p)
        assert res.n_trained == 7 and res.stopped_by == "max_trained"
        assert sum(t["event"] == "train" for t in res.trace) == 7


def test_budget_max_seconds_is_simulated_and_never_exceeded(oracle, cache, truth):
    t12 = dict(zip(truth.arch, truth.t12))
    for name, p in (("rea", {}), ("random_search", {}), ("area", {"proxy": "good"})):
        res = run_strategy(name, SPACE, oracle, cache, seed=1, max_seconds=1000.0, **p)
        trained = [t["arch"] for t in res.trace if t["event"] == "train"]
        assert res.train_seconds == sum(t12[a] for a in trained)  # recorded time of every training
        assert res.proxy_seconds + res.train_seconds <= 1000.0
        assert res.stopped_by == "max_seconds"
        # the next training would have overrun: at least one more 100+ s training did not fit
        assert res.proxy_seconds + res.train_seconds > 1000.0 - 127
    # REA's default is NB201's 12,000 s
    res = run_strategy("rea", SPACE, oracle, cache, seed=0)
    assert res.stopped_by == "max_seconds" and 12000 - 127 < res.train_seconds <= 12000


def test_budget_max_scored_and_proxy_seconds_once_per_arch(oracle, cache):
    res = run_strategy("naswot", SPACE, oracle, cache, seed=0, n=50, proxy="good", max_scored=10)
    assert res.n_scored == 10 and res.stopped_by == "max_scored"
    res = run_strategy("naswot", SPACE, oracle, cache, seed=0, n=300, proxy="good")
    assert res.n_scored == 27  # 300 draws of 27 architectures: each charged once
    assert res.proxy_seconds == pytest.approx(PROXY_SECONDS * 27)
    res = run_strategy("teg_evolution", SPACE, oracle, cache, seed=0, population=10, sample_size=3, steps=40)
    assert res.proxy_seconds == pytest.approx(3 * PROXY_SECONDS * res.n_scored)
    assert res.n_trained == 0 and res.train_seconds == 0
    res = run_strategy("knas", SPACE, oracle, cache, seed=0, n=20, k=4, proxy="good", max_scored=8)
    assert res.n_scored == 8 and res.n_trained == 4  # the scoring budget does not block training


def test_budget_errors(oracle, cache):
    with pytest.raises(ValueError, match="before any architecture was evaluated"):
        run_strategy("rea", SPACE, oracle, cache, seed=0, max_trained=0)
    with pytest.raises(ValueError, match="needs a budget"):
        run_strategy("random_search", SPACE, oracle, cache, seed=0, max_seconds=None)
    with pytest.raises(ValueError, match="max_trained"):
        Budget(max_trained=-1)


def test_untimed_benchmark_cannot_be_bounded_by_seconds(truth, cache):
    no_time = TableOracle(truth, {"synth": {"valid_acc": "valid", "test_acc": "test", "valid_acc_12ep": "valid12"}})
    with pytest.raises(ValueError, match="records no training time"):
        run_strategy("rea", SPACE, no_time, cache, seed=0)
    res = run_strategy("rea", SPACE, no_time, cache, seed=0, max_trained=12)
    assert res.n_trained == 12 and res.untimed_trainings == 12 and res.train_seconds == 0


# ---- errors named clearly -----------------------------------------------------------------------------

def test_clear_errors(oracle, cache, truth):
    with pytest.raises(ValueError, match="unknown search strategy 'nope'; allowed: area"):
        run_strategy("nope", SPACE, oracle, cache, seed=0)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['m'\]; allowed: .*n, proxy"):
        run_strategy("naswot", SPACE, oracle, cache, seed=0, m=3)
    with pytest.raises(ValueError, match="no 'mgm' score .* no compute callback"):
        run_strategy("knas", SPACE, oracle, cache, seed=0, n=5)
    with pytest.raises(ValueError, match="unknown direction for proxy 'foo'"):
        ProxyCache(pd.DataFrame({"arch": ["a|a|a"], "foo": [1.0]})).higher_is_better("foo")
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        run_strategy("naswot", SPACE, oracle, cache, seed=0, n=0, proxy="good")
    only200 = TableOracle(truth, {"synth": {"valid_acc": "valid", "test_acc": "test"}})
    with pytest.raises(ValueError, match="no 12-epoch validation accuracy"):
        run_strategy("rea", SPACE, only200, cache, seed=0)
    assert run_strategy("rea", SPACE, only200, cache, seed=0, epochs=200, max_trained=30).n_trained == 30
    with pytest.raises(ValueError, match="unknown dataset 'cifar10' for the 'table' ground truth; allowed: synth, synth2"):
        oracle.fidelity(OPTIMUM, "cifar10")
    with pytest.raises(ValueError, match=r"records schedules of 12, 200 epochs"):
        oracle.fidelity(OPTIMUM, epochs=20)


# ---- oracle and cache ------------------------------------------------------------------------------------

def test_table_oracle_fidelities(oracle):
    full = oracle.fidelity(OPTIMUM)
    assert full == {"valid_acc": 91.0, "test_acc": 90.5, "train_seconds": 1000.0}
    short = oracle.fidelity(OPTIMUM, epochs=12)
    assert short == {"valid_acc": 71.0, "test_acc": 70.0, "train_seconds": 100.0 + 26}
    other = oracle.fidelity(OPTIMUM, "synth2")
    assert other["valid_acc"] == 90.5 and math.isnan(other["train_seconds"])
    assert oracle.with_dataset("synth2").fidelity(OPTIMUM)["test_acc"] == 91.0
    # the same object answers the truth stage's query (all keys) and the papers' queries
    assert oracle.query(OPTIMUM, "synth")["valid_acc_12ep"] == 71.0 and math.isnan(oracle.query(OPTIMUM, "synth")["train_loss"])
    assert oracle.final_accuracy(OPTIMUM, "synth", "test") == 90.5
    assert oracle.accuracy_at(OPTIMUM, 12, "synth") == 71.0 and oracle.train_seconds(OPTIMUM, "synth", 12) == 126.0


def test_proxy_cache_computes_missing_entries_once(scores):
    calls = []

    def compute(arch, names):
        calls.append((arch, tuple(names)))
        return {n: synthetic_acc(arch) for n in names} | {n + "__seconds": 2.0 for n in names}

    part = scores[["arch", "good", "good__seconds"]].iloc[:10].copy()
    part.loc[0, "good__seconds"] = np.nan  # an outer-merge hole: missing, to be computed
    cache = ProxyCache(part, compute, higher_is_better={"good": True})
    a0, a20 = scores.arch[0], scores.arch[20]
    assert cache.score(scores.arch[1], "good") == (scores.good[1], PROXY_SECONDS)
    assert cache.score(a0, "good") == (synthetic_acc(a0), 2.0)
    assert cache.scores(a20, ["good", "other"]) == {"good": (synthetic_acc(a20), 2.0), "other": (synthetic_acc(a20), 2.0)}
    assert cache.score(a20, "other") == (synthetic_acc(a20), 2.0)
    assert calls == [(a0, ("good",)), (a20, ("good", "other"))] and cache.n_computed == 2
    # a search over the whole space through the callback, then a rerun reads everything back
    res = run_strategy("naswot", SPACE, None, cache, seed=0, n=300, proxy="good")
    assert res.arch == OPTIMUM and math.isnan(res.valid_acc)
    n_before = cache.n_computed
    run_strategy("naswot", SPACE, None, cache, seed=1, n=300, proxy="good")
    assert cache.n_computed == n_before
    table = cache.to_frame()
    assert len(table) == 27 and {"good", "good__seconds", "other"} <= set(table.columns)
    assert ProxyCache(table).score(a0, "good") == (synthetic_acc(a0), 2.0)


def test_nan_scores_are_skipped(scores, oracle):
    df = scores.copy()
    df.loc[df.arch == OPTIMUM, "good"] = np.nan  # a real NaN score (its time is recorded)
    cache = ProxyCache(df, higher_is_better={"good": True})
    res = run_strategy("naswot", SPACE, oracle, cache, seed=0, n=300, proxy="good")
    assert res.arch == SECOND


# ---- TEG pieces ---------------------------------------------------------------------------------------------

def official_buffer_rewards(rows, length=10):
    """TEGNAS Buffer_Reward_Generator._buffer_insert + get_reward for good architectures only."""
    bufs = {t: [] for t in TEG_INDICATORS}
    sign = {"ntk_cond": -1, "linear_regions": 1, "ntk_mse": -1}
    rewards = []
    for r in rows:
        for t in TEG_INDICATORS:
            bufs[t].append(r[t])
        if len(bufs["ntk_cond"]) <= 1:
            rewards.append(0)
            continue
        rew = 0
        for t in TEG_INDICATORS:
            b = bufs[t]
            rew += sign[t] * (b[-1] - b[-2]) / (max(b[-length:]) - min(b[-length:]) + 1e-6)
        rewards.append(rew)
    ranks = {}
    for t in TEG_INDICATORS:
        srt = sorted(bufs[t], reverse=sign[t] == 1)
        ranks[t] = [srt.index(v) for v in bufs[t]]
    best = int(np.argmin([sum(ranks[t][i] for t in TEG_INDICATORS) for i in range(len(rows))]))
    return rewards, best


def test_teg_buffer_matches_official_formula():
    g = np.random.default_rng(0)
    rows = [{"ntk_cond": float(g.integers(1, 30)), "linear_regions": float(g.integers(100, 130)),
             "ntk_mse": float(g.integers(0, 20))} for _ in range(40)]
    buf = TegBuffer(10)
    ours = [buf.insert(r) for r in rows]
    ref, best = official_buffer_rewards(rows)
    assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12)
    assert buf.rank_best() == best


def test_teg_bad_architectures_take_the_worst_value_so_far():
    buf = TegBuffer(10)
    buf.insert({"ntk_cond": -1.0, "linear_regions": 5.0, "ntk_mse": -1.0})  # bad first: placeholder
    assert buf.last()["ntk_cond"] == math.inf
    buf.insert({"ntk_cond": 10.0, "linear_regions": 6.0, "ntk_mse": 3.0})
    buf.insert({"ntk_cond": float("nan"), "linear_regions": 7.0, "ntk_mse": 1.0})  # bad: NaN NTK
    assert buf.last() == {"ntk_cond": 10.0, "linear_regions": 7.0, "ntk_mse": 3.0}
    buf.insert({"ntk_cond": 20.0, "linear_regions": 1.0, "ntk_mse": 9.0})  # new worst: bad entries follow
    assert [buf._effective("ntk_cond")[i] for i in range(4)] == [20.0, 10.0, 20.0, 20.0]
    assert buf.rank_best() == 1


def test_rank_helpers():
    v = np.array([3.0, 1.0, 3.0, 2.0])
    assert min_rank(v, False).tolist() == [2, 0, 2, 1]  # sorted(v).index(x)
    assert min_rank(v, True).tolist() == [0, 3, 0, 2]  # sorted(v, reverse=True).index(x)
    rows = [{"ntk_cond": 1, "linear_regions": 1, "ntk_mse": 1}, {"ntk_cond": 2, "linear_regions": 5, "ntk_mse": 0}]
    assert rank_sum(rows).tolist() == [2, 1]


def test_adam_and_moving_average_match_torch():
    import torch

    g = np.random.default_rng(1)
    grads = [g.standard_normal((3, 4)) for _ in range(6)]
    p = g.standard_normal((3, 4))
    tp = torch.nn.Parameter(torch.tensor(p.copy(), dtype=torch.float64))
    topt = torch.optim.Adam([tp], lr=0.04)
    ours = Adam(p.shape, 0.04)
    for gr in grads:
        ours.step(p, gr)
        tp.grad = torch.tensor(gr)
        topt.step()
    assert np.allclose(p, tp.detach().numpy(), rtol=1e-12, atol=1e-12)
    ema = MovingAverage(0.9, debiased=True)
    ema.update(1.0)
    assert ema.value() == pytest.approx(1.0)  # bias-corrected
    ema.update(0.0)
    assert ema.value() == pytest.approx(0.09 / 0.19)


def test_teg_reinforce_policy_concentrates_on_the_optimum(oracle, cache):
    class Recording(SearchContext):
        def score(self, arch, names):
            self.calls.append(arch)
            return super().score(arch, names)

    ctx = Recording(SPACE, oracle, cache, seed=0)
    ctx.calls = []
    get_strategy("teg_reinforce").fn(ctx)  # the paper's: 500 plain policy-gradient steps
    first, last = ctx.calls[:100].count(OPTIMUM), ctx.calls[-100:].count(OPTIMUM)
    assert first < 20 and last > 35
    ctx = Recording(SPACE, oracle, cache, seed=0)  # the released code's Adam concentrates faster
    ctx.calls = []
    get_strategy("teg_reinforce").fn(ctx, steps=400, optimizer="adam", baseline="ema_debiased", buffer_size=10,
                                     derive="rank_best")
    first, last = ctx.calls[:100].count(OPTIMUM), ctx.calls[-100:].count(OPTIMUM)
    assert first < 20 and last > 70


# ---- repeats, summary, plot, CLI --------------------------------------------------------------------------

def test_run_repeats_and_summary(oracle, cache, tmp_path):
    r1 = run_repeats("naswot", SPACE, oracle, cache, repeats=6, seed=5, n=3, proxy="good")
    r2 = run_repeats("random", SPACE, oracle, cache, repeats=6, seed=5)
    assert r1["strategy"].iloc[0] == "naswot(n=3,proxy=good)" and r2["strategy"].iloc[0] == "random"
    assert r1["seed"].tolist() == list(range(5, 11)) and (r1["dataset"] == "synth").all()
    assert {"synth__valid_acc", "synth__test_acc", "synth2__valid_acc", "synth2__test_acc"} <= set(r1.columns)
    assert (r1["synth__test_acc"] == r1["test_acc"]).all()
    assert (r1["arch_index"] == [SPACE.encode(a) for a in r1["arch"]]).all()
    runs = pd.concat([r1, r2], ignore_index=True)
    s = summary_table(runs)
    assert s["strategy"].tolist() == ["naswot(n=3,proxy=good)", "random"] and (s["runs"] == 6).all()
    assert s.loc[0, "synth__test_mean"] == pytest.approx(r1["test_acc"].mean())
    assert s.loc[0, "synth__test_std"] == pytest.approx(np.std(r1["test_acc"], ddof=1))
    assert s.loc[1, "search_seconds"] == pytest.approx(r2["search_seconds"].mean())
    md = format_table(s)
    assert md.startswith("| Method | Search (s) | synth valid | synth test | synth2 valid") and " ± " in md
    assert s["method"].tolist() == ["NASWOT (N=3) [proxy=good]", "Random"]
    assert "| Random | N/A |" in md  # nothing scored or trained: Table 2's "N/A"
    plot_search(s, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="repeats=0"):
        run_repeats("random", SPACE, oracle, cache, repeats=0)


def test_cli_search_and_summary(oracle, scores, tmp_path, monkeypatch):
    """`knas search` / `knas search-summary` plumbing (the benchmark loader is replaced by a table oracle)."""
    seen = {}

    def fake_loader(kind, path, dataset, datasets=None):
        seen.update(kind=kind, path=path)
        return oracle.with_dataset(dataset)

    monkeypatch.setattr("knas.search.oracle.load_truth_oracle", fake_loader)
    monkeypatch.setattr("knas.search.space.SPACES", {"nb201": lambda: SPACE})
    scores.rename(columns={"noisy": "custom", "noisy__seconds": "custom__seconds"}).to_parquet(
        tmp_path / "scores.parquet")
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    search_cli.add_cli(sub)
    args = parser.parse_args([
        "search", "--strategy", "knas", "--scores", str(tmp_path / "scores.parquet"), "--truth", "bench.pth",
        "--truth-kind", "nb201", "--dataset", "synth", "--repeats", "3", "--seed", "2",
        "--param", "n=27", "--param", "k=3", "--param", "proxy=custom", "--max-trained", "5",
        "--direction", "custom=higher",
        "--out", str(tmp_path / "runs.parquet"),
    ])
    args.func(args)
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert seen == {"kind": "nb201", "path": "bench.pth"}
    assert len(runs) == 3 and (runs["arch"] == OPTIMUM).all() and runs["seed"].tolist() == [2, 3, 4]
    assert runs["strategy"].iloc[0] == "knas(k=3,max_trained=5,n=27,proxy=custom)"
    args = parser.parse_args(["search-summary", str(tmp_path / "runs.parquet"), "--out", str(tmp_path / "s.csv"),
                              "--markdown", str(tmp_path / "s.md"), "--plot", str(tmp_path / "s.png")])
    args.func(args)
    assert pd.read_csv(tmp_path / "s.csv")["runs"].tolist() == [3]
    assert "knas(" in (tmp_path / "s.md").read_text() and (tmp_path / "s.png").exists()
    assert search_cli.parse_param("cycles=null") == ("cycles", None)
    with pytest.raises(ValueError, match="expected key=value"):
        search_cli.parse_param("n")
    with pytest.raises(ValueError, match="allowed: higher, lower"):
        search_cli.parse_direction("custom=up")


# ---- acceptance on the NB201 reference export ----------------------------------------------------------------

def test_nb201_best_of_100_by_params_beats_random(shared_data):
    acc = pd.read_csv(shared_data / "nb201_accuracy.csv")
    oracle = TableOracle(acc, {
        "cifar10": {"valid_acc": "cifar10_valid_valid_acc_200ep", "test_acc": "cifar10_test_acc_200ep",
                    "test_acc_12ep": "cifar10_test_acc_12ep_1seed"},
        "cifar100": {"test_acc": "cifar100_test_acc_200ep"},
        "ImageNet16-120": {"test_acc": "imagenet16_120_test_acc_200ep"},
    }, arch_col="arch_str", dataset="cifar10")

    def params(arch, names):  # scored on demand, once per architecture
        return {"params": float(nb201.nb201_cost(arch, C=16, N=5, num_classes=10)[0]), "params__seconds": 0.0}

    cache = ProxyCache(compute=params)
    space = get_space("nb201")
    best = run_repeats("naswot", space, oracle, cache, repeats=100, seed=0, n=100, proxy="params")
    rand = run_repeats("random", space, oracle, cache, repeats=100, seed=0)
    s = summary_table(pd.concat([best, rand], ignore_index=True)).set_index("strategy")
    b, r = s.loc["naswot(proxy=params)"], s.loc["random"]
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        assert b[f"{ds}__test_mean"] > r[f"{ds}__test_mean"] + 3, ds
    assert b["cifar10__valid_mean"] > r["cifar10__valid_mean"] + 3
    assert 92.0 < b["cifar10__test_mean"] < 94.37  # below the benchmark's best (94.37)
    assert b["cifar10__test_std"] < r["cifar10__test_std"]
    assert (best["n_scored"] <= 100).all() and cache.n_computed <= 15625


def test_truth_backend_adapter_agrees_with_table_oracle(shared_data):
    """The knas.truth ``table`` backend, adapted, answers like a TableOracle over the same file."""
    pytest.importorskip("knas.truth")
    from knas.search import load_truth_oracle

    truth = load_truth_oracle("table", str(shared_data / "nb201_accuracy.csv"), "cifar10")
    assert set(truth.datasets) == {"cifar10", "cifar100", "ImageNet16-120"}
    acc = pd.read_csv(shared_data / "nb201_accuracy.csv", nrows=50)
    for row in acc.itertuples():
        q = truth.fidelity(row.arch_str)
        assert q["valid_acc"] == row.cifar10_valid_valid_acc_200ep and q["test_acc"] == row.cifar10_test_acc_200ep
        assert truth.fidelity(row.arch_str, "cifar100")["test_acc"] == row.cifar100_test_acc_200ep
        assert truth.fidelity(row.arch_str, epochs=12)["test_acc"] == row.cifar10_test_acc_12ep_1seed
    with pytest.raises(ValueError, match="no 12-epoch validation accuracy"):
        run_strategy("rea", get_space("nb201"), truth, None, seed=0)  # the export has no 12-epoch valid acc
    res = run_strategy("rea", get_space("nb201"), truth, None, seed=0, epochs=200, max_trained=20)
    assert res.n_trained == 20 and res.untimed_trainings == 20
