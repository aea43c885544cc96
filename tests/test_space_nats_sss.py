"""NATS-Bench SSS space (knas.spaces.nats_sss): strings and index order, the network against
xautodl's ``infer.shape.tiny``, parameter/FLOP counts against all 98,304 rows of the benchmark's
cost table, REA moves as NATS-Bench's code makes them."""
from __future__ import annotations

import itertools
import random

import pandas as pd
import pytest
import torch

from knas.spaces.flops import count_flops, count_params
from knas.spaces import get_space
from knas.spaces.nats_sss import CHANNELS, GENOTYPE

SPACE = get_space("nats_sss")
SHAPES = {"cifar10": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}


def test_strings_and_benchmark_index_order():
    archs = list(SPACE.all_archs())
    assert len(archs) == SPACE.size == 32768
    assert archs == [":".join(map(str, c)) for c in itertools.product(CHANNELS, repeat=5)]
    assert archs[0] == "8:8:8:8:8" and archs[-1] == "64:64:64:64:64"
    assert all(SPACE.index_of(a) == i for i, a in enumerate(archs[::97]) for i in [i * 97])
    assert SPACE.validate((8, 16, 24, 32, 40)) == "8:16:24:32:40"
    for bad, part in [("8:16:24:32", "4 part"), ("8:16:24:32:40:48", "6 part"), ("8:12:24:32:40", "layer 1 .*'12'"),
                      ("08:16:24:32:40", "layer 0 .*'08'"), ("8:16:24:32:72", "layer 4"), ("a:b:c:d:e", "layer 0")]:
        with pytest.raises(ValueError, match=part):
            SPACE.validate(bad)
    with pytest.raises(ValueError, match="nats_sss index 32768"):
        SPACE.arch_of(32768)
    assert not SPACE.is_degenerate("8:8:8:8:8")
    from knas.nb201 import parse
    from knas.spaces.nats_sss_model import CELL_EDGES

    assert [op for _, _, op in CELL_EDGES] == list(parse(GENOTYPE))


def test_cost_equals_the_benchmark_for_all_98304_rows(shared_data):
    df = pd.read_csv(shared_data / "nats_sss_cost.csv")
    assert len(df) == 98304
    params, flops = [], []
    for arch, ds in zip(df.arch_str, df.dataset):
        c = SPACE.cost(arch, *SHAPES[ds])
        params.append(c.params)
        flops.append(c.flops)
    assert [SPACE.index_of(a) for a in df.arch_str[::3]] == list(df.arch_index[::3])
    assert (pd.Series(params) / 1e6).round(6).tolist() == df.params_M.round(6).tolist()
    assert (pd.Series(flops) / 1e6).round(6).tolist() == df.flops_M.round(6).tolist()


@pytest.mark.parametrize("arch, ds", [("8:8:8:8:8", "cifar10"), ("8:16:40:32:64", "cifar100"),
                                      ("64:8:24:64:8", "ImageNet16-120"), ("40:40:16:16:56", "cifar10")])
def test_network_equals_xautodl_and_its_counts(arch, ds):
    xmodels = pytest.importorskip("xautodl.models")
    k, res = SHAPES[ds]
    torch.manual_seed(5)
    ref = xmodels.get_cell_based_tiny_net({"name": "infer.shape.tiny", "channels": arch, "genotype": GENOTYPE,
                                           "num_classes": k})
    net = SPACE.build_network(arch, num_classes=k, input_size=res, seed=5)
    sa, sb = ref.state_dict(), net.state_dict()
    assert list(sa) == list(sb)
    assert all(torch.equal(sa[n], sb[n]) for n in sa)
    assert [type(m).__name__ for m in ref.modules() if not list(m.children())] == [
        type(m).__name__ for m in net.modules() if not list(m.children())]
    x = torch.randn(3, 3, res, res, generator=torch.Generator().manual_seed(2))
    assert torch.equal(ref(x)[1], net(x))  # train mode: batch statistics
    assert all(torch.equal(sa[n], sb[n]) for n in sa)  # same running statistics after the pass
    ref.eval(), net.eval()
    assert torch.equal(ref(x)[1], net(x))
    cost = SPACE.cost(arch, k, res)
    assert (cost.params, cost.flops) == (count_params(net), count_flops(net, (1, 3, res, res)))


