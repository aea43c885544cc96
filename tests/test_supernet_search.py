"""Supernet searches (TEG-NAS Table 2): the NB201 supernet, TE-NAS pruning (+TEG), FP-NAS + TEG.

Synthetic spaces with indicator values that are known functions of the supernet's weights find
their known optimum; the pruning removes one op per edge per round; FP-NAS samples lambda * H
architectures per step; the same seed gives the same result; the supernet with a one-hot mask is
the single-path network. The torch parts run on tiny networks and inputs (a few seconds)."""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
import torch

from knas import nb201
from knas.nb201.supernet import build_supernet, load_single_path, one_hot
from knas.search import GridSpace, ProxyCache, get_space, get_strategy, run_strategy
from knas.search.fpnas import entropy, sample_count
from knas.search.prune import dense_rank_desc, prune_choices, relative_gains
from knas.search.supernet import SupernetIndicators, SupernetProtocol, mask_weights, relu_patterns

SIGN = {"ntk_cond": -1.0, "linear_regions": 1.0, "ntk_mse": -1.0}  # +1: higher is better


class FakeIndicators:
    """Indicators that are linear in the mixture weights: ``base - sign * sum_e,k W[e,k] q[t][e,k]``
    for lower-is-better ones, ``base + ...`` otherwise, so the op with the highest ``q`` on an
    edge is the one to keep; plus ``noise`` times a seeded normal draw per repeat."""

    def __init__(self, q: dict[str, np.ndarray], noise: float = 0.0, seconds: float = 0.25):
        self.q, self.noise, self.seconds = q, noise, seconds
        self.sleep = 0.0  # real seconds each measurement takes
        self.calls: list[tuple[int, int]] = []

    def measure(self, weights, names, seed, proto):
        self.calls.append((len(weights), seed))
        time.sleep(self.sleep)
        rng = np.random.default_rng(seed)
        out = []
        for w in weights:
            w = np.asarray(w, dtype=float)
            row = {}
            for n in names:
                good = float((w * self.q[n]).sum()) + self.noise * rng.standard_normal()
                row[n] = 100.0 + SIGN[n] * good
            out.append(row)
        return out, self.seconds * len(weights)


SPACE3 = GridSpace(3, ("a", "b", "c"))
Q3 = np.array([[0, 1, 2], [2, 0, 1], [1, 2, 0]], dtype=float)  # keep c on edge 0, a on edge 1, b on edge 2
OPT3 = "c|a|b"


def fake3(noise=0.0):
    return FakeIndicators({n: Q3 for n in SIGN}, noise=noise)


def test_registry_entries():
    for name in ("tenas", "tenas_teg"):
        spec = get_strategy(name)
        assert spec.supernet and not spec.trains
        assert spec.defaults["repeat"] == 3 and (spec.defaults["C"], spec.defaults["N"]) == (3, 1)
        assert spec.defaults["batch_size"] == 72 and spec.defaults["drop_none"] is False
    assert get_strategy("tenas").defaults["indicators"] == ["ntk_cond", "linear_regions"]
    assert get_strategy("tenas_teg").defaults["indicators"] == ["ntk_cond", "linear_regions", "ntk_mse"]
    fp = get_strategy("fpnas_teg")
    assert not fp.supernet and not fp.trains
    assert {k: fp.defaults[k] for k in ("lam", "lr", "steps")} == {"lam": 0.25, "lr": 0.1, "steps": 100}
    assert fp.defaults["buffer_size"] is None  # REINFORCE's reward, Eqs. 16-18 (range over all steps)
    # TEG-NAS Table 2's row labels
    assert [get_strategy(n).paper_label({}) for n in ("tenas", "tenas_teg", "fpnas_teg")] == [
        "TE-NAS", "TE-NAS + TEG", "FP-NAS + TEG"]
    assert get_strategy("tenas").paper_label({"C": 1, "repeat": 1}) == "TE-NAS [C=1, repeat=1]"


