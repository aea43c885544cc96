"""GT-NAS proxies (``grad_corr`` R, ``grad_value`` V, ``gt_kernel``): the slow per-example-loop
reference (tests/reference/gtnas_slow.py), the per-layer definition on hand-made gradients, layers
smaller than theta, numerically-zero rows, degenerate cells, the caller's model untouched,
determinism, errors and the per-example gradients shared with ``knas_code``."""
from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from knas import proxies
from knas.proxies import gtnas
from knas.proxies import knas as kn
from knas.proxies.base import Context, ProxyBatch
from reference.gtnas_slow import official_grad_corr, official_grad_value, official_gt_kernel

pytest.importorskip("xautodl.models")

from cells import A_CONV, A_CUT, A_DISC, A_NONE, A_SKIP
from cells import make_batch as _make_batch
from proxy_checks import xnet


NAMES = ["grad_corr", "grad_value", "gt_kernel"]
REFS = {"grad_corr": official_grad_corr, "grad_value": official_grad_value, "gt_kernel": official_gt_kernel}


make_batch = functools.partial(_make_batch, hw=16)  # 16x16 images here


def all_three(net, b, **opts):
    ctx = Context(net, b)
    return {name: proxies.compute(name, net, b, ctx, **opts) for name in NAMES}


# ---- fidelity ----------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,dtype", [(A_CONV, torch.float32), (A_CONV, torch.float64), (A_CUT, torch.float32)])
def test_matches_slow_per_example_loop(arch, dtype):
    net, b = xnet(arch, dtype=dtype), make_batch(dtype=dtype)
    ours = all_three(net, b, n=12, theta=20, seed=2)
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    for name in NAMES:
        assert ours[name].flag is None
        assert ours[name].value == pytest.approx(REFS[name](net, b.x, b.y, n=12, theta=20, seed=2), rel=rtol), name


def test_layer_statistics_on_hand_made_gradients():
    # layer 0: rows identical up to scale and offset -> perfectly correlated (C = 1 everywhere)
    base = torch.tensor([1.0, -2.0, 0.5, 3.0])
    G0 = torch.stack([base, 2 * base + 7, 0.5 * base - 1])  # (3, 4)
    # layer 1: example 0 anti-correlated with example 1, example 2 a zero row
    G1 = torch.stack([base, -base, torch.zeros(4)])
    corr, value, kernel = gtnas.layer_stats_from_grads(torch.stack([G0, G1]))
    assert corr[0] == pytest.approx(1.0)
    assert corr[1] == pytest.approx((1 - 1 - 1 + 1) / 9)  # C = [[1,-1,0],[-1,1,0],[0,0,0]]
    assert value[1] == pytest.approx(float(G1.abs().mean()))
    Gc = G0 - G0.mean(1, keepdim=True)  # rows centred over their own entries
    assert kernel[0] == pytest.approx(float((Gc @ Gc.T).mean())) and kernel[0] > 1  # (centring across
    # examples instead of within each row would give exactly 0)


def test_small_layers_use_all_entries():
    """theta above every layer size: all entries of every layer; V = mean over layers of mean |g|."""
    net, b = xnet(A_CONV), make_batch(n=6)
    big = max(p.numel() for p in net.parameters())
    ours = all_three(net, b, n=6, theta=big)
    pe = kn.per_example_grads(net, b, Context(net, b), 6)
    v = sum(float(pe.first(k, pe.numel[k]).double().abs().mean()) for k in pe.names) / len(pe.names)
    assert ours["grad_value"].value == pytest.approx(v, rel=1e-9)
    assert all_three(net, b, n=6, theta=big + 5, seed=9)["grad_corr"].value == pytest.approx(
        ours["grad_corr"].value, rel=1e-9)  # the permutation of entries does not matter


def test_structurally_zero_gradients_count_as_zero_rows():
    """The last cell's BN biases feed the final BN directly: their gradient is 0 in exact arithmetic
    and float32 rounding noise (~1e-9 of the largest) in practice; their correlations are set to 0."""
    net, b = xnet(A_CONV), make_batch()
    stats = gtnas.layer_stats(net, b, Context(net, b), 12, 50, 0)
    pe = kn.per_example_grads(net, b, Context(net, b), 12)
    corr = dict(zip(stats.names, stats.corr.tolist()))
    # in the last cell (cells.4 at N=1) nodes 2 and 3 reach node 3 / lastact through skip edges only
    for k in ("cells.4.layers.1.op.2.bias", "cells.4.layers.4.op.2.bias"):
        assert 0 < float(pe.first(k, 99).abs().max()) < 1e-6 * float(pe.first("classifier.bias", 99).abs().max())
        assert corr[k] == 0.0
    assert corr["cells.4.layers.0.op.2.bias"] != 0.0  # node 1 feeds a conv: a real gradient


