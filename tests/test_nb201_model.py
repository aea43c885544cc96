"""Tests of the NB201 network (knas.nb201.model) against xautodl's, and of the cost counts
(knas.nb201.flops) against the benchmark's numbers."""
from __future__ import annotations

import csv
import importlib.util
import math
import pathlib

import numpy as np
import pytest
import torch
import torch.nn as nn

from knas.nb201 import (
    FLOP_CONVENTIONS,
    INIT_SCHEMES,
    NB201Config,
    TinyNetwork,
    build_network,
    count_flops,
    count_params,
    init_network,
    nb201_cost,
)

xmodels = pytest.importorskip("xautodl.models")

ALL = {op: f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|" for op in
       ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")}
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DISCONNECTED = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
MIXED = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"
DATASETS = {"cifar10-valid": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}


def xautodl_net(arch, C, N, num_classes, seed):
    torch.manual_seed(seed)
    return xmodels.get_cell_based_tiny_net(
        {"name": "infer.tiny", "C": C, "N": N, "arch_str": arch, "num_classes": num_classes}
    )


def assert_same_state(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.mark.parametrize(
    "arch, C, N, k, res",
    [
        (BEST_C10, 16, 5, 10, 32),
        (DISCONNECTED, 16, 5, 100, 32),
        (ALL["skip_connect"], 8, 2, 10, 16),
        (ALL["none"], 4, 1, 5, 16),
        (ALL["avg_pool_3x3"], 4, 2, 10, 16),
        (ALL["nor_conv_1x1"], 6, 1, 120, 16),
        (MIXED, 8, 1, 10, 8),
    ],
)
def test_equal_to_xautodl(arch, C, N, k, res):
    ref = xautodl_net(arch, C, N, k, seed=7)
    net = build_network(arch, C=C, N=N, num_classes=k, seed=7)
    assert_same_state(ref, net)
    # same parameter names, order and shapes (KNAS / TEG depend on them)
    assert [(n, p.shape) for n, p in ref.named_parameters()] == [(n, p.shape) for n, p in net.named_parameters()]
    assert [type(m).__name__ for m in ref.modules() if not list(m.children())] == [
        type(m).__name__ for m in net.modules() if not list(m.children())
    ]
    # train-mode forward: same logits, same updated BN statistics, same gradients
    x = torch.randn(4, 3, res, res, generator=torch.Generator().manual_seed(1))
    feats, ref_logits = ref(x)
    logits = net(x)
    assert logits.shape == (4, k)
    assert torch.equal(ref_logits, logits)
    assert_same_state(ref, net)
    ref_logits.pow(2).sum().backward()
    logits.pow(2).sum().backward()
    for (n, p), (_, q) in zip(ref.named_parameters(), net.named_parameters()):
        assert (p.grad is None) == (q.grad is None), n
        if p.grad is not None:
            assert torch.equal(p.grad, q.grad), n
    # eval mode too
    ref.eval(), net.eval()
    assert torch.equal(ref(x)[1], net(x))


def test_none_op_keeps_graph_and_disconnected_output():
    net = build_network(DISCONNECTED, C=4, N=1, seed=0)
    x = torch.randn(3, 3, 16, 16)
    logits = net(x)
    # disconnected: train-mode logits are the classifier bias for every input
    assert torch.allclose(logits, net.classifier.bias.expand(3, -1), atol=0, rtol=0)
    logits.sum().backward()
    stem_grad = net.stem[0].weight.grad
    assert stem_grad is not None and torch.count_nonzero(stem_grad) == 0  # zero, not None
    cell_conv = net.cells[0].layers[0].op[1].weight  # upstream of the dead node 3
    assert cell_conv.grad is not None and torch.count_nonzero(cell_conv.grad) == 0
    assert torch.count_nonzero(net.classifier.bias.grad) > 0


def test_config_and_errors():
    assert NB201Config() == NB201Config(C=16, N=5, num_classes=10)
    net = TinyNetwork(BEST_C10, C=4, N=1, num_classes=3)
    assert net.config == NB201Config(4, 1, 3) and net.arch == BEST_C10
    assert len(net.cells) == 3 * 1 + 2
    with pytest.raises(ValueError, match="unknown op 'conv'"):
        TinyNetwork("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", C=4, N=1)
    for kw in ({"C": 0}, {"N": -1}, {"num_classes": 2.5}):
        with pytest.raises(ValueError, match="positive integer"):
            TinyNetwork(BEST_C10, **kw)
    with pytest.raises(ValueError, match="allowed: default, kaiming_normal, kaiming_normal_fanout"):
        init_network(net, "xavier", seed=0)


def test_params_equal_benchmark_every_row(shared_data):
    with open(shared_data / "nb201_params_flops.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2174 and {r["dataset"] for r in rows} == set(DATASETS)
    for r in rows:
        k, res = DATASETS[r["dataset"]]
        params, flops = nb201_cost(r["arch_str"], num_classes=k, resolution=res)
        assert f"{params / 1e6:.6f}" == f"{float(r['params_M']):.6f}", r
        # the table's flops_M come from NASLib's tensorwatch/torchstat counter
        _, ts_flops = nb201_cost(r["arch_str"], num_classes=k, resolution=res, convention="torchstat")
        assert abs(ts_flops / 1e6 - float(r["flops_M"])) <= 0.005 * float(r["flops_M"]), r
        assert abs(ts_flops / 1e6 - float(r["flops_M"])) < 1e-6, r  # in fact exact
        assert flops < ts_flops


def test_nb201_flops_equal_api_extremes():
    # NB201 API get_cost_info extremes (cifar10-valid, cifar100, ImageNet16-120), in M
    expected = {
        "cifar10-valid": ((0.073306, 7.78305), (1.531546, 220.11969)),
        "cifar100": ((0.079156, 7.7889), (1.537396, 220.12554)),
        "ImageNet16-120": ((0.080456, 1.9534), (1.538696, 55.03756)),
    }
    for ds, (k, res) in DATASETS.items():
        costs = [nb201_cost(a, num_classes=k, resolution=res) for a in (ALL["none"], ALL["nor_conv_3x3"])]
        for (params, flops), (p_m, f_m) in zip(costs, expected[ds]):
            assert round(params / 1e6, 6) == p_m
            assert round(flops / 1e6, 5) == f_m


@pytest.mark.parametrize("convention", FLOP_CONVENTIONS)
def test_hook_counts_equal_closed_form(convention):
    cases = [(BEST_C10, 16, 5, 10, (32, 32)), (MIXED, 16, 5, 120, (16, 16)), (DISCONNECTED, 4, 2, 3, (12, 20)),
             (ALL["avg_pool_3x3"], 8, 1, 10, (8, 8))]
    for arch, C, N, k, (h, w) in cases:
        net = TinyNetwork(arch, C=C, N=N, num_classes=k)
        state = {n: t.clone() for n, t in net.state_dict().items()}
        got = (count_params(net), count_flops(net, (2, 3, h, w), convention=convention))
        assert got == nb201_cost(arch, C=C, N=N, num_classes=k, resolution=(h, w), convention=convention)
        assert net.training  # mode restored, BN statistics untouched
        assert all(torch.equal(state[n], t) for n, t in net.state_dict().items())
    with pytest.raises(ValueError, match="allowed: nb201, torchstat"):
        count_flops(net, convention="fvcore")
    with pytest.raises(ValueError, match="divisible by 4"):
        nb201_cost(BEST_C10, resolution=30)


def test_init_default_equals_fresh_build():
    net = build_network(MIXED, C=8, N=2, seed=3)
    other = build_network(MIXED, C=8, N=2, seed=4)
    x = torch.randn(2, 3, 16, 16)
    other(x)  # dirty the BN running stats
    init_network(other, "default", seed=3)
    assert_same_state(net, other)


def test_init_kaiming_normal():
    a = init_network(build_network(BEST_C10, seed=0), "kaiming_normal", seed=11)
    b = init_network(build_network(BEST_C10, seed=1), "kaiming_normal", seed=11)
    assert_same_state(a, b)  # depends on the seed only
    w = a.cells[-1].layers[0].op[1].weight  # (64, 64, 3, 3) conv: fan_in 576
    assert abs(w.std().item() - math.sqrt(2 / 576)) < 0.05 * math.sqrt(2 / 576)
    assert abs(a.classifier.weight.std().item() - math.sqrt(2 / 64)) < 0.15 * math.sqrt(2 / 64)
    assert torch.count_nonzero(a.classifier.bias) == 0
    for m in a.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    c = init_network(build_network(BEST_C10, seed=0), "kaiming_normal_fanout", seed=11)
    v = c.cells[5].conv_a.op[1].weight  # (32, 16, 3, 3): fan_out 288, fan_in 144
    assert abs(v.std().item() - math.sqrt(2 / 288)) < 0.1 * math.sqrt(2 / 288)
    assert set(INIT_SCHEMES) == {"default", "kaiming_normal", "kaiming_normal_fanout"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cpu = build_network(BEST_C10, C=8, N=1, seed=0)
    gpu = build_network(BEST_C10, C=8, N=1, seed=5).to("cuda")
    for scheme in INIT_SCHEMES:
        init_network(cpu, scheme, seed=2)
        init_network(gpu, scheme, seed=2)
        assert next(gpu.parameters()).is_cuda
        for (n, p), (_, q) in zip(cpu.state_dict().items(), gpu.state_dict().items()):
            assert torch.equal(p, q.cpu()), n
    x = torch.randn(4, 3, 32, 32)
    assert torch.allclose(cpu(x), gpu(x.cuda()).cpu(), atol=1e-4)
    assert count_flops(gpu) == count_flops(cpu)


def test_small_network_trains_on_digits():
    # scikit-learn's bundled digits file, read without importing sklearn (slow to import)
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-learn not installed")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(path, delimiter=",", max_rows=128)  # (128, 65): 64 pixels 0..16, label
    x = torch.tensor(data[:, :64] / 16.0, dtype=torch.float32).view(-1, 1, 8, 8).repeat(1, 3, 1, 1)  # (128, 3, 8, 8)
    y = torch.tensor(data[:, 64], dtype=torch.long)
    net = build_network(MIXED, C=8, N=1, num_classes=10, seed=0)
    assert net(x).shape == (128, 10)
    losses = []
    for _ in range(15):  # plain gradient descent (torch.optim's first use costs seconds of imports)
        net.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        with torch.no_grad():
            for p in net.parameters():
                p -= 0.2 * p.grad
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.6 * losses[0]
