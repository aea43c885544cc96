"""Zero-cost baselines (grad_norm, snip, grasp, fisher, plain, jacob_cov, synflow(_bn), l2_norm)
and params/flops: official code (tests/reference/official_zero_cost.py), independent paper
definitions, knas vs xautodl network, the caller's model untouched, determinism, degenerate
cells, errors, pass sharing, split_data / CUDA-OOM retry, NB201's own params/FLOPs."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from knas import proxies
from knas.proxies import zero_cost as zc
from knas.proxies.base import Context, ProxyBatch
from reference.official_zero_cost import OFFICIAL

pytest.importorskip("xautodl.models")

from cells import A_CONV_POOL, A_DISC_CONV, A_MIX, A_NONE, A_SKIP, make_batch
from proxy_checks import xnet as xautodl_net


ZC = ["grad_norm", "snip", "grasp", "fisher", "plain", "jacob_cov", "synflow", "synflow_bn", "l2_norm", "params"]
ALL = ZC + ["flops"]  # OFFICIAL["flops"] is xautodl's counter (not zero-cost-nas code)


def xnet(arch, C=6, **kw):  # zero-cost tests use 6 channels
    return xautodl_net(arch, C=C, **kw)




def compute_all(net, b, names=ALL, ctx=None):
    ctx = Context(net, b) if ctx is None else ctx
    return {name: proxies.compute(name, net, b, ctx) for name in names}


def close(a, b, rtol):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rtol, abs=1e-12)


# ---- fidelity to the official code ---------------------------------------------------------

@pytest.mark.parametrize("arch", [A_CONV_POOL, A_MIX, A_SKIP])
def test_matches_official_code(arch):
    net, b = xnet(arch), make_batch()
    ours = compute_all(net, b, ZC)
    for name in ZC:
        ref = OFFICIAL[name](net, b.x, b.y)
        assert ours[name].flag is None, name
        assert close(ours[name].value, ref, 1e-4), (name, ours[name].value, ref)


def test_matches_official_code_in_eval_mode():
    """Upstream scores the network in its own mode (fisher forces train mode)."""
    net, b = xnet(A_CONV_POOL, N=2), make_batch()
    net.eval()
    ours = compute_all(net, b, ZC)
    for name in ZC:
        assert close(ours[name].value, OFFICIAL[name](net, b.x, b.y), 1e-4), name
    train_net = copy.deepcopy(net).train()
    assert ours["grad_norm"].value != pytest.approx(proxies.compute("grad_norm", train_net, b).value, rel=1e-3)
    assert ours["fisher"].value == pytest.approx(proxies.compute("fisher", train_net, b).value, rel=1e-6)


@pytest.mark.parametrize("name", ["grad_norm", "snip", "grasp", "fisher", "plain", "jacob_cov"])
def test_split_data_matches_official(name):
    """Official chunking (st = i*N//split; N=10, split=3 -> uneven chunks), incl. grasp's
    last-chunk-only g; with train-mode BN the value depends on the split."""
    net, b = xnet(A_MIX), make_batch(n=10)
    ours = proxies.compute(name, net, b, split_data=3).value
    assert close(ours, OFFICIAL[name](net, b.x, b.y, split_data=3), 1e-4)
    assert ours != pytest.approx(proxies.compute(name, net, b).value, rel=1e-4)


def test_full_size_synflow_matches_official():
    """C=16, N=5: synflow reaches ~1e40, only float64 represents it."""
    net, b = xnet(A_CONV_POOL, C=16, N=5), make_batch(n=2)
    ours = proxies.compute("synflow", net, b).value
    ref = OFFICIAL["synflow"](net, b.x, b.y)
    assert ours > 1e30 and ours == pytest.approx(ref, rel=1e-9)


def test_knas_network_gives_xautodl_scores():
    model_mod = pytest.importorskip("knas.nb201.model")
    b = make_batch()
    for arch in (A_CONV_POOL, A_DISC_CONV):
        ref = compute_all(xnet(arch, C=4), b, ZC)
        ours = compute_all(model_mod.build_network(arch, C=4, N=1, num_classes=10, seed=0), b, ZC)
        for name in ZC:
            assert close(ours[name].value, ref[name].value, 1e-6), (arch, name)


# ---- independent definitions -----------------------------------------------------------------

def _ce_weight_grads(net, x, y):
    net = copy.deepcopy(net)
    net.zero_grad()
    F.cross_entropy(proxies.logits_of(net(x)), y).backward()
    return [(m.weight.detach(), m.weight.grad) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_gradient_proxies_paper_definitions():
    net, b = xnet(A_MIX), make_batch()
    pairs = _ce_weight_grads(net, b.x, b.y)
    assert proxies.compute("grad_norm", net, b).value == pytest.approx(
        sum(float(torch.sqrt((g.double() ** 2).sum())) for _, g in pairs), rel=1e-5)
    assert proxies.compute("snip", net, b).value == pytest.approx(
        sum(float((w.double() * g.double()).abs().sum()) for w, g in pairs), rel=1e-5)
    assert proxies.compute("plain", net, b).value == pytest.approx(
        sum(float((w.double() * g.double()).sum()) for w, g in pairs), rel=1e-4)
    assert proxies.compute("l2_norm", net, b).value == pytest.approx(
        sum(float(torch.sqrt((w.double() ** 2).sum())) for w, _ in pairs), rel=1e-6)


def test_grasp_is_minus_w_hessian_gradient_product():
    """-Σ W·(H g) with H g from torch.autograd.functional.hvp on a functional CE loss."""
    net, b = xnet(A_CONV_POOL), make_batch()
    work = copy.deepcopy(net)
    names = [n + ".weight" for n, m in work.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rest = {k: v.detach() for k, v in work.state_dict().items() if k not in names}
    w0 = tuple(work.state_dict()[k].detach().clone() for k in names)

    def loss(*ws):
        bufs = {k: v.clone() for k, v in rest.items()}
        out = torch.func.functional_call(work, {**bufs, **dict(zip(names, ws))}, (b.x,))
        return F.cross_entropy(proxies.logits_of(out), b.y)

    g = torch.autograd.grad(loss(*[w.requires_grad_() for w in w0]), w0)
    _, hg = torch.autograd.functional.hvp(loss, tuple(w.detach() for w in w0), g)
    ref = -sum(float((w.detach().double() * h.detach().double()).sum()) for w, h in zip(w0, hg))
    assert proxies.compute("grasp", net, b).value == pytest.approx(ref, rel=1e-4)


def test_fisher_definition_with_fan_in():
    """Σ_layers Σ_k 0.5·mean_n(Σ_hw a·∂L/∂a)² · prod(W.shape[1:]), a = conv/linear output."""
    net, b = xnet(A_CONV_POOL), make_batch()
    work = copy.deepcopy(net).train()
    acts = []

    def keep(m, i, o):
        o.retain_grad()
        acts.append((m, o))

    hooks = [m.register_forward_hook(keep) for m in work.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    F.cross_entropy(proxies.logits_of(work(b.x)), b.y).backward()
    for h in hooks:
        h.remove()
    ref = 0.0
    for m, a in acts:
        prod = (a.detach() * a.grad).double()
        g_nk = prod.flatten(2).sum(2) if prod.dim() > 2 else prod  # (N, K)
        ref += float((0.5 * g_nk.pow(2).mean(0)).sum()) * math.prod(m.weight.shape[1:])
    assert proxies.compute("fisher", net, b).value == pytest.approx(ref, rel=1e-4)


def test_jacob_cov_formula():
    net, b = xnet(A_MIX), make_batch()
    x = b.x.clone().requires_grad_(True)
    proxies.logits_of(copy.deepcopy(net)(x)).sum().backward()
    J = x.grad.reshape(b.n, -1).double()
    v = torch.linalg.eigvalsh(torch.corrcoef(J))  # symmetric solver instead of general eig
    ref = float(-(torch.log(v + 1e-5) + 1 / (v + 1e-5)).sum())
    assert proxies.compute("jacob_cov", net, b).value == pytest.approx(ref, rel=1e-6)


def test_synflow_definition_and_bn_off():
    """Bias-free ReLU MLP: R = 1ᵀ|W3||W2||W1|1 is degree-1 homogeneous in each layer, so
    Σ_W |W·∂R/∂W| = (#layers)·R; synflow switches BatchNorm off (synflow_bn does not)."""
    torch.manual_seed(3)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 7, bias=False), nn.BatchNorm1d(7), nn.ReLU(),
                        nn.Linear(7, 5, bias=False), nn.ReLU(), nn.Linear(5, 3, bias=False)).eval()
    with torch.no_grad():
        mlp[2].running_mean.fill_(-4.0)
        mlp[2].running_var.fill_(9.0)
    b = ProxyBatch(torch.randn(4, 3, 2, 2), None, 3)
    W = [mlp[i].weight.detach().double().abs() for i in (1, 4, 6)]
    R = float((W[2] @ W[1] @ W[0] @ torch.ones(12, dtype=torch.float64)).sum())
    assert proxies.compute("synflow", mlp, b).value == pytest.approx(3 * R, rel=1e-12)
    assert proxies.compute("synflow_bn", mlp, b).value != pytest.approx(3 * R, rel=1e-3)
    assert proxies.compute("synflow_bn", mlp, b).value == pytest.approx(OFFICIAL["synflow_bn"](mlp, b.x), rel=1e-12)


