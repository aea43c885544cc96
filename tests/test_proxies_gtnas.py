"""GT-NAS proxies (``grad_corr`` R, ``grad_value`` V, ``gt_kernel``): the paper's Sec. 3 equations
the slow way (tests/reference/gtnas_slow.py: per-example loop, explicit cosine loops) for the
defaults and the ``centred`` / ``theta`` options, the per-layer definitions on hand-made gradients,
layers smaller than theta, numerically-zero rows, degenerate cells, the identity gt_kernel = mgm
Eq. 16, the caller's model untouched, determinism, errors and the shared per-example gradients."""
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
# (proxy, options): the paper's defaults and the options
VARIANTS = [("grad_corr", {}), ("grad_corr", {"centred": True}), ("grad_value", {}),
            ("grad_value", {"theta": 20}), ("gt_kernel", {}), ("gt_kernel", {"centred": True})]


make_batch = functools.partial(_make_batch, hw=16)  # 16x16 images here


def all_three(net, b, **opts):
    ctx = Context(net, b)
    return {name: proxies.compute(name, net, b, ctx, **opts) for name in NAMES}


# ---- fidelity ----------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,dtype", [(A_CONV, torch.float32), (A_CONV, torch.float64), (A_CUT, torch.float32)])
def test_matches_slow_paper_equations(arch, dtype):
    net, b = xnet(arch, dtype=dtype), make_batch(dtype=dtype)
    ctx = Context(net, b)
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    for name, opts in VARIANTS:
        common = {"n": 12, "seed": 2, **({} if name == "grad_value" else {"theta": 20})}
        ours = proxies.compute(name, net, b, ctx, **common, **opts)
        assert ours.flag is None
        ref = REFS[name](net, b.x, b.y, **common, **opts)
        assert ours.value == pytest.approx(ref, rel=rtol), (name, opts)


def test_defaults_are_the_paper_and_centring_changes_them():
    net, b = xnet(A_CONV), make_batch()
    ctx = Context(net, b)
    assert proxies.get("grad_corr").defaults == {"n": 50, "theta": 50, "seed": 0, "centred": False}
    assert proxies.get("gt_kernel").defaults == {"n": 50, "theta": 50, "seed": 0, "centred": False}
    assert proxies.get("grad_value").defaults == {"n": 50, "theta": None, "seed": 0}
    for name in ("grad_corr", "gt_kernel"):
        raw = proxies.compute(name, net, b, ctx, n=12).value
        assert raw == proxies.compute(name, net, b, ctx, n=12, centred=False).value
        assert raw != pytest.approx(proxies.compute(name, net, b, ctx, n=12, centred=True).value, rel=1e-3)


def test_layer_statistics_on_hand_made_gradients():
    # layer 0: rows positive multiples of one another -> cosine 1 everywhere (raw, Eq. 2)
    base = torch.tensor([1.0, -2.0, 0.5, 3.0])
    G0 = torch.stack([base, 2 * base, 0.5 * base])  # (3, 4)
    # layer 1: example 0 anti-parallel to example 1, example 2 a zero row
    G1 = torch.stack([base, -base, torch.zeros(4)])
    corr, value, kernel = gtnas.layer_stats_from_grads(torch.stack([G0, G1]))
    assert corr[0] == pytest.approx(1.0)
    assert corr[1] == pytest.approx((1 - 1 - 1 + 1) / 9)  # C = [[1,-1,0],[-1,1,0],[0,0,0]]
    assert value[1] == pytest.approx(float(G1.abs().mean()))
    P = [[float(G0[i] @ G0[j]) for j in range(3)] for i in range(3)]  # Eq. 1, uncentred
    assert kernel[0] == pytest.approx(sum(map(sum, P)) / 9)
    # an offset: raw cosine < 1, the centred (Pearson) correlation stays 1
    G2 = torch.stack([base, 2 * base + 7, 0.5 * base - 1])
    raw, _, kraw = gtnas.layer_stats_from_grads(G2.unsqueeze(0))
    cen, _, kcen = gtnas.layer_stats_from_grads(G2.unsqueeze(0), centred=True)
    cos = [[float(G2[i] @ G2[j]) / math.sqrt(float(G2[i] @ G2[i]) * float(G2[j] @ G2[j])) for j in range(3)]
           for i in range(3)]  # Eq. 2
    assert raw[0] < 0.99 and raw[0] == pytest.approx(sum(map(sum, cos)) / 9) and cen[0] == pytest.approx(1.0)
    Gc = G2 - G2.mean(1, keepdim=True)
    assert kcen[0] == pytest.approx(float((Gc @ Gc.T).mean())) and kraw[0] == pytest.approx(float((G2 @ G2.T).mean()))


