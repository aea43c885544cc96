"""Every registered proxy on every space's network (small widths), and the batched MGM / knas_code
passes equal to the official per-example loop on the NATS-SSS and NB101 networks (BN in train
mode: the batched pass normalises per example, as one-example batches do)."""
from __future__ import annotations

import math

import pytest
import torch

from knas import proxies as P
from knas.spaces import get_space

pytest.importorskip("xautodl")  # the proxy modules' own test dependencies
from reference.official_knas import official_knas_code, official_mgm  # noqa: E402

CASES = {  # space -> (arch, network options)
    "nb201": ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
              {"C": 4, "N": 1}),
    "nats_sss": ("8:16:24:8:16", {}),
    "nb101": ("100010101001000101101:maxpool3x3,maxpool3x3,maxpool3x3,conv3x3-bn-relu,conv3x3-bn-relu",
              {"stem_channels": 8, "cells_per_stack": 1}),
}
NEEDS_NB201 = {"linear_regions"}  # TE-NAS's thin-network protocol is defined on NB201 cells


def _batch(dtype=torch.float32):
    """A batch with two more independent ones (TEG's indicators average 3, option ``batches``)."""
    g = torch.Generator().manual_seed(0)

    def one():
        x = torch.randn(64, 3, 16, 16, generator=g, dtype=dtype)
        y = torch.randint(0, 10, (64,), generator=g)
        return P.ProxyBatch(x, y, 10, torch.randn(64, 3, 16, 16, generator=g, dtype=dtype),
                            torch.randint(0, 10, (64,), generator=g))

    first = one()
    first.more = (one(), one())
    return first


@pytest.mark.parametrize("space", list(CASES))
def test_every_proxy_runs_on_every_space(space):
    arch, opts = CASES[space]
    s = get_space(space)
    assert s.validate(arch) == arch
    batch = _batch()
    for name in P.names():
        net = s.build_network(arch, num_classes=10, input_size=16, seed=0, **opts)
        ctx = P.Context(net, batch, seed=0)
        if space != "nb201" and name in NEEDS_NB201:
            with pytest.raises(ValueError, match="protocol='full'"):
                P.compute(name, net, batch, ctx)
            res = P.compute(name, net, batch, ctx, protocol="full")
        else:
            res = P.compute(name, net, batch, ctx)
        assert math.isfinite(res.value) or res.flag is not None, (space, name, res)


@pytest.mark.parametrize("space", ["nats_sss", "nb101"])
def test_batched_mgm_and_knas_code_equal_the_per_example_loop(space):
    arch, opts = CASES[space]
    net = get_space(space).build_network(arch, num_classes=10, input_size=16, seed=1, **opts).double()
    batch = _batch(torch.float64)
    for name, ref in (("mgm", official_mgm), ("knas_code", official_knas_code)):
        ours = P.compute(name, net, batch, P.Context(net, batch, seed=0)).value
        assert ours == pytest.approx(ref(net, batch.x, batch.y), rel=1e-10), name


@pytest.mark.parametrize("space", list(CASES))
def test_scoring_stage_builds_the_configured_space(space):
    """knas.scoring builds each architecture through knas.spaces (for nb201: the same networks,
    hence the same scores, as knas.nb201.build_network)."""
    import torch as th

    from knas.data.prepared import PreparedData
    from knas.scoring import ScoringConfig, score_architectures

    g = th.Generator().manual_seed(0)
    split = lambda n: (th.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=th.uint8),  # noqa: E731
                       th.randint(0, 10, (n,), generator=g))
    data = PreparedData("synth", 10, (0.5,) * 3, (0.25,) * 3, 0, False, 0, "test",
                        {"train": split(64), "valid": split(64), "test": split(16)})
    arch, opts = CASES[space]
    cfg = ScoringConfig(batch_size=64, device="cpu", space=space, space_options={} if space == "nb201" else opts,
                        **({"C": 4, "N": 1} if space == "nb201" else {}))
    table = score_architectures([arch], ["naswot", "synflow", "params"], data, cfg, progress=False)
    s = get_space(space)
    assert table.arch_id.tolist() == [s.index_of(arch)]
    assert table.params.tolist() == [s.cost(arch, **opts).params]
    if space == "nb201":  # bit for bit what the stage computed before spaces (knas.nb201 directly)
        import knas.nb201 as nb
        from knas.scoring import make_batch

        net = nb.build_network(arch, C=4, N=1, num_classes=10, seed=0)
        batch = make_batch(data, cfg, th.device("cpu"), need_val=False)
        ctx = P.Context(net, batch, seed=0, planned=["naswot", "synflow", "params"])
        for name in ("naswot", "synflow", "params"):
            assert table[name].tolist() == [P.compute(name, net, batch, ctx).value], name