# ---- TE-NAS pruning ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tenas", "tenas_teg"])
def test_pruning_finds_the_known_optimum_one_op_per_edge_per_round(name):
    for seed in range(3):
        ev = fake3(noise=0.01)
        res = run_strategy(name, SPACE3, None, None, seed=seed, supernet=ev)
        assert res.arch == OPT3, (name, seed, res.arch)
        rounds = [t for t in res.trace if t["event"] == "prune"]
        assert len(rounds) == 2  # 3 ops -> 1: two rounds
        for r, t in enumerate(rounds):
            assert sorted(e for e, _ in t["pruned"]) == [0, 1, 2]  # exactly one op on every edge
            assert t["candidates"] == 3 * (3 - r)
        # round 1: the worst op of each edge goes first
        assert sorted(rounds[0]["pruned"]) == [[0, "a"], [1, "b"], [2, "c"]]
        # each round: 3 repeats of (current supernet + every candidate), charged
        assert [n for n, _ in ev.calls] == [10, 10, 10, 7, 7, 7]
        assert res.n_scored == 51 and math.isclose(res.proxy_seconds, 51 * 0.25)
        assert math.isclose(res.search_seconds, res.proxy_seconds + res.wall_seconds)


def test_measurement_time_is_charged_once():
    """The measurements' recorded seconds are the search's indicator time; their real time is
    not counted again as the strategy's own wall time."""
    run_strategy("tenas", SPACE3, None, None, seed=0, supernet=fake3(), repeat=1)  # warm-up
    ev = fake3()
    ev.sleep = 0.5
    res = run_strategy("tenas", SPACE3, None, None, seed=0, supernet=ev, repeat=1)
    assert len(ev.calls) == 2 and res.proxy_seconds == 0.25 * (10 + 7)
    assert res.wall_seconds < 0.8 and math.isclose(res.search_seconds, res.proxy_seconds + res.wall_seconds)


def test_pruning_until_one_op_left_on_nb201_edges():
    """Every edge of the 6 x 5 NB201 grid loses exactly one op per round: 4 rounds (3 with drop_none)."""
    q = np.tile(np.arange(5, dtype=float), (6, 1))
    for drop_none, n_rounds in ((False, 4), (True, 3)):
        ev = FakeIndicators({n: q for n in SIGN})
        res = run_strategy("tenas", get_space("nb201"), None, None, seed=0, supernet=ev, drop_none=drop_none, repeat=1)
        rounds = [t for t in res.trace if t["event"] == "prune"]
        assert len(rounds) == n_rounds
        left = 5 - drop_none
        for t in rounds:
            assert sorted(e for e, _ in t["pruned"]) == list(range(6))
            assert t["candidates"] == 6 * left
            left -= 1
        assert res.arch == nb201.to_str(["avg_pool_3x3"] * 6)
        if drop_none:
            assert all(op != "none" for t in rounds for _, op in t["pruned"])


def test_teg_indicator_changes_the_pruning():
    """One edge, ops a b c: NTK prefers b, regions c, MSE c. TE-NAS ties in round 2 and the
    better NTK rank wins (b); the MSE rank breaks the tie for c."""
    space = GridSpace(1, ("a", "b", "c"))
    q = {"ntk_cond": np.array([[0, 2, 1.0]]), "linear_regions": np.array([[0, 1, 2.0]]),
         "ntk_mse": np.array([[0, 0, 2.0]])}
    assert run_strategy("tenas", space, None, None, seed=0, supernet=FakeIndicators(q)).arch == "b"
    assert run_strategy("tenas_teg", space, None, None, seed=0, supernet=FakeIndicators(q)).arch == "c"
    res = run_strategy("tenas", space, None, None, seed=0, supernet=FakeIndicators(q),
                       indicators=["ntk_mse", "linear_regions"])
    assert res.arch == "c"


def test_ranking_helpers():
    assert dense_rank_desc(np.array([0.5, 0.1, 0.5, -np.inf, 0.2])).tolist() == [0, 2, 0, 3, 1]
    g = relative_gains("ntk_cond", 10.0, [5.0, 20.0, float("nan"), -1.0])
    assert g.tolist() == [0.5, -1.0, -math.inf, -math.inf]
    assert relative_gains("linear_regions", 10.0, [15.0, 5.0]).tolist() == [0.5, -0.5]
    assert relative_gains("ntk_mse", -1.0, [2.0, 3.0]).tolist() == [-2.0, -3.0]  # bad origin: raw values
    cands = [(0, 0), (0, 1), (1, 0), (1, 2)]
    gains = {"x": np.array([3.0, 2.0, 1.0, 1.0]), "y": np.array([0.0, 1.0, 1.0, 0.0])}
    # ranks x: 0 1 2 2, y: 1 0 0 1 -> sums 1 1 2 3; edge 0 tie -> x rank; edge 1 -> (1, 0)
    assert prune_choices(cands, gains, ["x", "y"]) == [(0, 0), (1, 0)]
    assert prune_choices(cands, gains, ["y", "x"]) == [(0, 1), (1, 0)]