def test_small_layers_use_all_entries():
    """theta above every layer size: all entries of every layer; sampled V = mean over layers of
    mean |g|; the default V pools all entries (weighted by layer size), a different number."""
    net, b = xnet(A_CONV), make_batch(n=6)
    big = max(p.numel() for p in net.parameters())
    ctx = Context(net, b)
    pe = kn.per_example_grads(net, b, Context(net, b), 6)
    full = {k: pe.first(k, pe.numel[k]).double().abs() for k in pe.names}
    layer_mean = sum(float(g.mean()) for g in full.values()) / len(full)
    pooled = sum(float(g.sum()) for g in full.values()) / sum(g.numel() for g in full.values())
    assert proxies.compute("grad_value", net, b, ctx, n=6, theta=big).value == pytest.approx(layer_mean, rel=1e-9)
    assert proxies.compute("grad_value", net, b, ctx, n=6).value == pytest.approx(pooled, rel=1e-9)
    assert pooled != pytest.approx(layer_mean, rel=1e-2)
    for centred in (False, True):  # the permutation of entries does not matter
        one = proxies.compute("grad_corr", net, b, ctx, n=6, theta=big, centred=centred).value
        assert proxies.compute("grad_corr", net, b, ctx, n=6, theta=big + 5, seed=9, centred=centred).value == \
            pytest.approx(one, rel=1e-9)


def test_kernel_is_mgm_eq16():
    """The uncentred GT-NAS kernel (mean of P per layer over theta sampled entries, averaged over
    layers) is KNAS's Eq. 16 with m = theta on the same entries (float64: mgm sums the gradients
    before squaring, the kernel multiplies per-example entries)."""
    net, b = xnet(A_CONV, dtype=torch.float64), make_batch(dtype=torch.float64)
    ctx = Context(net, b)
    k = proxies.compute("gt_kernel", net, b, ctx, n=12, theta=7, seed=3).value
    assert k == pytest.approx(proxies.compute("mgm", net, b, ctx, n=12, sampled=7, seed=3).value, rel=1e-9)


def test_structurally_zero_gradients_count_as_zero_rows():
    """The last cell's BN biases feed the final BN directly: their gradient is 0 in exact arithmetic
    and float32 rounding noise (~1e-9 of the largest) in practice; their correlations are set to 0."""
    net, b = xnet(A_CONV), make_batch()
    stats = gtnas.layer_stats(net, b, Context(net, b), 12, 50, 0)
    pe = kn.per_example_grads(net, b, Context(net, b), 12)
    for corr in (dict(zip(stats.names, stats.corr.tolist())), dict(zip(stats.names, stats.corr_c.tolist()))):
        # in the last cell (cells.4 at N=1) nodes 2 and 3 reach node 3 / lastact through skip edges only
        for k in ("cells.4.layers.1.op.2.bias", "cells.4.layers.4.op.2.bias"):
            assert 0 < float(pe.first(k, 99).abs().max()) < 1e-6 * float(pe.first("classifier.bias", 99).abs().max())
            assert corr[k] == 0.0
        assert corr["cells.4.layers.0.op.2.bias"] != 0.0  # node 1 feeds a conv: a real gradient


# ---- degenerate networks -----------------------------------------------------------------------

