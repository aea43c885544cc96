"""NATS-Bench SSS space (knas.spaces.nats_sss): strings and index order, the network against
xautodl's ``infer.shape.tiny``, parameter/FLOP counts against all 98,304 rows of the benchmark's
cost table, REA moves as NATS-Bench's code makes them."""
from __future__ import annotations

import itertools
import random

import pandas as pd
import pytest
import torch

from knas.nb201.flops import count_flops, count_params
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
