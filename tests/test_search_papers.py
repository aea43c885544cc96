"""The search strategies against independent slow implementations written from the papers, in
this file: TEG-NAS's REINFORCE (Section 5.2.1, Eqs. 13-18: the reward, the moving-average
baseline from b_0 = 0, the plain policy-gradient step with the gradient of the log-probability
taken by finite differences, the policy's mode) and the released code's options (window of 10,
bias-corrected baseline, Adam via torch, rank-sum pick); NASWOT's AREA (Algorithm 2: top P of
2P distinct samples, tournament without replacement, aging); NASWOT Table 2's "Optimal (N)"
(per column, the best accuracy of N samples) and "Random"; the shipped Table 2 config."""
from __future__ import annotations

import collections
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import yaml

from knas.search import ProxyCache, SearchContext, TableOracle, format_table, get_space, get_strategy, run_repeats, \
    run_strategy, summary_table
from knas.search.teg import TEG_INDICATORS, MovingAverage, TegBuffer, reinforce_policy

from test_search import OPTIMUM, SPACE, synthetic_acc
from test_workflow import ROOT, job_counts, snakemake

SIGN = {"ntk_cond": -1, "linear_regions": 1, "ntk_mse": -1}  # TEG-NAS Section 3: minimise kappa and MSE


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    archs = SPACE.all_archs()
    valid = np.array([synthetic_acc(a) for a in archs])
    return pd.DataFrame({"arch": archs, "valid": valid, "test": valid - 0.5 + 3 * np.sin(np.arange(27)),
                         "valid12": valid - 20 + np.cos(np.arange(27)), "test12": valid - 21,
                         "t200": 1000.0, "t12": [100.0 + SPACE.encode(a) for a in archs],
                         "other": 50 + 10 * np.cos(3 * np.arange(27))})


@pytest.fixture(scope="module")
def oracle(truth) -> TableOracle:
    cols = {"valid_acc": "valid", "test_acc": "test", "train_seconds_200ep": "t200",
            "valid_acc_12ep": "valid12", "test_acc_12ep": "test12", "train_seconds_12ep": "t12"}
    return TableOracle(truth, {"synth": cols, "synth2": {"valid_acc": "other", "test_acc": "valid"}})


@pytest.fixture(scope="module")
def scores(truth) -> pd.DataFrame:
    g = np.random.default_rng(3)
    v = truth["valid"].to_numpy()
    df = pd.DataFrame({"arch": truth["arch"], "noisy": v + g.normal(0, 4, 27),
                       "ntk_cond": 200 - v + g.normal(0, 3, 27), "linear_regions": 10 * v + g.normal(0, 30, 27),
                       "ntk_mse": 100 - v + g.normal(0, 3, 27)})
    for c in ("noisy", *TEG_INDICATORS):
        df[c + "__seconds"] = 0.25
    return df


def cache(scores) -> ProxyCache:
    return ProxyCache(scores, higher_is_better={"noisy": True})


# ---- TEG-NAS REINFORCE --------------------------------------------------------------------------------------

def eq16_rewards(rows, window=None):
    """Eqs. 16-18 literally (window=None): r_t = sum_i sign_i (v_t - v_{t-1}) / (max_{s<=t} v_s - min_{s<=t} v_s),
    r_1 = 0; window=L: the released Buffer_Reward_Generator (last L values, + 1e-6)."""
    out = []
    for t in range(len(rows)):
        if t == 0:
            out.append(0.0)
            continue
        r = 0.0
        for i in TEG_INDICATORS:
            vals = [rows[s][i] for s in range(t + 1)]
            seen = vals if window is None else vals[-window:]
            hi, lo = max(seen), min(seen)
            if window is None:
                r += 0.0 if hi == lo else SIGN[i] * (vals[t] - vals[t - 1]) / (hi - lo)
            else:
                r += SIGN[i] * (vals[t] - vals[t - 1]) / (hi - lo + 1e-6)
        out.append(r)
    return out


