"""TE-NAS / TEG-NAS proxies: ntk_cond, ntk_mse, linear_regions, teg.

Checks: equality with the official-style references (TE-NAS NTK loop, TEG-NAS MSE, TE-NAS /
TEG-NAS region counters on the transcribed thin supernet); independent slow versions (float64
``torch.func.jacrev`` Jacobian of the batch graph, float64 kernel regression, pattern counting
with Python sets); knas vs xautodl network; caller's model untouched; determinism; degenerate
cells; errors; the Jacobian shared between ntk_cond and ntk_mse; the teg rank sum."""
from __future__ import annotations

import copy
import functools
import math

import numpy as np
import pandas as pd
import pytest

from cells import A_CONV, A_DISC_1X1, A_MIX, A_NONE, A_SKIP
from cells import make_batch as _make_batch
from proxy_checks import assert_same, snapshot, xnet
import torch
from torch import nn

from knas import proxies
from knas.proxies import tenas
from knas.proxies.base import Context, ProxyBatch
from reference.official_tenas import (
    official_linear_regions,
    official_ntk_cond,
    official_teg_ntk,
    official_thin_net,
)

pytest.importorskip("xautodl.models")



make_batch = functools.partial(_make_batch, n=8, m=6)  # with a held-out batch (ntk_mse)



def compute(name, *args, **options):
    """``proxies.compute``, the NTK proxies on the one batch given (``batches=1``) unless told."""
    if name in ("ntk_cond", "ntk_mse"):
        options.setdefault("batches", 1)
    return proxies.compute(name, *args, **options)

# ---- NTK: official references ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["jacobian", "jvp"])
@pytest.mark.parametrize("arch", [A_CONV, A_SKIP, A_MIX])
def test_ntk_matches_official(arch, method):
    net, b = xnet(arch), make_batch()
    ctx = Context(net, b)
    cond = compute("ntk_cond", net, b, ctx)
    mse = compute("ntk_mse", net, b, ctx, method=method)
    assert cond.flag is None and mse.flag is None
    assert cond.value == pytest.approx(official_ntk_cond(net, b.x), rel=1e-4)
    teg_cond, teg_mse = official_teg_ntk(net, b.x, b.y, b.x_val, b.y_val, 10)
    assert cond.value == pytest.approx(teg_cond, rel=1e-4)
    assert mse.value == pytest.approx(teg_mse, rel=1e-4)
    # the training-batch Jacobian was computed once for both proxies
    assert ctx.hits[("ntk_jacobian", 8, "train", "weight", 0)] == 1
    # jvp never builds the validation rows
    assert (("ntk_jacobian_val", "train", "cell_weight", 0) in ctx._cache) == (method == "jacobian")


def test_ntk_mse_auto_takes_jvp_for_few_classes():
    """Few classes in a larger batch: auto -> forward-mode path, equal to TEG-NAS's float32 value."""
    g = torch.Generator().manual_seed(7)
    n = 24
    x, xv = torch.randn(n, 3, 32, 32, generator=g), torch.randn(n, 3, 32, 32, generator=g)
    y, yv = torch.randint(0, 4, (n,), generator=g), torch.randint(0, 10, (n,), generator=g)
    b = ProxyBatch(x, y, 10, xv, yv)  # 4 classes present in y: 2 * 4 < 24
    for arch in (A_CONV, A_MIX):
        net = xnet(arch)
        ctx = Context(net, b)
        mse = compute("ntk_mse", net, b, ctx)
        assert ("ntk_jacobian_val", "train", "cell_weight", 0) not in ctx._cache
        assert mse.flag is None
        assert mse.value == pytest.approx(official_teg_ntk(net, x, y, xv, yv, 10)[1], rel=1e-4)
        assert mse.value == pytest.approx(compute("ntk_mse", net, b, method="jacobian").value, rel=1e-4)


def test_ntk_knas_network_gives_xautodl_scores():
    model_mod = pytest.importorskip("knas.nb201.model")
    b = make_batch()
    torch.manual_seed(5)
    ours = model_mod.TinyNetwork(A_MIX, C=4, N=1, num_classes=10)
    ref = xnet(A_MIX, seed=5)
    for name in ("ntk_cond", "ntk_mse"):
        assert compute(name, ours, b).value == pytest.approx(compute(name, ref, b).value, rel=1e-6)


