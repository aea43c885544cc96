"""Shared proxy machinery: the working copy every proxy scores on, and its exact fast pooling.

``working_copy`` swaps NAS-Bench-201's ``AvgPool2d(3, 1, 1, count_include_pad=False)`` for
``ExactAvgPool3x3`` (window sum by a depthwise ones-convolution / window count). The claim is
bit-identity with PyTorch's pooling, in every mode the proxies use it: forward, backward, double
backward (GraSP), forward-mode AD (ntk_mse's jvp path) and vmap (per-example fallbacks)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from knas.nb201 import build_network
from knas.proxies.base import ExactAvgPool3x3, working_copy

SHAPES = [(64, 16, 32, 32), (50, 32, 16, 16), (64, 64, 8, 8), (3, 5, 7, 9), (1, 4, 1, 1), (2, 3, 2, 5)]
A_POOL = "|avg_pool_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_1x1~2|"


def ref_pool(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_exact_pool_bit_identical(shape, dtype):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=g, dtype=dtype).requires_grad_()
    t = torch.randn(shape, generator=g, dtype=dtype)
    pool = ExactAvgPool3x3()
    ref, out = ref_pool(x), pool(x)
    assert torch.equal(ref, out)
    # backward, and the gradient of a gradient (GraSP's Hessian-vector product goes through it)
    grads, hvps = [], []
    for y in (ref, out):
        g1 = torch.autograd.grad((y.square() * t).sum(), x, create_graph=True)[0]
        grads.append(g1)
        hvps.append(torch.autograd.grad((g1 * t).sum(), x)[0])
    assert torch.equal(*grads) and torch.equal(*hvps)
    # forward-mode AD
    _, jvp_ref = torch.func.jvp(ref_pool, (x.detach(),), (t,))
    _, jvp_out = torch.func.jvp(pool, (x.detach(),), (t,))
    assert torch.equal(jvp_ref, jvp_out)
    # vmap over a leading dimension (single examples, as the per-example fallbacks do)
    assert torch.equal(torch.func.vmap(lambda z: ref_pool(z[None])[0])(x.detach()),
                       torch.func.vmap(lambda z: pool(z[None])[0])(x.detach()))


def test_exact_pool_other_dtypes_fall_back():
    x = torch.randn(2, 3, 6, 6).to(torch.bfloat16)
    assert torch.equal(ExactAvgPool3x3()(x), ref_pool(x))


def test_working_copy_swaps_only_nb201_pools_and_changes_nothing():
    torch.manual_seed(0)
    net = build_network(A_POOL, C=4, N=1, num_classes=10, seed=3)
    extra = nn.Sequential(nn.AvgPool2d(3, 1, 1), nn.AvgPool2d(3, 1, 1, count_include_pad=False, ceil_mode=True))
    net.extra = extra  # not NB201's op: kept as they are
    copy = working_copy(net)
    swapped = [k for k, m in copy.named_modules() if isinstance(m, ExactAvgPool3x3)]
    assert len(swapped) == 3 * 3  # three avg_pool_3x3 edges in each of the 3 cells (N=1)
    assert all(type(m) is nn.AvgPool2d for m in copy.extra)  # other pooling configurations kept
    assert not any(isinstance(m, ExactAvgPool3x3) for m in net.modules())  # caller's model unchanged
    assert [k for k, _ in copy.named_parameters()] == [k for k, _ in net.named_parameters()]
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    net.train(), copy.train()
    outs = []
    for m in (net, copy):
        logits = m(x)
        grads = torch.autograd.grad(logits.square().sum(), list(m.parameters()))
        outs.append((logits.detach(), grads))
    assert torch.equal(outs[0][0], outs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(outs[0][1], outs[1][1]))


def test_exact_pool_self_check_runs_under_no_grad():
    """The one-time check may first run inside a no-grad forward (naswot): it must still work."""
    from knas.proxies import base

    base._exact_pool_ok.cache_clear()
    with torch.no_grad():
        x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
        assert torch.equal(ExactAvgPool3x3()(x), ref_pool(x))
    assert base._exact_pool_ok(torch.float64)


# ---- the registry's declarations ------------------------------------------------------------------

def test_catalog_is_the_registry_without_functions():
    """catalog.json (read at parse time, without torch) says what the registry says; after a
    registration changes: python tools/make_proxy_catalog.py"""
    import json

    from knas import proxies
    from knas.proxies.registry import CATALOG

    assert proxies.build_catalog() == json.loads(CATALOG.read_text()), "run python tools/make_proxy_catalog.py"
    live = {**proxies.load_all(), **proxies.COMBINED}
    assert set(proxies.catalog()) == set(live)
    for name, spec in proxies.catalog().items():
        assert spec.fn is None and spec.higher_is_better == live[name].higher_is_better, name


def test_shares_and_pass_groups():
    from knas import proxies

    assert proxies.spec("knas_code").shares == ("per_example_grads",)
    assert proxies.spec("mgm").pass_group == "per_example_grads" and proxies.spec("params").pass_group == "weights"
    assert proxies.spec("ntk_mse").needs_val and not proxies.spec("ntk_cond").needs_val
    groups = proxies.pass_groups(["naswot", "mgm", "ntk_cond", "fisher", "gt_kernel", "ntk_mse", "snip", "params"])
    assert groups == {"relu_code_grams": ["naswot"], "per_example_grads": ["mgm", "gt_kernel"],
                      "ntk_jacobian": ["ntk_cond", "ntk_mse"], "ce_grad": ["fisher", "snip"], "weights": ["params"]}
    assert proxies.members("teg") == ("ntk_cond", "linear_regions", "ntk_mse") and proxies.members("mgm") == ("mgm",)
    with pytest.raises(ValueError, match="combined score"):
        proxies.pass_groups(["teg"])
    with pytest.raises(ValueError, match="unknown proxy 'nope'; allowed: "):
        proxies.spec("nope")


def test_context_get_and_plans():
    from knas.proxies.base import Context, Keys, ProxyBatch

    b = ProxyBatch(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), 10)
    ctx = Context(torch.nn.Linear(2, 2), b, planned=["mgm", "fisher"])
    assert ctx.get(Keys.ce_grad(2, 1, True)) is None and ctx.hits == {}
    ctx.store(Keys.ce_grad(2, 1, True), "pass")
    assert ctx.get(Keys.ce_grad(2, 1, True)) == "pass" and ctx.hits == {("ce_grad", 2, 1, True): 1}
    assert ctx.plans("fisher_stats") and ctx.plans("per_example_grads")
    assert not ctx.plans("per_example_grads", besides="mgm") and not ctx.plans("ntk_jacobian")