def test_teg_buffer_running_range_is_eqs_16_to_18():
    g = np.random.default_rng(5)
    rows = [{"ntk_cond": float(g.uniform(1, 50)), "linear_regions": float(g.integers(100, 110)),
             "ntk_mse": float(g.uniform(0, 9))} for _ in range(60)]
    rows[7] = dict(rows[6])  # a repeat: no change
    buf = TegBuffer()  # the paper's: all steps so far
    assert [buf.insert(r) for r in rows] == pytest.approx(eq16_rewards(rows), rel=1e-12, abs=1e-12)
    win = TegBuffer(10)
    assert [win.insert(r) for r in rows] == pytest.approx(eq16_rewards(rows, 10), rel=1e-12, abs=1e-12)
    assert eq16_rewards(rows) != pytest.approx(eq16_rewards(rows, 10))  # the two readings differ
    flat = TegBuffer()
    assert [flat.insert({"ntk_cond": 2.0, "linear_regions": 3.0, "ntk_mse": 1.0}) for _ in range(3)] == [0, 0, 0]


def test_baseline_eq_15_starts_at_zero():
    b = MovingAverage(0.9)
    b.update(2.0)
    assert b.value() == pytest.approx(0.2)  # b_1 = 0.9 * 0 + 0.1 * 2
    b.update(-1.0)
    assert b.value() == pytest.approx(0.9 * 0.2 - 0.1)
    d = MovingAverage(0.9, debiased=True)  # the released code's ExponentialMovingAverage
    d.update(2.0)
    assert d.value() == pytest.approx(2.0)


def log_prob(theta, actions):
    """log sigma(theta)(a) of the factorised policy, written out."""
    total = 0.0
    for e, a in enumerate(actions):
        z = [math.exp(x) for x in theta[e]]
        total += math.log(z[a] / sum(z))
    return total


def slow_reinforce(scores: pd.DataFrame, seed: int, steps: int, lr: float, gamma: float, official: bool):
    """TEG-NAS Section 5.2.1 by hand on SPACE (official=False), or the released reinforce.py (torch
    autograd, torch.optim.Adam, bias-corrected EMA, window 10, rank-sum pick). The same numpy
    draws as the strategy (one uniform per edge, inverse CDF) so the two can be compared step by step."""
    import torch

    table = scores.set_index("arch")
    E, K = SPACE.num_edges, SPACE.num_ops
    gen = np.random.default_rng(seed)
    theta = (1e-3 * gen.standard_normal((E, K))).tolist()
    if official:
        param = torch.nn.Parameter(torch.tensor(theta, dtype=torch.float64))
        opt = torch.optim.Adam([param], lr=lr)
        num = den = 0.0
    b = 0.0
    rows, sampled = [], []
    for _ in range(steps):
        probs = [[math.exp(x) / sum(math.exp(y) for y in row) for x in row] for row in theta]
        u = gen.random(E)
        actions = []
        for e in range(E):
            c, k = 0.0, 0
            for k in range(K):
                c += probs[e][k]
                if c >= u[e]:
                    break
            actions.append(k)
        arch = SPACE.to_str(actions)
        sampled.append(arch)
        rows.append({i: float(table.loc[arch, i]) for i in TEG_INDICATORS})
        r = eq16_rewards(rows, 10 if official else None)[-1]
        if official:
            num, den = gamma * num + (1 - gamma) * r, gamma * den + (1 - gamma)
            adv = r - num / den
            logp = torch.log_softmax(param, dim=-1)[torch.arange(E), torch.tensor(actions)].sum()
            opt.zero_grad()
            (-logp * adv).backward()
            opt.step()
            theta = param.detach().tolist()
        else:
            b = gamma * b + (1 - gamma) * r  # Eq. 15
            h = 1e-6
            grad = [[0.0] * K for _ in range(E)]
            for e in range(E):  # Eq. 14's gradient by central differences
                for k in range(K):
                    up = [row[:] for row in theta]
                    dn = [row[:] for row in theta]
                    up[e][k] += h
                    dn[e][k] -= h
                    grad[e][k] = (-log_prob(up, actions) + log_prob(dn, actions)) * (r - b) / (2 * h)
            theta = [[theta[e][k] - lr * grad[e][k] for k in range(K)] for e in range(E)]  # Eq. 13
    if official:
        ranks = {i: [sorted([x[i] for x in rows], reverse=SIGN[i] > 0).index(x[i]) for x in rows]
                 for i in TEG_INDICATORS}
        best = min(range(len(rows)), key=lambda t: (sum(ranks[i][t] for i in TEG_INDICATORS), t))
        return sampled, sampled[best], theta
    mode = [max(range(K), key=lambda k: (theta[e][k], -k)) for e in range(E)]  # argmax sigma(theta)
    return sampled, SPACE.to_str(mode), theta