def test_pruning_same_seed_same_result_and_the_seed_matters():
    def run(seed):
        ev = fake3(noise=0.2)
        res = run_strategy("tenas_teg", SPACE3, None, None, seed=seed, supernet=ev)
        return res.arch, [t for t in res.trace if t["event"] == "prune"], ev.calls

    assert run(5) == run(5)
    assert len({str(run(s)[2]) for s in range(3)}) == 3  # each run draws its own repeat seeds


def test_pruning_parameter_errors():
    ev = fake3()
    with pytest.raises(ValueError, match="indicators"):
        run_strategy("tenas", SPACE3, None, None, seed=0, supernet=ev, indicators=["naswot"])
    with pytest.raises(ValueError, match="init"):
        run_strategy("tenas", SPACE3, None, None, seed=0, supernet=ev, init="xavier")
    with pytest.raises(ValueError, match="drop_none"):
        run_strategy("tenas", SPACE3, None, None, seed=0, supernet=ev, drop_none=True)
    with pytest.raises(ValueError, match="--data"):
        run_strategy("tenas", SPACE3, None, None, seed=0)
    with pytest.raises(ValueError, match="no supernet"):
        SupernetIndicators(SPACE3, data=None)
    with pytest.raises(ValueError, match="space 'nb101' has no supernet"):
        get_space("nb101").build_supernet(num_classes=10)


@pytest.mark.parametrize("strategy, params, match", [
    ("tenas", {"init": "xavier"}, r"tenas.params: parameter init='xavier': allowed: default, kaiming_normal"),
    ("tenas", {"indicators": ["naswot"]}, r"tenas.params: parameter indicators=\['naswot'\]: distinct names from"),
    ("tenas", {"drop_none": 1}, r"tenas.params: parameter drop_none=1: must be true or false"),
    ("tenas", {"precision": -1}, r"tenas.params: parameter precision=-1: must be an integer >= 0"),
    ("tenas_teg", {"lr_samples": 0}, r"tenas_teg.params: parameter lr_samples=0: must be an integer >= 1"),
    ("tenas_teg", {"repeats": 3}, r"tenas_teg.params: strategy 'tenas_teg': unknown parameter\(s\) \['repeats'\]"),
    ("fpnas_teg", {"lam": 0}, r"fpnas_teg.params: parameter lam=0: must be a number > 0"),
    ("fpnas_teg", {"patience": 0.5}, r"fpnas_teg.params: parameter patience=0.5: must be an integer >= 1"),
])
def test_bad_parameters_stop_at_parse_time(strategy, params, match):
    """The config check runs the registry's check_params (and the pruning's own check)."""
    from knas.config import ConfigError, check_config

    def config(p):
        return {"scoring": {"proxies": ["ntk_cond"]}, "select": {"proxy": "ntk_cond"},
                "search": {"runs": {strategy: {"strategy": strategy, "params": p}}}}

    with pytest.raises(ConfigError, match="config key search.runs." + match):
        check_config(config(params))
    ok = {"tenas": {"precision": 0, "drop_none": True, "C": 1}, "tenas_teg": {"lr_samples": 50},
          "fpnas_teg": {"lam": 3.0}}[strategy]
    check_config(config(ok))


# ---- FP-NAS + TEG -----------------------------------------------------------------------------------

def synthetic_cache(space: GridSpace, target: str) -> ProxyCache:
    """TEG indicators that all improve with the number of edges agreeing with ``target``."""
    archs = space.all_archs()
    t = space.actions(target)
    weight = [10.0, 4.0, 1.5, 1.0, 1.0, 1.0][: len(t)]
    good = np.array([sum(w * (a == b) for w, a, b in zip(weight, space.actions(x), t)) for x in archs])
    df = pd.DataFrame({"arch": archs, "ntk_cond": 2000 - good, "linear_regions": 10 * good, "ntk_mse": 2000 - good})
    for c in SIGN:
        df[c + "__seconds"] = 0.5
    return ProxyCache(df)


def test_fpnas_finds_the_known_optimum():
    cache = synthetic_cache(SPACE3, OPT3)
    for seed in range(3):
        res = run_strategy("fpnas_teg", SPACE3, None, cache, seed=seed, lam=3.0)
        assert res.arch == OPT3, (seed, res.arch)
        assert res.n_trained == 0 and res.proxy_seconds == 0.5 * 3 * res.n_scored