@pytest.mark.parametrize("space", ["nats_sss", "nb101"])
def test_training_stage_on_the_space_and_its_truth(space, tmp_path):
    """knas.train trains the space's network (digits, 1 epoch); the history names the space and
    the 'train' ground truth of that space reads it."""
    from knas.data import prepare
    from knas.train import TrainConfig, train_architecture
    from knas.truth import TruthError, load_oracle

    data = prepare("digits", None, tmp_path / "digits.npz", seed=0)
    arch, opts = CASES[space]
    cfg = TrainConfig(epochs=1, batch_size=256, device="cpu", seed=0, space=space, space_options=opts)
    h = train_architecture(arch, data, tmp_path / "run", cfg, progress=False)
    assert h["finished"] and h["space"] == space and h["config"]["space"] == space
    assert h["params"] == get_space(space).cost(arch, **opts).params
    oracle = load_oracle("train", tmp_path / "run", space=space)
    assert oracle.query(arch, "digits")["valid_acc"] == h["final"]["valid_acc"]
    with pytest.raises(TruthError, match=f"is a run of space '{space}', not 'nb201'"):
        load_oracle("train", tmp_path / "run")
    with pytest.raises(ValueError, match="TrainConfig.space = 'nb301' is invalid; allowed: nb201, nats_sss, nb101"):
        TrainConfig(space="nb301")


class _SyntheticOracle:
    """A ground truth of a whole space computed from the architecture (more parameters = better),
    with training times: an Oracle of knas.truth for the search strategies."""

    @staticmethod
    def make(space_name, full):
        from knas.truth.base import Oracle

        space = get_space(space_name)
        opts = {"nb101": {"stem_channels": 8, "cells_per_stack": 1}}.get(space_name, {})

        class Synthetic(Oracle):
            kind = "synthetic"
            datasets = ("cifar10",)
            dataset = "cifar10"
            keys = ("valid_acc", "test_acc", f"train_seconds_{full}ep", "valid_acc_12ep", "test_acc_12ep",
                    "train_seconds_12ep")
            fidelities = {full: ("valid_acc", "test_acc", f"train_seconds_{full}ep"),
                          12: ("valid_acc_12ep", "test_acc_12ep", "train_seconds_12ep")}

            def _lookup(self, arch, dataset):
                p = space.cost(arch, **opts).params
                acc = 100 * p / (p + 1e5)
                return {"valid_acc": acc, "test_acc": acc - 0.5, f"train_seconds_{full}ep": 100.0,
                        "valid_acc_12ep": acc - 10, "test_acc_12ep": acc - 11, "train_seconds_12ep": 12.0}

        Synthetic.space = space_name
        return Synthetic(None)


@pytest.mark.parametrize("space_name, full", [("nats_sss", 90), ("nb101", 108)])
def test_search_strategies_on_the_new_spaces(space_name, full):
    import pandas as pd

    from knas.search import ProxyCache, run_repeats, summary_table

    space = get_space(space_name)
    oracle = _SyntheticOracle.make(space_name, full)
    opts = {"nb101": {"stem_channels": 8, "cells_per_stack": 1}}.get(space_name, {})
    cache = ProxyCache(compute=lambda arch, names: {"params": float(space.cost(arch, **opts).params),
                                                    "params__seconds": 0.01})
    runs = pd.concat([
        run_repeats("naswot", space, oracle, cache, repeats=5, seed=0, n=20, proxy="params"),
        run_repeats("random", space, oracle, cache, repeats=5, seed=0),
        run_repeats("rea", space, oracle, cache, repeats=2, seed=0, epochs=12, max_trained=40),
        run_repeats("area", space, oracle, cache, repeats=2, seed=0, epochs=full, proxy="params", max_trained=40),
    ], ignore_index=True)
    assert all(space.validate(a) == a for a in runs.arch)
    assert runs.arch_index.tolist() == [space.index_of(a) for a in runs.arch]
    s = summary_table(runs).set_index("strategy")
    assert s.loc["naswot(n=20,proxy=params)", "cifar10__test_mean"] > s.loc["random", "cifar10__test_mean"]
    with pytest.raises(ValueError, match="records schedules of 12, %d epochs" % full):
        run_repeats("rea", space, oracle, cache, repeats=1, seed=0, epochs=200, max_trained=3)
    with pytest.raises(ValueError, match="not an edges x ops cell"):
        run_repeats("teg_reinforce", space, oracle, cache, repeats=1, seed=0)