@pytest.mark.parametrize("official", [False, True])
def test_teg_reinforce_matches_a_slow_implementation(official, scores, oracle):
    params = dict(steps=60, lr=0.5, momentum=0.9)
    if official:
        params.update(buffer_size=10, baseline="ema_debiased", optimizer="adam", derive="rank_best")
    for seed in (0, 4):
        res = run_strategy("teg_reinforce", SPACE, oracle, cache(scores), seed=seed, **params)
        sampled, pick, theta = slow_reinforce(scores, seed, 60, 0.5, 0.9, official)
        seen = [t["arch"] for t in res.trace]  # each architecture is charged once: its first sample
        assert seen == list(dict.fromkeys(sampled)) and res.arch == pick
        assert res.n_trained == 0 and res.n_scored == len(set(sampled))
        ctx = SearchContext(SPACE, oracle, cache(scores), seed=seed)
        p = {k: v for k, v in get_strategy("teg_reinforce").resolve(params)[0].items() if k != "derive"}
        history, logits, _ = reinforce_policy(ctx, **p)
        assert history == sampled and np.allclose(logits, theta, rtol=0, atol=1e-7), np.abs(logits - theta).max()


def test_teg_reinforce_defaults_are_the_papers():
    spec = get_strategy("teg_reinforce")
    assert spec.defaults == {"steps": 500, "lr": 0.04, "momentum": 0.9, "buffer_size": None, "baseline": "ema",
                             "optimizer": "sgd", "derive": "policy"}
    for bad, msg in (({"optimizer": "adamw"}, "optimizer='adamw': allowed: sgd, adam"),
                     ({"baseline": "mean"}, "allowed: ema, ema_debiased"),
                     ({"derive": "best"}, "allowed: policy, rank_best"),
                     ({"buffer_size": 1}, "buffer_size=1: must be an integer >= 2")):
        with pytest.raises(ValueError, match=msg):
            spec.check_params(bad)
    spec.check_params({"buffer_size": 10, "optimizer": "adam", "baseline": "ema_debiased", "derive": "rank_best"})


# ---- NASWOT AREA (Algorithm 2) ---------------------------------------------------------------------------------

def slow_area(scores, truth, seed, P=4, S=3, cycles=15):
    """Algorithm 2 by hand: 2P distinct architectures, scored; the top P by score (best first,
    ties in draw order) trained as the initial population; then each cycle S members drawn
    without replacement, the most accurate mutated on one edge, the child trained, the oldest
    removed; the most accurate of the history."""
    rng = random.Random(seed)
    score = dict(zip(scores.arch, scores.noisy))
    acc12 = dict(zip(truth.arch, truth.valid12))
    codes = rng.sample(range(27), 2 * P)
    pool = [SPACE.decode(c) for c in codes]
    top = sorted(pool, key=lambda a: -score[a])[:P]
    population = collections.deque((a, acc12[a]) for a in top)
    history = list(population)
    for _ in range(cycles):
        sample = rng.sample(list(population), S)
        parent = max(sample, key=lambda m: m[1])  # first on ties (max keeps the first)
        acts = list(SPACE.actions(parent[0]))
        e = rng.randrange(3)
        acts[e] = (acts[e] + 1 + rng.randrange(2)) % 3
        child = SPACE.to_str(acts)
        population.popleft()
        population.append((child, acc12[child]))
        history.append((child, acc12[child]))
    return pool, top, history, max(history, key=lambda m: m[1])[0]