# ---- NTK: independent slow versions ---------------------------------------------------------------

def jacrev_jacobian(model, x, keep):
    """float64 Jacobian of sum_c logits[i] w.r.t. the kept weights through the train-mode batch graph,
    by ``torch.func.jacrev`` (BN without running-stat updates; same batch statistics)."""
    from torch.func import functional_call, jacrev

    m = copy.deepcopy(model).train().double()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.track_running_stats = False
            mod.running_mean = mod.running_var = mod.num_batches_tracked = None
    params = {k: v.detach() for k, v in m.named_parameters() if keep(k)}
    rest = {k: v.detach() for k, v in m.named_parameters() if not keep(k)}

    def f(p):
        out = functional_call(m, {**p, **rest}, (x.double(),))
        return (out[-1] if isinstance(out, tuple) else out).sum(1)  # (N,)

    jac = jacrev(f)(params)
    return torch.cat([jac[k].reshape(x.shape[0], -1) for k in params], 1)  # (N, P) float64


def test_jacobian_and_ntk_against_jacrev():
    net, b = xnet(A_CONV), make_batch()
    J = tenas.batch_graph_jacobian(net, b.x, tenas.is_weight)
    assert J.names == [k for k, _ in net.named_parameters() if "weight" in k]  # BN gammas in, biases out
    G64 = jacrev_jacobian(net, b.x, tenas.is_weight)
    torch.testing.assert_close(J.G.double(), G64, rtol=1e-4, atol=1e-5 * G64.abs().max().item())
    ev = np.linalg.eigvalsh((G64 @ G64.T).numpy())
    cond = compute("ntk_cond", net, b).value
    assert cond == pytest.approx(ev[-1] / ev[0], rel=1e-3)  # well conditioned at this size


def test_mse_against_float64_kernel_regression():
    net, b = xnet(A_MIX), make_batch()
    Gx = jacrev_jacobian(net, b.x, tenas.is_cell_weight).numpy()
    Gy = jacrev_jacobian(net, b.x_val, tenas.is_cell_weight).numpy()
    Yx = np.eye(10)[b.y.numpy()]
    Yx -= Yx.mean(0)
    Yy = np.eye(10)[b.y_val.numpy()]
    Yy -= Yy.mean(0)
    PY = (Gy @ Gx.T) @ np.linalg.solve(Gx @ Gx.T, Yx)
    expected = float(((PY - Yy) ** 2).sum(1).mean())
    assert compute("ntk_mse", net, b).value == pytest.approx(expected, rel=1e-3)


# ---- NTK: degenerate, model untouched, determinism, errors ------------------------------------------

@pytest.mark.parametrize("method", ["jacobian", "jvp"])
@pytest.mark.parametrize("arch", [A_DISC_1X1, A_NONE])
def test_ntk_disconnected_sentinels(arch, method):
    net, b = xnet(arch), make_batch()
    cond = compute("ntk_cond", net, b)
    assert (cond.value, cond.flag) == (100000.0, "sentinel")
    assert official_ntk_cond(net, b.x) == 100000.0
    mse = compute("ntk_mse", net, b, method=method)
    assert (mse.value, mse.flag) == (-1.0, "sentinel")
    assert official_teg_ntk(net, b.x, b.y, b.x_val, b.y_val, 10) == (-1, -1)


def test_ntk_all_skip_is_finite():
    net, b = xnet(A_SKIP, N=2), make_batch()
    for name in ("ntk_cond", "ntk_mse"):
        r = compute(name, net, b)
        assert math.isfinite(r.value) and r.value > 0 and r.flag is None


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_model_untouched(mode):
    net, b = xnet(A_CONV), make_batch()
    net.train(mode == "train")
    net.stem[0].weight.grad = torch.full_like(net.stem[0].weight, 0.5)
    snap = snapshot(net)
    ctx = Context(net, b)
    for name in ("ntk_cond", "ntk_mse"):
        compute(name, net, b, ctx)
    compute("ntk_mse", net, b, ctx, method="jvp")
    compute("linear_regions", net, b, ctx, n_samples=50, repeats=1)
    compute("linear_regions", net, b, ctx, protocol="full")
    assert_same(net, snap)