def test_params_equal_nb201_table_and_flops_follow_input_shape(shared_data):
    """params = NB201 params_M * 1e6 exactly; flops = xautodl's (and knas.nb201's) count of the
    network on ONE input of the batch's shape (ImageNet16-120: 16x16 inputs, 120 classes).
    NB201's stored flops_M are larger (another counter, see ``zero_cost.flops``): not compared."""
    import pandas as pd
    from knas.nb201.flops import nb201_cost

    tab = pd.read_csv(shared_data / "nb201_params_flops.csv")
    row = tab[tab.dataset == "ImageNet16-120"].iloc[0]
    net = xnet(row.arch_str, C=16, N=5, k=120)
    b = ProxyBatch(torch.zeros(3, 3, 16, 16), None, 120)
    res = compute_all(net, b, ["params", "flops"])
    assert res["params"].value == pytest.approx(row.params_M * 1e6, abs=0.5)
    assert res["flops"].value == nb201_cost(row.arch_str, num_classes=120, resolution=16)[1]
    assert res["flops"].value == pytest.approx(OFFICIAL["flops"](net, b.x), rel=1e-12)  # xautodl counter
    assert res["flops"].value < proxies.compute("flops", net, ProxyBatch(torch.zeros(1, 3, 32, 32), None, 120)).value