def test_rea_moves_are_the_benchmarks():
    rng = random.Random(3)
    ref = random.Random(3)
    arch = SPACE.sample(rng)
    assert arch == SPACE.arch_of(ref.randrange(32768))
    for _ in range(200):
        child = SPACE.mutate(arch, rng)
        parts = arch.split(":")  # NATS-Bench mutate_size_func
        index = ref.randint(0, 4)
        parts[index] = str(ref.choice(CHANNELS))
        assert child == ":".join(parts)
        arch = child
    assert SPACE.sample_n(5, 1) == SPACE.sample_n(5, 1) != SPACE.sample_n(5, 2)
    assert len(set(SPACE.sample_n(2000, 0))) == 2000


# ---- ground truth through nats_bench (knas.truth.nats_sss) --------------------------------------

def _write_archive(root, real):
    """An SSS fast-mode archive in the benchmark's format (the package's own classes), holding the
    real final-epoch values of nats_sss.csv; earlier epochs are made worse by 0.1 % per epoch."""
    import nats_bench as pkg
    from collections import OrderedDict

    root.mkdir()
    pkg.pickle_save({"meta_archs": list(SPACE.all_archs()), "total_archs": 32768, "arch2infos": None,
                     "evaluated_indexes": set()}, str(root / "meta.pickle"))
    for index, g in real.groupby("arch_index"):
        arch = g.arch_str.iloc[0]
        hp2 = OrderedDict()
        for hp, gh in g.groupby("hp_epochs"):
            info = pkg.ArchResults(index, arch)
            for (ds, seed), gs in gh.groupby(["dataset", "seed"]):
                v = dict(zip(gs.metric, gs.value))
                ep = int(hp)
                k = SHAPES["cifar10" if ds == "cifar10-valid" else ds][0]
                cost = SPACE.cost(arch, *SHAPES["cifar10" if ds == "cifar10-valid" else ds])
                config = {"name": "infer.shape.tiny", "channels": arch, "genotype": GENOTYPE, "num_classes": k}
                train = {e: v["train_acc_final"] - 0.1 * (ep - 1 - e) for e in range(ep)}
                losses = {e: 1.0 + 0.01 * (ep - 1 - e) for e in range(ep)}
                r = pkg.ResultsCount(ds, None, train, losses, cost.params_M, cost.flops_M, config, int(seed), ep,
                                     [v["latency_s"]])
                r.update_train_info(train, None, losses, {e: 2.0 + index for e in range(ep)})
                accs, ls, ts = {}, {}, {}
                for split in [m[: -len("_acc_final")] for m in v if m.endswith("_acc_final") and m != "train_acc_final"]:
                    for e in range(ep):
                        accs[f"{split}@{e}"] = v[f"{split}_acc_final"] - 0.1 * (ep - 1 - e)
                        ls[f"{split}@{e}"] = v[f"{split}_loss_final"]
                        ts[f"{split}@{e}"] = 0.5
                r.update_eval(accs, ls, ts)
                info.update(ds, int(seed), r)
            hp2[f"{int(hp):02d}"] = info.state_dict()
        pkg.pickle_save(hp2, str(root / f"{index:06d}.pickle"))
    return root