def test_area_is_algorithm_2(scores, truth, oracle):
    for seed in range(4):
        res = run_strategy("area", SPACE, oracle, cache(scores), seed=seed, population=4, proxy="noisy", cycles=15)
        pool, top, history, pick = slow_area(scores, truth, seed)
        assert len(set(pool)) == 8  # 2P distinct
        assert [t["arch"] for t in res.trace if t["event"] == "score"] == pool
        trained = [t["arch"] for t in res.trace if t["event"] == "train"]
        assert trained[:4] == top and trained == [a for a, _ in history] and res.arch == pick
        # search time = scoring of the 2P + the oracle's training times
        assert res.proxy_seconds == pytest.approx(8 * 0.25)
        assert res.train_seconds == pytest.approx(sum(100.0 + SPACE.encode(a) for a in trained))
    spec = get_strategy("area")
    assert spec.defaults["tournament"] == "without_replacement" and spec.default_repeats == 50
    assert (spec.defaults["population"], spec.defaults["max_seconds"]) == (10, 12000.0)
    with pytest.raises(ValueError, match="allowed: with_replacement, without_replacement"):
        spec.check_params({"tournament": "none"})
    with pytest.raises(ValueError, match="sample_size <= population"):
        run_strategy("area", SPACE, oracle, cache(scores), seed=0, population=2, sample_size=3, proxy="noisy", cycles=1)
    # NB201's REA tournament (with replacement) stays an option and draws differently
    a = run_strategy("area", SPACE, oracle, cache(scores), seed=1, population=4, proxy="noisy", cycles=15,
                     tournament="with_replacement")
    assert [t["arch"] for t in a.trace] != [t["arch"] for t in
                                            run_strategy("area", SPACE, oracle, cache(scores), seed=1, population=4,
                                                         proxy="noisy", cycles=15).trace]


# ---- NASWOT Table 2: Optimal (N), Random ------------------------------------------------------------------------

def test_optimal_is_the_best_of_n_per_column(scores, truth, oracle):
    runs = run_repeats("optimal", SPACE, oracle, None, repeats=20, seed=3, n=5)
    best = run_repeats("naswot", SPACE, oracle, cache(scores), repeats=20, seed=3, n=5, proxy="noisy")
    cols = {"synth__valid_acc": "valid", "synth__test_acc": "test", "synth2__valid_acc": "other",
            "synth2__test_acc": "valid"}
    for r, seed in enumerate(range(3, 23)):
        rng = random.Random(seed)
        drawn = [SPACE.decode(rng.randrange(27)) for _ in range(5)]  # NASWOT's draw, with replacement
        sub = truth.set_index("arch").loc[drawn]
        for col, src in cols.items():
            assert runs.loc[r, col] == sub[src].max()  # each column's own best
            assert runs.loc[r, col] >= best.loc[r, col]  # an upper bound of NASWOT with the same draws
        assert runs.loc[r, "arch"] == sub["valid"].idxmax()
    assert (runs["valid_acc"] == runs["synth__valid_acc"]).all() and (runs["test_acc"] == runs["synth__test_acc"]).all()
    assert (runs[["n_trained", "n_scored", "proxy_seconds", "train_seconds"]] == 0).all().all()
    s = summary_table(pd.concat([runs, run_repeats("random", SPACE, oracle, None, repeats=20, seed=3)]))
    assert s["method"].tolist() == ["Optimal (N=5)", "Random"] and not s["charged"].any()
    md = format_table(s)
    assert "| Optimal (N=5) | N/A |" in md and "| Random | N/A |" in md
    with pytest.raises(ValueError, match="no oracle"):
        run_strategy("optimal", SPACE, None, None, seed=0)