def test_params_counts_shared_once_and_skips_frozen():
    """The module-tree walk counts like ``model.parameters()``: tied weights once, frozen ones not."""
    lin = torch.nn.Linear(4, 4)
    net = torch.nn.Sequential(lin, torch.nn.ReLU(), lin, torch.nn.Sequential(torch.nn.Linear(4, 3)))
    net[3][0].bias.requires_grad_(False)
    b = ProxyBatch(torch.zeros(2, 4, 1, 1), None, 3)
    assert proxies.compute("params", net, b).value == OFFICIAL["params"](net) == 20 + 12


# ---- degenerate cells --------------------------------------------------------------------------

@pytest.mark.parametrize("arch", [A_DISC_CONV, A_NONE])
def test_disconnected_values(arch):
    net, b = xnet(arch), make_batch()
    res = compute_all(net, b)
    for name in ("grad_norm", "snip", "grasp", "plain", "synflow", "synflow_bn"):
        assert res[name].value == 0.0 and res[name].flag is None, name
    assert 0 < res["fisher"].value < 1e-2 and res["fisher"].flag is None
    assert math.isnan(res["jacob_cov"].value) and res["jacob_cov"].flag == "nan"
    for name in ("l2_norm", "params", "flops"):
        assert res[name].value > 0 and res[name].flag is None
    assert math.isnan(OFFICIAL["jacob_cov"](net, b.x, b.y))


def test_all_skip_is_finite():
    res = compute_all(xnet(A_SKIP), make_batch())
    for name, r in res.items():
        assert math.isfinite(r.value) and r.flag is None, name


# ---- the caller's model is untouched, determinism, sharing ------------------------------------

@pytest.mark.parametrize("training", [True, False])
def test_model_untouched(training):
    net, b = xnet(A_CONV_POOL), make_batch()
    net.train(training)
    net.classifier.weight.requires_grad_(False)
    net.stem[0].weight.grad = torch.full_like(net.stem[0].weight, 0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = {n: p.requires_grad for n, p in net.named_parameters()}
    x_before = b.x.clone()
    for name in ALL:
        value = proxies.compute(name, net, b).value
        if name in OFFICIAL:  # a frozen weight gets no gradient upstream either
            assert close(value, OFFICIAL[name](net, b.x, b.y), 1e-4), name
        after = net.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), name
        assert net.training == training and all(m.training == training for m in net.modules()), name
        assert {n: p.requires_grad for n, p in net.named_parameters()} == flags, name
        assert torch.equal(net.stem[0].weight.grad, torch.full_like(net.stem[0].weight, 0.5)), name
        assert all(p.grad is None for n, p in net.named_parameters() if n != "stem.0.weight"), name
        assert torch.equal(b.x, x_before) and not b.x.requires_grad and b.x.grad is None, name
        assert not any(m._forward_hooks or m._backward_hooks for m in net.modules()), name


