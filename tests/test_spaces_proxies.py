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
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 16, 16, generator=g, dtype=dtype)
    y = torch.randint(0, 10, (64,), generator=g)
    return P.ProxyBatch(x, y, 10, torch.randn(64, 3, 16, 16, generator=g, dtype=dtype),
                        torch.randint(0, 10, (64,), generator=g))


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