# ---- degenerate networks -----------------------------------------------------------------------

@pytest.mark.parametrize("arch", [A_DISC, A_NONE])
def test_degenerate_cells(arch):
    net, b = xnet(arch), make_batch()
    res = all_three(net, b, n=12)
    L = len([p for p in net.parameters()])
    # only the classifier bias has a gradient: softmax(b) - onehot(y_i)
    G = torch.softmax(net.classifier.bias.detach().double(), 0) - F.one_hot(b.y, 10).double()  # (n, 10)
    Gc = G - G.mean(1, keepdim=True)
    C = (Gc @ Gc.T) / torch.outer(Gc.norm(dim=1), Gc.norm(dim=1))
    expect = {"grad_corr": float(C.mean()) / L, "grad_value": float(G.abs().mean()) / L,
              "gt_kernel": float((Gc @ Gc.T).mean()) / L}
    for name in NAMES:
        assert res[name].flag == "degenerate" and math.isfinite(res[name].value)
        assert res[name].value == pytest.approx(expect[name], rel=1e-5), name


def test_all_skip_is_not_degenerate():
    res = all_three(xnet(A_SKIP), make_batch(), n=12)
    assert all(r.flag is None and math.isfinite(r.value) for r in res.values())


# ---- the caller's model, determinism, errors, sharing ------------------------------------------

def test_model_untouched_and_deterministic():
    net, b = xnet(A_CUT), make_batch()
    net.eval()
    net.stem[0].weight.grad = torch.ones_like(net.stem[0].weight)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    first = all_three(net, b, n=12)
    again = all_three(net, b, n=12)
    assert all(first[k].value == again[k].value for k in NAMES)  # bitwise on CPU
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert not any(m.training for m in net.modules())
    assert torch.equal(net.stem[0].weight.grad, torch.ones_like(net.stem[0].weight))
    assert all(p.requires_grad for p in net.parameters())


def test_seed_changes_sampled_entries():
    net, b = xnet(A_CONV), make_batch()
    v0, v1 = all_three(net, b, n=12, seed=0), all_three(net, b, n=12, seed=1)
    assert v0["grad_value"].value != v1["grad_value"].value


def test_errors():
    net, b = xnet(A_CONV), make_batch(n=8)
    with pytest.raises(ValueError, match="larger than the batch"):
        proxies.compute("grad_corr", net, b)  # n=50 > 8
    with pytest.raises(ValueError, match="theta = 0 is invalid; allowed: an integer >= 1"):
        proxies.compute("gt_kernel", net, b, n=8, theta=0)
    with pytest.raises(ValueError, match="seed"):
        proxies.compute("grad_value", net, b, n=8, seed=0.5)
    with pytest.raises(ValueError, match="needs labels"):
        proxies.compute("grad_value", net, ProxyBatch(b.x, None, 10), n=8)
    with pytest.raises(ValueError, match="unknown option"):
        proxies.compute("grad_corr", net, b, n=8, sampled=4)


def test_one_per_example_pass_for_knas_code_and_gtnas():
    net, b = xnet(A_CONV), make_batch()
    ctx = Context(net, b)
    for name in NAMES + ["knas_code"]:
        proxies.compute(name, net, b, ctx, n=12)
    assert ctx.hits[("per_example_grads", 12)] == 1  # computed for grad_corr, reused by knas_code
    assert ctx.hits[("gtnas_layers", 12, 50, 0)] == 2  # grad_value and gt_kernel reuse grad_corr's


def test_registry_metadata():
    for name in NAMES + ["mgm", "knas_code"]:
        spec = proxies.get(name)
        assert spec.higher_is_better and spec.needs_labels and spec.description and spec.degenerate
    assert proxies.get("grad_corr").defaults == {"n": 50, "theta": 50, "seed": 0}
    assert proxies.get("mgm").defaults == {"n": 50, "sampled": None, "seed": 0}