def test_deterministic_under_seed():
    b = make_batch()
    r1 = compute_all(xnet(A_MIX, seed=7), b)
    r2 = compute_all(xnet(A_MIX, seed=7), b)
    for name in ALL:
        assert r1[name].value == r2[name].value or (math.isnan(r1[name].value) and math.isnan(r2[name].value)), name


@pytest.mark.parametrize("first", ["grad_norm", "grasp"])
def test_shared_pass_gives_standalone_values(first):
    """grad_norm/snip/plain/fisher share one CE pass; grasp (split 1) fills it too."""
    net, b = xnet(A_CONV_POOL), make_batch()
    alone = {name: proxies.compute(name, net, b).value for name in ("grad_norm", "snip", "plain", "fisher", "grasp")}
    order = [first] + [n for n in alone if n != first]
    for planned in (order, ()):  # fisher planned: one pass for all; else fisher makes its own
        ctx = Context(net, b, planned=planned)
        shared = {name: proxies.compute(name, net, b, ctx).value for name in order}
        assert shared == alone
        assert ctx.hits[("ce_grad", b.n, 1, True)] >= 3
        assert ctx.has(("ce_grad", b.n, 1, True)) and ctx.cached(("ce_grad", b.n, 1, True), None).has_fisher


def test_n_uses_first_examples():
    net, b = xnet(A_MIX), make_batch(n=12)
    sub = ProxyBatch(b.x[:8], b.y[:8], 10)
    for name in ("grad_norm", "fisher", "grasp", "jacob_cov"):
        assert proxies.compute(name, net, b, n=8).value == proxies.compute(name, net, sub).value, name


# ---- errors, registry, OOM retry -------------------------------------------------------------

def test_errors():
    net, b = xnet(A_CONV_POOL, C=4), make_batch(n=6)
    with pytest.raises(ValueError, match="larger than the batch"):
        proxies.compute("snip", net, b, n=7)
    with pytest.raises(ValueError, match="split_data"):
        proxies.compute("grasp", net, b, split_data=7)
    with pytest.raises(ValueError, match="split_data"):
        proxies.compute("jacob_cov", net, b, split_data=0)
    with pytest.raises(ValueError, match="unknown option"):
        proxies.compute("synflow", net, b, n=3)
    no_labels = ProxyBatch(b.x, None, 10)
    for name in ("grad_norm", "snip", "grasp", "fisher", "plain"):
        with pytest.raises(ValueError, match="needs labels"):
            proxies.compute(name, net, no_labels)
    for name in ("jacob_cov", "synflow", "synflow_bn", "l2_norm", "params", "flops"):
        assert proxies.compute(name, net, no_labels).flag in (None, "nan")


def test_registry_entries():
    for name in ALL:
        spec = proxies.get(name)
        assert spec.higher_is_better and spec.paper.startswith("Abdelfattah") and spec.degenerate
        assert spec.description and spec.needs_labels == (name in ("grad_norm", "snip", "grasp", "fisher", "plain"))


def test_cuda_oom_retries_with_next_divisor():
    seen = []

    def fn(split):
        seen.append(split)
        if split < 3:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return split

    orig = torch.cuda.empty_cache
    torch.cuda.empty_cache = lambda: None  # no CUDA here
    try:
        assert zc._with_oom_retry(fn, 6, 1) == 3 and seen == [1, 2, 3]
        seen.clear()
        assert zc._with_oom_retry(fn, 9, 1) == 3 and seen == [1, 3]
        with pytest.raises(RuntimeError, match="boom"):
            zc._with_oom_retry(lambda s: (_ for _ in ()).throw(RuntimeError("boom")), 6, 1)
    finally:
        torch.cuda.empty_cache = orig


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    net, b = xnet(A_CONV_POOL), make_batch()
    cpu = compute_all(net, b)
    gpu_net = copy.deepcopy(net).cuda()
    gpu = compute_all(gpu_net, b.to("cuda"))
    for name in ALL:
        assert close(gpu[name].value, cpu[name].value, 1e-3), name