def test_deterministic_bitwise():
    b = make_batch()
    runs = [
        [compute(p, xnet(A_MIX, seed=s), b).value for p in ("ntk_cond", "ntk_mse", "linear_regions")]
        + [compute("ntk_mse", xnet(A_MIX, seed=s), b, method="jvp").value]
        for s in (3, 3, 4)
    ]
    assert runs[0] == runs[1]
    assert runs[0][:2] != runs[2][:2] and runs[0][3] != runs[2][3]  # the weights matter for the NTK proxies
    net = xnet(A_MIX)
    state = torch.get_rng_state()
    compute("linear_regions", net, b, n_samples=100, repeats=1)
    assert torch.equal(torch.get_rng_state(), state)  # thin nets are built on a forked RNG


def test_ntk_errors():
    net, b = xnet(A_CONV), make_batch()
    with pytest.raises(ValueError, match="larger than the batch"):
        compute("ntk_cond", net, b, n=9)
    with pytest.raises(ValueError, match="x_val"):
        compute("ntk_mse", net, ProxyBatch(b.x, b.y, 10))
    with pytest.raises(ValueError, match="needs labels"):
        compute("ntk_mse", net, ProxyBatch(b.x, None, 10, b.x_val, b.y_val))
    with pytest.raises(ValueError, match="unknown option"):
        compute("ntk_cond", net, b, eps=1e-3)
    with pytest.raises(ValueError, match="method = 'vjp' is invalid; allowed: auto, jacobian, jvp"):
        compute("ntk_mse", net, b, method="vjp")
    assert not proxies.get("ntk_cond").higher_is_better and not proxies.get("ntk_mse").higher_is_better
    assert proxies.get("ntk_mse").needs_labels and not proxies.get("ntk_cond").needs_labels


def test_first_n_examples():
    net, b = xnet(A_CONV), make_batch()
    sub = ProxyBatch(b.x[:5].clone(), b.y[:5].clone(), 10, b.x_val, b.y_val)
    for name in ("ntk_cond", "ntk_mse"):
        assert compute(name, net, b, n=5).value == compute(name, net, sub).value


# ---- linear regions --------------------------------------------------------------------------------

