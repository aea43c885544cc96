"""NASWOT proxy: official reference (double counting), paper definition (brute-force Hamming
kernel), knas vs xautodl network, caller's model untouched, determinism, degenerate cells,
errors, pass sharing with ``linear_regions(protocol='full')``."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from cells import A_CONV, A_DISC_1X1, A_MIX, A_NONE, A_SKIP, make_batch
from proxy_checks import assert_same, snapshot, xnet
import torch
from torch import nn

from knas import proxies
from knas.proxies.base import Context, ProxyBatch
from knas.nb201.space import is_disconnected
from reference.official_naswot import official_naswot

pytest.importorskip("xautodl.models")





def brute_force_naswot(model, x) -> float:
    """Paper definition: codes of every nn.ReLU input (once each), K = N_A - Hamming, pair by pair."""
    net = copy.deepcopy(model).train()
    codes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: codes.append((i[0] > 0).reshape(i[0].shape[0], -1).numpy()))
        for m in net.modules()
        if isinstance(m, nn.ReLU)
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    c = np.concatenate(codes, 1).astype(np.int64)  # (N, N_A)
    n, n_a = c.shape
    K = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            K[i, j] = n_a - int(np.sum(c[i] != c[j]))
    return float(np.linalg.slogdet(K)[1])


@pytest.mark.parametrize("arch", [A_CONV, A_SKIP, A_MIX])
def test_official_counting_matches_official_code(arch):
    net, b = xnet(arch, C=6), make_batch()
    ours = proxies.compute("naswot", net, b, official_counting=True)
    ref = official_naswot(net, b.x)
    assert ours.flag is None
    assert ours.value == pytest.approx(ref, rel=1e-9)  # same integer kernel -> same float64 logdet


def test_full_size_network_matches_official():
    # the benchmark's C=16, N=5 network: reduction-block ReLUConvBNs are double counted too
    net, b = xnet(A_CONV, C=16, N=5), make_batch(n=16)
    assert proxies.compute("naswot", net, b, official_counting=True).value == pytest.approx(
        official_naswot(net, b.x), rel=1e-9
    )


@pytest.mark.parametrize("arch", [A_CONV, A_SKIP, A_MIX])
def test_default_counting_is_paper_definition(arch):
    net, b = xnet(arch, C=4), make_batch(n=10)
    ours = proxies.compute("naswot", net, b).value
    assert ours == pytest.approx(brute_force_naswot(net, b.x), rel=1e-9)
    if "conv" in arch:  # ReLUConvBN inputs are counted twice by the released code only
        assert proxies.compute("naswot", net, b, official_counting=True).value != pytest.approx(ours, rel=1e-6)


def test_knas_network_gives_xautodl_scores():
    model_mod = pytest.importorskip("knas.nb201.model")
    b = make_batch(n=10)
    for arch in (A_CONV, A_DISC_1X1):
        torch.manual_seed(3)
        ours_net = model_mod.TinyNetwork(arch, C=4, N=2, num_classes=10)
        x_net = xnet(arch, C=4, N=2, seed=3)
        for oc in (False, True):
            a = proxies.compute("naswot", ours_net, b, official_counting=oc).value
            c = proxies.compute("naswot", x_net, b, official_counting=oc).value
            assert a == pytest.approx(c, rel=1e-12)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_model_untouched(mode):
    net, b = xnet(A_CONV), make_batch(n=8)
    net.train(mode == "train")
    net.classifier.weight.grad = torch.ones_like(net.classifier.weight)  # pre-existing grad
    snap = snapshot(net)
    ctx = Context(net, b)
    for oc in (False, True):
        proxies.compute("naswot", net, b, ctx, official_counting=oc)
    proxies.compute("naswot", net, b, official_counting=True, n=5)
    assert_same(net, snap)


def test_deterministic_bitwise():
    b = make_batch(n=10)
    v1 = proxies.compute("naswot", xnet(A_MIX, seed=7), b).value
    v2 = proxies.compute("naswot", xnet(A_MIX, seed=7), b).value
    v3 = proxies.compute("naswot", xnet(A_MIX, seed=8), b).value
    assert v1 == v2
    assert v1 != v3


@pytest.mark.parametrize("arch", [A_DISC_1X1, A_SKIP])
def test_degenerate_cells_are_finite(arch):
    net, b = xnet(arch, C=4, N=2), make_batch(n=10)
    for oc in (False, True):
        r = proxies.compute("naswot", net, b, official_counting=oc)
        assert np.isfinite(r.value) and r.flag is None
        assert r.value == pytest.approx(official_naswot(net, b.x) if oc else brute_force_naswot(net, b.x), rel=1e-9)
    assert is_disconnected(A_DISC_1X1)


def test_all_none_cell_gives_official_minus_inf():
    # every ReLU sees the dead first cell's constant output -> K has rank one -> slogdet = -inf
    net, b = xnet(A_NONE, C=4, N=2), make_batch(n=10)
    assert official_naswot(net, b.x) == float("-inf")
    for oc in (False, True):
        r = proxies.compute("naswot", net, b, official_counting=oc)
        assert r.value == float("-inf") and r.flag == "degenerate"


def test_identical_examples_give_minus_inf():
    net, b = xnet(A_CONV), make_batch(n=6)
    b.x[1] = b.x[0]  # two identical codes -> singular K (official slogdet: -inf)
    r = proxies.compute("naswot", net, b)
    assert r.value == float("-inf") and r.flag == "degenerate"


def test_errors():
    net, b = xnet(A_CONV), make_batch(n=6)
    with pytest.raises(ValueError, match="larger than the batch"):
        proxies.compute("naswot", net, b, n=7)
    with pytest.raises(ValueError, match="unknown option"):
        proxies.compute("naswot", net, b, counting="official")
    with pytest.raises(ValueError, match="official_counting"):
        proxies.compute("naswot", net, b, official_counting="yes")
    assert proxies.get("naswot").higher_is_better and not proxies.get("naswot").needs_labels


def test_first_n_examples_and_shared_forward():
    net, b = xnet(A_CONV), make_batch(n=10)
    ctx = Context(net, b)
    sub = ProxyBatch(b.x[:6].clone(), None, 10)
    assert proxies.compute("naswot", net, b, ctx, n=6).value == proxies.compute("naswot", net, sub).value
    proxies.compute("naswot", net, b, ctx)
    proxies.compute("naswot", net, b, ctx, official_counting=True)
    proxies.compute("linear_regions", net, b, ctx, protocol="full")
    assert ctx.hits[("relu_code_grams", 10, "train")] == 2  # one forward served three scores


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    net, b = xnet(A_CONV), make_batch(n=8)
    cpu = proxies.compute("naswot", net, b).value
    gpu = proxies.compute("naswot", net.cuda(), b.to("cuda")).value
    assert gpu == pytest.approx(cpu, rel=1e-9)