@pytest.mark.parametrize("arch", [A_DISC, A_NONE])
def test_degenerate_cells(arch):
    net, b = xnet(arch), make_batch()
    ctx = Context(net, b)
    L = len([p for p in net.parameters()])
    total = sum(p.numel() for p in net.parameters())
    # only the classifier bias has a gradient: softmax(b) - onehot(y_i); its rows sum to 0, so
    # centring them changes nothing
    G = torch.softmax(net.classifier.bias.detach().double(), 0) - F.one_hot(b.y, 10).double()  # (n, 10)
    C = (G @ G.T) / torch.outer(G.norm(dim=1), G.norm(dim=1))
    expect = {"grad_corr": float(C.mean()) / L, "grad_value": float(G.abs().sum()) / (12 * total),
              "gt_kernel": float((G @ G.T).mean()) / L}
    for name, opts in VARIANTS:
        res = proxies.compute(name, net, b, ctx, n=12, **opts)
        assert res.flag == "degenerate" and math.isfinite(res.value)
        want = float(G.abs().mean()) / L if opts.get("theta") else expect[name]
        assert res.value == pytest.approx(want, rel=1e-5), (name, opts)


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


def test_seed_changes_sampled_entries_only():
    net, b = xnet(A_CONV), make_batch()
    v0, v1 = all_three(net, b, n=12, seed=0), all_three(net, b, n=12, seed=1)
    assert v0["grad_corr"].value != v1["grad_corr"].value and v0["gt_kernel"].value != v1["gt_kernel"].value
    assert v0["grad_value"].value == v1["grad_value"].value  # V over all parameters: no sampling
    s0, s1 = (proxies.compute("grad_value", net, b, n=12, theta=50, seed=s).value for s in (0, 1))
    assert s0 != s1


def test_errors():
    net, b = xnet(A_CONV), make_batch(n=8)
    with pytest.raises(ValueError, match="larger than the batch"):
        proxies.compute("grad_corr", net, b)  # n=50 > 8
    with pytest.raises(ValueError, match="theta = 0 is invalid; allowed: an integer >= 1"):
        proxies.compute("gt_kernel", net, b, n=8, theta=0)
    with pytest.raises(ValueError, match="theta = None is invalid"):
        proxies.compute("grad_corr", net, b, n=8, theta=None)  # R samples theta (Sec. 3)
    with pytest.raises(ValueError, match="theta = 0 is invalid; allowed: an integer >= 1 or null"):
        proxies.compute("grad_value", net, b, n=8, theta=0)
    with pytest.raises(ValueError, match="centred = 1 is invalid; allowed: true or false"):
        proxies.compute("gt_kernel", net, b, n=8, centred=1)
    with pytest.raises(ValueError, match="seed"):
        proxies.compute("grad_corr", net, b, n=8, seed=0.5)
    with pytest.raises(ValueError, match="needs labels"):
        proxies.compute("grad_value", net, ProxyBatch(b.x, None, 10), n=8)
    with pytest.raises(ValueError, match="unknown option"):
        proxies.compute("grad_corr", net, b, n=8, sampled=4)
    with pytest.raises(ValueError, match="unknown option"):
        proxies.compute("grad_value", net, b, n=8, centred=True)  # V is never centred


def test_one_per_example_pass_for_knas_code_and_gtnas():
    net, b = xnet(A_CONV), make_batch()
    ctx = Context(net, b)
    for name in NAMES + ["knas_code"]:
        proxies.compute(name, net, b, ctx, n=12)
    proxies.compute("grad_corr", net, b, ctx, n=12, centred=True)
    proxies.compute("gt_kernel", net, b, ctx, n=12, centred=True)
    proxies.compute("grad_value", net, b, ctx, n=12, theta=50)
    assert ctx.hits[("per_example_grads", 12)] == 2  # computed for grad_corr, reused by V and knas_code
    assert ctx.hits[("gtnas_layers", 12, 50, 0)] == 4  # one reduction for both centrings and sampled V


def test_registry_metadata():
    for name in NAMES + ["mgm", "knas_code"]:
        spec = proxies.get(name)
        assert spec.higher_is_better and spec.needs_labels and spec.description and spec.degenerate
    assert proxies.get("mgm").defaults == {"n": 50, "sampled": None, "seed": 0, "estimator": "gram"}