def test_paper_labels_of_the_table_2_rows(scores, oracle):
    rows = (("naswot_n10", "naswot", {"n": 10, "proxy": "noisy"}),
            ("area", "area", {"proxy": "noisy", "max_trained": 12}),
            ("rea", "rea", {"max_trained": 12}),
            ("rs", "random_search", {"max_trained": 5}),
            ("teg", "teg_reinforce", {"steps": 5}),
            ("optimal_n100", "optimal", {}))
    runs = [run_repeats(name, SPACE, oracle, cache(scores), repeats=2, seed=0, label=label, **params)
            for label, name, params in rows]
    s = summary_table(pd.concat(runs, ignore_index=True))
    assert s["method"].tolist() == ["NASWOT (N=10) [proxy=noisy]", "AREA [max_trained=12, proxy=noisy]",
                                    "REA [max_trained=12]", "RS [max_trained=5]", "REINFORCE + TEG [steps=5]",
                                    "Optimal (N=100)"]
    assert s["charged"].tolist() == [True] * 5 + [False]
    assert json.loads(runs[0]["params"].iloc[0]) == {"n": 10, "proxy": "noisy"}


def test_nb201_optimal_and_random_reproduce_table_2(shared_data):
    """On the NB201 export: NASWOT Table 2's 'Optimal (N=100)' and 'Random' test rows (500 runs)."""
    acc = pd.read_csv(shared_data / "nb201_accuracy.csv")
    oracle = TableOracle(acc, {
        "cifar10": {"valid_acc": "cifar10_valid_valid_acc_200ep", "test_acc": "cifar10_test_acc_200ep"},
        "cifar100": {"test_acc": "cifar100_test_acc_200ep"},
        "ImageNet16-120": {"test_acc": "imagenet16_120_test_acc_200ep"},
    }, arch_col="arch_str", dataset="cifar10")
    space = get_space("nb201")
    opt = run_repeats("optimal", space, oracle, None, repeats=500, seed=0, n=100)
    rnd = run_repeats("random", space, oracle, None, repeats=500, seed=0)
    paper = {"cifar10": (93.84, 0.23), "cifar100": (71.56, 0.78), "ImageNet16-120": (45.67, 0.64)}
    for ds, (mean, std) in paper.items():
        col = opt[f"{ds}__test_acc"]
        assert abs(col.mean() - mean) < 0.15 and abs(col.std() - std) < 0.15, (ds, col.mean(), col.std())
    assert abs(opt["cifar10__valid_acc"].mean() - 91.05) < 0.15
    for ds, mean in {"cifar10": 86.61, "cifar100": 60.83, "ImageNet16-120": 33.13}.items():
        assert abs(rnd[f"{ds}__test_acc"].mean() - mean) < 2.0  # 500 runs of std ~13: SE ~0.6


# ---- the shipped Table 2 config ----------------------------------------------------------------------------------

def test_naswot_nb201_config_is_table_2_and_plans_without_the_benchmark(tmp_path):
    cfg_path = ROOT / "config" / "naswot_nb201.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    runs = cfg["search"]["runs"]
    rows = {}
    for label, run in runs.items():
        spec = get_strategy(run["strategy"])
        params, _ = spec.check_params(run.get("params") or {})
        rows[spec.paper_label(run.get("params") or {})] = run.get("repeats", cfg["search"]["repeats"])
    assert rows == {"NASWOT (N=10)": 500, "NASWOT (N=100)": 500, "NASWOT (N=1000)": 500, "Random": 500,
                    "Optimal (N=10)": 500, "Optimal (N=100)": 500, "REA": 500, "RS": 500, "AREA": 50}
    assert cfg["search"]["dataset"] == "cifar10" and cfg["truth"]["benchmark"] == "nb201"
    res = snakemake("-n", "--cores", "4", "--configfile", str(cfg_path), "--directory", str(tmp_path))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    counts = job_counts(res.stdout)
    assert counts["search"] == len(runs) == 9 and counts["search_summary"] == 1 and counts["truth"] == 1, counts
    assert "WARNING (dry run only" in res.stderr
    res = snakemake("--cores", "1", "--configfile", str(cfg_path), "--directory", str(tmp_path))
    path = cfg["truth"]["path"]
    assert res.returncode != 0 and f"truth.path = '{path}': no such file or directory" in res.stdout + res.stderr