def test_thin_network_weights_equal_official():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        ours = tenas.ThinNetwork(A_MIX, 10)
        after_ours = torch.rand(1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        ref = official_thin_net(A_MIX, 10)
        after_ref = torch.rand(1)
    ref_params = [p for n, p in ref.named_parameters() if n != "arch_parameters"]
    assert len(ref_params) == len(list(ours.parameters()))
    for a, c in zip(ours.parameters(), ref_params):
        assert torch.equal(a, c)
    assert torch.equal(after_ours, after_ref)  # same RNG consumption (arch_parameters draw included)


@pytest.mark.parametrize("arch", [A_CONV, A_MIX, A_DISC_1X1])
def test_linear_regions_match_official_tenas(arch):
    net, b = xnet(arch), make_batch(n=16)
    ours = compute("linear_regions", net, b, Context(net, b, seed=2), nets=1)
    ref = official_linear_regions(net, b.x, n_samples=1000, repeats=3, nets=1, seed=2, num_classes=10, half=True)
    assert ours.flag is None and ours.value == round(ours.value)
    assert ours.value == pytest.approx(ref, rel=1e-4)


def test_linear_regions_match_official_tegnas_three_nets():
    net, b = xnet(A_CONV), make_batch(n=16)
    ours = compute("linear_regions", net, b, n_samples=300, repeats=3, nets=3, seed=4).value
    ref = official_linear_regions(net, b.x, n_samples=300, repeats=3, nets=3, seed=4, num_classes=10, half=False)
    assert ours == pytest.approx(ref, rel=1e-4)


def test_linear_regions_python_set_count():
    b = make_batch(n=16)
    crops = tenas.sample_crops(b.x, 400, 2, seed=9)
    torch.manual_seed(9)
    thin = official_thin_net(A_CONV, 10)
    patterns = set()
    for c in crops:  # official hooks: every nn.ReLU with 4-D input, sign of its output
        feats = []
        hooks = [
            m.register_forward_hook(lambda m, i, o: feats.append(torch.sign(o).reshape(o.shape[0], -1)))
            for m in thin.modules()
            if isinstance(m, nn.ReLU)
        ]
        with torch.no_grad():
            thin(c)
        for h in hooks:
            h.remove()
        codes = torch.cat(feats, 1)
        patterns.update(tuple(int(v) for v in row) for row in codes)
    ours = compute("linear_regions", xnet(A_CONV), b, n_samples=400, repeats=2, nets=1, seed=9).value
    assert ours == len(patterns)


def test_linear_regions_degenerate_and_knas_network():
    b = make_batch(n=16)
    none = compute("linear_regions", xnet(A_NONE), b, n_samples=200, repeats=1)
    assert (none.value, none.flag) == (1.0, None)  # only lastact, on an all-zero cell output
    disc = compute("linear_regions", xnet(A_DISC_1X1), b, n_samples=500)
    assert 1 < disc.value <= 512  # only the ReLUs on the 3x3 cell input vary: <= 2**9 patterns
    skip = compute("linear_regions", xnet(A_SKIP), b, n_samples=500)
    assert 1 < skip.value <= 512  # identity cell: lastact BN+ReLU on 9 units
    model_mod = pytest.importorskip("knas.nb201.model")
    knas_net = model_mod.TinyNetwork(A_MIX, C=4, N=1, num_classes=10)
    assert tenas.arch_of(knas_net) == A_MIX
    assert compute("linear_regions", knas_net, b, n_samples=300).value == compute(
        "linear_regions", xnet(A_MIX, seed=123), b, n_samples=300
    ).value  # the thin protocol uses the architecture only


def test_full_protocol_counts_distinct_patterns():
    net, b = xnet(A_CONV), make_batch(n=10)
    b.x[3] = b.x[0]  # a duplicated image has the same pattern
    m = copy.deepcopy(net).train()
    feats = []
    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.register_forward_hook(lambda mod, i, o: feats.append((o > 0).reshape(o.shape[0], -1)))
    with torch.no_grad():
        m(b.x)
    codes = torch.cat(feats, 1)
    expected = len({tuple(r.tolist()) for r in codes})
    r = compute("linear_regions", net, b, protocol="full")
    assert r.value == expected == 9  # saturates at the number of distinct images


def test_linear_regions_errors():
    b = make_batch()

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))

        def forward(self, x):
            return self.f(x)

    with pytest.raises(ValueError, match="protocol='full'"):
        compute("linear_regions", Plain(), b)
    assert compute("linear_regions", Plain(), b, protocol="full").value == 8
    net = xnet(A_CONV)
    with pytest.raises(ValueError, match="protocol"):
        compute("linear_regions", net, b, protocol="thick")
    with pytest.raises(ValueError, match="n_samples"):
        compute("linear_regions", net, b, n_samples=0)
    with pytest.raises(ValueError, match="nets"):
        compute("linear_regions", net, b, nets=1.5)
    assert proxies.get("linear_regions").higher_is_better


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    net, b = xnet(A_CONV), make_batch()
    for name, rel, opts in (("ntk_cond", 1e-3, {}), ("ntk_mse", 1e-3, {}), ("ntk_mse", 1e-3, {"method": "jvp"}),
                            ("linear_regions", 0, {})):
        cpu = compute(name, net, b, **opts).value
        gpu = compute(name, copy.deepcopy(net).cuda(), b.to("cuda"), **opts).value
        assert gpu == pytest.approx(cpu, rel=rel)


# ---- teg -------------------------------------------------------------------------------------------

def test_teg_rank_sum():
    spec = proxies.COMBINED["teg"] if proxies.load_all() else None
    assert spec.components == ("ntk_cond", "linear_regions", "ntk_mse") and not spec.higher_is_better
    table = pd.DataFrame(
        {
            "ntk_cond": [10.0, 20.0, 100000.0, 5.0, -3.0],
            "linear_regions": [500.0, 800.0, 100.0, 800.0, np.nan],
            "ntk_mse": [0.5, 0.2, -1.0, 0.9, 0.1],
        },
        index=["a", "b", "c", "d", "e"],
    )
    got = spec.fn(table)
    # dense ranks: cond (low) a2 b3 c4 d1 e5(<=0 -> worst); lr (high) a2 b1 c3 d1 e4(NaN -> worst);
    # mse (low) a3 b2 c5(-1 -> worst) d4 e1
    assert got.to_dict() == {"a": 7.0, "b": 6.0, "c": 12.0, "d": 6.0, "e": 10.0}
    assert got.name == "teg"
    with pytest.raises(ValueError, match="ntk_mse"):
        spec.fn(table.drop(columns="ntk_mse"))