def test_truth_through_nats_bench_on_the_real_values(shared_data, tmp_path):
    from knas.truth.base import TruthError
    from knas.truth.nats_sss import NATSSizeTruth, NATSSizeTruthError

    df = pd.read_csv(shared_data / "nats_sss.csv")
    real = df[df.source.str.contains("fake_torch_dir")].copy()
    real["seed"] = real.seed.astype(int)
    root = _write_archive(tmp_path / "NATS-sss-tiny-simple", real)
    truth = NATSSizeTruth(root)  # fast mode, hp 90

    def want(arch, ds, hp, metric):
        sel = real[(real.arch_str == arch) & (real.dataset == ds) & (real.hp_epochs == hp) & (real.metric == metric)]
        assert len(sel) >= 1
        return sel.value.mean()  # over the seeds

    archs = sorted(set(real.arch_str))
    assert archs == ["8:8:40:32:40", "8:8:8:16:32", "8:8:8:8:8"]
    for arch in archs:
        for hp in (90, 12, 1):
            h = hp
            assert truth.final_accuracy(arch, "cifar10", "valid", h) == pytest.approx(
                want(arch, "cifar10-valid", hp, "x-valid_acc_final"))
            assert truth.final_accuracy(arch, "cifar10", "test", h) == pytest.approx(
                want(arch, "cifar10", hp, "ori-test_acc_final"))
            assert truth.final_accuracy(arch, "cifar10-valid", "test", h) == pytest.approx(
                want(arch, "cifar10-valid", hp, "ori-test_acc_final"))
            for ds in ("cifar100", "ImageNet16-120"):
                assert truth.final_accuracy(arch, ds, "valid", h) == pytest.approx(want(arch, ds, hp, "x-valid_acc_final"))
                assert truth.final_accuracy(arch, ds, "test", h) == pytest.approx(want(arch, ds, hp, "x-test_acc_final"))
                assert truth.final_accuracy(arch, ds, "train", h) == pytest.approx(want(arch, ds, hp, "train_acc_final"))
        q = truth.query(arch, "cifar100")
        assert q["valid_acc"] == truth.final_accuracy(arch, "cifar100", "valid")
        assert q["test_acc_12ep"] == pytest.approx(want(arch, "cifar100", 12, "x-test_acc_final"))
        index = SPACE.index_of(arch)
        assert q["train_seconds_90ep"] == truth.train_seconds(arch, "cifar100") == pytest.approx(90 * (2.0 + index))
        assert q["train_seconds_1ep"] == pytest.approx(2.0 + index)
        assert truth.accuracy_at(arch, 1, "ImageNet16-120", "test") == pytest.approx(
            want(arch, "ImageNet16-120", 90, "x-test_acc_final") - 8.9)
        assert truth.accuracy_at(arch, 1, "cifar10", "valid", epochs=1) == truth.final_accuracy(arch, "cifar10", epochs=1)
    # the params/flops the benchmark stored are ours
    for arch, ds, p, f in real[["arch_str", "dataset", "params_M", "flops_M"]].drop_duplicates().itertuples(index=False):
        c = SPACE.cost(arch, *SHAPES["cifar10" if ds == "cifar10-valid" else ds])
        assert (round(c.params_M, 6), round(c.flops_M, 6)) == (p, f)
    t12 = NATSSizeTruth(root, hp="12")
    assert t12.query(archs[0], "cifar10")["valid_acc"] == truth.query(archs[0], "cifar10")["valid_acc_12ep"]
    with pytest.raises(NATSSizeTruthError, match="no file 000001.pickle.pbz2"):
        truth.final_accuracy("8:8:8:8:16", "cifar10")
    with pytest.raises(NATSSizeTruthError, match="unknown dataset 'mnist'"):
        truth.final_accuracy("8:8:8:8:8", "mnist")
    with pytest.raises(NATSSizeTruthError, match="allowed: 90, 12, 01"):
        NATSSizeTruth(root, hp="200")
    with pytest.raises(NATSSizeTruthError, match="epochs 1..12"):
        truth.accuracy_at("8:8:8:8:8", 13, "cifar10", epochs=12)
    with pytest.raises(ValueError, match="layer 1"):
        truth.final_accuracy("8:9:8:8:8", "cifar10")
    with pytest.raises(TruthError, match="records schedules of 1, 12, 90 epochs"):
        truth.final_accuracy("8:8:8:8:8", "cifar10", epochs=200)
    with pytest.raises(NATSSizeTruthError, match="without meta.pickle.pbz2"):
        NATSSizeTruth(tmp_path)


def test_truth_backend_through_load_oracle(shared_data, tmp_path):
    from knas.truth import TruthError, check_benchmark_path, load_oracle, truth_table

    df = pd.read_csv(shared_data / "nats_sss.csv")
    real = df[df.source.str.contains("fake_torch_dir")].copy()
    root = _write_archive(tmp_path / "NATS-sss-v1_0-50262-simple", real)
    assert check_benchmark_path("nats_sss", root) == root
    with pytest.raises(TruthError, match="NATS-sss-v1_0-50262-simple"):
        check_benchmark_path("nats_sss", tmp_path)
    with pytest.raises(TruthError, match="holds nats_sss architectures, not space.name = 'nb101'"):
        load_oracle("nats_sss", root, space="nb101")
    oracle = load_oracle("nats_sss", root, hp="12")
    table = truth_table(oracle, ["8:8:8:8:8", "8:8:40:32:40"], "cifar10")
    assert list(table.arch_id) == [0, SPACE.index_of("8:8:40:32:40")]
    assert list(table.valid_acc) == list(table.valid_acc_12ep)
    # a table of the same numbers through the table backend
    t = tmp_path / "sss.csv"
    pd.DataFrame({"arch_str": table.arch, "cifar10_valid_valid_acc_90ep": table.valid_acc_90ep,
                  "cifar10_test_acc_12ep": table.test_acc_12ep}).to_csv(t, index=False)
    tab = load_oracle("table", t, space="nats_sss")
    assert tab.final_accuracy("8:8:8:8:8", "cifar10") == table.valid_acc_90ep[0]
    assert tab.final_accuracy("8:8:8:8:8", "cifar10", "test", epochs=12) == table.test_acc_12ep[0]
    with pytest.raises(ValueError, match="layer 1"):
        tab.query("8:9:8:8:8", "cifar10")