def test_fpnas_samples_lambda_times_entropy_and_stops_when_entropy_stops_decreasing():
    space = get_space("nb201")
    archs = [space.decode(c) for c in range(space.size)]
    rng = np.random.default_rng(0)
    vals = rng.standard_normal(len(archs))
    df = pd.DataFrame({"arch": archs, "ntk_cond": 10 + vals, "linear_regions": 100 - vals, "ntk_mse": 5 + vals})
    cache = ProxyCache(df)
    for lam in (0.25, 1.0):
        res = run_strategy("fpnas_teg", space, None, cache, seed=1, lam=lam, steps=30)
        steps = [t for t in res.trace if t["event"] == "fpnas_step"]
        assert steps[0]["entropy"] == pytest.approx(6 * math.log(5))
        assert steps[0]["samples"] == math.ceil(lam * 6 * math.log(5))  # 3 at lambda 0.25
        scored = [t for t in res.trace if t["event"] == "score"]
        assert len(scored) == len({t["arch"] for t in scored}) <= sum(t["samples"] for t in steps)
        for t in steps:
            assert t["samples"] == max(1, math.ceil(lam * t["entropy"]))
        for a, b in zip(steps, steps[1:]):
            assert b["entropy"] == pytest.approx(a["entropy_after"])
        lowest = [min([steps[0]["entropy"]] + [t["entropy_after"] for t in steps[: i + 1]]) for i in range(len(steps))]
        if len(steps) < 30:  # stopped early: the last 10 steps set no new low
            assert all(t["entropy_after"] >= lowest[-11] for t in steps[-10:])
    assert sample_count(0.25, 9.6566) == 3 and sample_count(0.25, 0.01) == 1
    assert entropy(np.full((6, 5), 0.2)) == pytest.approx(6 * math.log(5))


def test_fpnas_same_seed_same_result():
    cache = synthetic_cache(SPACE3, OPT3)
    a = run_strategy("fpnas_teg", SPACE3, None, cache, seed=3, lam=3.0, steps=20)
    b = run_strategy("fpnas_teg", SPACE3, None, cache, seed=3, lam=3.0, steps=20)
    assert (a.arch, a.trace, a.n_scored) == (b.arch, b.trace, b.n_scored)
    others = [run_strategy("fpnas_teg", SPACE3, None, cache, seed=s, lam=3.0, steps=20) for s in range(4)]
    assert len({str([t["arch"] for t in r.trace if t["event"] == "score"]) for r in others}) > 1


# ---- the NB201 supernet -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_one_hot_supernet_equals_the_single_path_network(seed):
    arch = nb201.sample(1, seed, unique=False)[0]
    net = nb201.build_network(arch, C=4, N=1, num_classes=5, seed=seed)
    sn = load_single_path(build_supernet(4, 1, num_classes=5, seed=100 + seed), net)
    assert torch.equal(sn.arch_weights, one_hot(arch))
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(net(x), sn(x))  # train mode, batch statistics
    net.eval(), sn.eval()
    assert torch.equal(net(x), sn(x))


def test_supernet_mixture_and_errors():
    sn = build_supernet(2, 1, num_classes=3, seed=0)
    assert torch.allclose(sn.arch_weights, torch.full((6, 5), 0.2))
    n_cells = sum(1 for m in sn.modules() if m.__class__.__name__ == "SearchCell")
    assert n_cells == 3 and len(sn.cells[0].edges) == 6 and len(sn.cells[0].edges[0]) == 5
    x = torch.randn(4, 3, 6, 6)
    full = sn(x)
    # a pruned op does not run: its parameters get no gradient
    mask = torch.ones(6, 5)
    mask[:, 3] = 0
    sn.set_weights(mask_weights(mask.numpy()))
    sn(x).sum().backward()
    assert all(sn.cells[0].edges[e][3].op[1].weight.grad is None for e in range(6))
    assert sn.cells[0].edges[0][2].op[1].weight.grad is not None
    assert not torch.equal(sn(x), full)
    with pytest.raises(ValueError, match="at least one"):
        sn.set_weights(torch.zeros(6, 5))
    with pytest.raises(ValueError, match="shape"):
        sn.set_weights(torch.ones(5, 5))
    thin = build_supernet(1, 1, num_classes=3, stem=False, depth=1, seed=0)
    assert len(thin.cells) == 1 and thin.stem is None
    codes = relu_patterns(thin.train(), torch.randn(50, 1, 3, 3))
    assert codes.dtype == torch.bool and codes.shape[0] == 50
    assert np.allclose(mask_weights(np.array([[1, 0, 1], [0, 1, 0]])), [[0.5, 0, 0.5], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"rows \[1\] are empty"):
        mask_weights(np.array([[1, 0], [0, 0]]))
    with pytest.raises(ValueError, match="0/1 matrix"):
        mask_weights(np.array([[0.5, 1]]))


def test_supernet_indicators_on_a_tiny_nb201_supernet():
    """The torch indicators: one repeat of a full supernet and one with conv3x3 removed, tiny C."""
    from knas.data import PreparedData

    g = torch.Generator().manual_seed(0)
    splits = {s: (torch.randint(0, 256, (40, 3, 6, 6), dtype=torch.uint8, generator=g),
                  torch.randint(0, 4, (40,), generator=g)) for s in ("train", "valid", "test")}
    data = PreparedData("tiny", 4, (0.5,) * 3, (0.25,) * 3, 0, False, 0, "seeded", splits)
    ev = SupernetIndicators(get_space("nb201"), data, "cpu")
    proto = SupernetProtocol(C=2, N=1, batch_size=6, val_batch_size=6, lr_samples=50, lr_batches=2)
    full = np.ones((6, 5))
    pruned = full.copy()
    pruned[:, 3] = 0
    names = ["ntk_cond", "linear_regions", "ntk_mse"]
    values, seconds = ev.measure([mask_weights(full), mask_weights(pruned)], names, 7, proto)
    (again,), _ = ev.measure([mask_weights(pruned)], ["linear_regions", "ntk_cond"], 7, proto)
    assert again == {n: values[1][n] for n in ("linear_regions", "ntk_cond")} and seconds > 0
    assert all(math.isfinite(v[n]) for v in values for n in names)
    assert values[0] != values[1] and 1 <= values[0]["linear_regions"] <= 100
    # a single path measures like the registered proxies on the single-path network with the same weights
    from knas import proxies as P
    from knas.data import sample_batch

    arch = nb201.to_str(["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "none"])
    (v_single,), _ = ev.measure([mask_weights(one_hot(arch).numpy())], ["ntk_cond"], 3, proto)
    torch.manual_seed(3)
    sn = P.initialise(get_space("nb201").build_supernet(num_classes=4, C=2, N=1), "kaiming_normal")
    net = nb201.build_network(arch, C=2, N=1, num_classes=4)
    own = sn.state_dict()
    for k in net.state_dict():  # the single path's tensors are the supernet's chosen ops
        parts = k.split(".")
        if parts[0] == "cells" and parts[2] == "layers":
            op = nb201.parse(arch)[int(parts[3])]
            src = ".".join(["cells", parts[1], "edges", parts[3], str(nb201.OPS.index(op))] + parts[4:])
        else:
            src = k
        net.state_dict()[k].copy_(own[src])
    x, y = sample_batch(data, "train", 6, 3)
    ref = P.compute("ntk_cond", net, P.ProxyBatch(x, y, 4), batches=1).value
    assert v_single["ntk_cond"] == pytest.approx(ref, rel=1e-4)


# ---- found architectures trained when there is no benchmark -------------------------------------------

def test_training_oracle_trains_a_found_architecture_once(tmp_path, monkeypatch):
    """``truth.benchmark: train``: the found architecture is trained with the given TrainConfig
    fields into <out>/<index>/, and read back (not retrained) by the next run."""
    import json

    import knas.train
    from knas.data import prepare
    from knas.search.train_oracle import training_oracle

    data = prepare("digits", None, tmp_path / "digits.npz", seed=0)
    space = get_space("nb201")
    recipe = json.dumps({"epochs": 1, "batch_size": 256, "C": 1, "N": 1, "device": "cpu", "seed": 0})
    arch = space.arch_of(123)
    oracle = training_oracle(space, str(data), str(tmp_path / "train"), recipe, "digits")
    rec = oracle.fidelity(arch)
    assert 0 <= rec["test_acc"] <= 100 and 0 <= rec["valid_acc"] <= 100
    assert (tmp_path / "train" / "123" / "history.json").exists()

    def no_training(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(knas.train, "train_architecture", no_training)
    again = training_oracle(space, str(data), str(tmp_path / "train"), recipe, "digits")
    assert again.fidelity(arch) == rec
    with pytest.raises(ValueError, match="expected a JSON object of knas.train_config.TrainConfig"):
        training_oracle(space, str(data), str(tmp_path), '{"epochs": 0}', "digits")
    with pytest.raises(ValueError, match="needs the prepared dataset"):
        training_oracle(space, None, str(tmp_path), recipe, "digits")
    with pytest.raises(ValueError, match="trains space 'nb201' networks, but the search is on 'nb101'"):
        training_oracle(get_space("nb101"), str(data), str(tmp_path), recipe, "digits")
