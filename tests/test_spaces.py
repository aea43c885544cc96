"""Conformance of every registered space to the interface (knas.spaces.base.Space), and the NB201
adapter giving exactly what knas.nb201 gives."""
from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
import torch

import knas.nb201 as nb201
from knas.spaces.flops import count_flops, count_params
from knas.spaces import Space, get_space, names

SMALL = {"nb201": {"C": 4, "N": 1}, "nats_sss": {}, "nb101": {"stem_channels": 8, "cells_per_stack": 1}}
FOREIGN = {  # an architecture string of another space, per space
    "nb201": "8:16:24:32:40",
    "nats_sss": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "nb101": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
}


def test_registry():
    assert names() == ("nb201", "nats_sss", "nb101")
    assert all(isinstance(get_space(n), Space) and get_space(n).name == n for n in names())
    assert get_space("nb101") is get_space("nb101")
    with pytest.raises(ValueError, match="unknown search space 'darts'; allowed: nb201, nats_sss, nb101"):
        get_space("darts")


def test_strings_need_no_torch():
    code = ("import sys, random; from knas.spaces import get_space\n"
            "for n in ('nb201', 'nats_sss', 'nb101'):\n"
            "    s = get_space(n); a = s.sample_n(3, 0, unique=False)[0]; s.validate(a); s.mutate(a, random.Random(0))\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.parametrize("name", ["nb201", "nats_sss", "nb101"])
def test_interface(name):
    space = get_space(name)
    archs = space.sample_n(6, seed=4)
    assert archs == space.sample_n(6, seed=4) and len(set(archs)) == 6
    assert space.sample_n(6, seed=4, unique=False) == [space.sample(r) for r in [random.Random(4)] for _ in range(6)]
    for arch in archs:
        assert space.validate(arch) == arch and space.is_valid(arch)
        assert isinstance(space.is_degenerate(arch), bool)
        assert space.arch_of(space.index_of(arch)) == arch
        assert isinstance(space.key(arch), (int, str))
        child = space.mutate(arch, random.Random(1))
        assert child == space.mutate(arch, random.Random(1)) and space.validate(child) == child
    with pytest.raises(TypeError, match="random.Random"):
        space.mutate(archs[0], 1)
    with pytest.raises(ValueError, match={"nb201": "NB201", "nats_sss": "SSS", "nb101": "NB101"}[name]):
        space.validate(FOREIGN[name])
    assert not space.is_valid(FOREIGN[name])
    with pytest.raises(ValueError, match="cannot draw"):
        space.sample_unique(space.size + 1, random.Random(0))
    with pytest.raises(ValueError, match=f"space '{name}' has no network option depth"):
        space.build_network(archs[0], depth=2)
    # network: logits, counts equal to the closed form, the same weights under a seed
    k = 5
    net = space.build_network(archs[0], num_classes=k, input_size=16, seed=0, **SMALL[name])
    again = space.build_network(archs[0], num_classes=k, input_size=16, seed=0, **SMALL[name])
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, k)
    cost = space.cost(archs[0], num_classes=k, input_size=16, **SMALL[name])
    assert (cost.params, cost.flops) == (count_params(net), count_flops(net, (1, 3, 16, 16)))
    assert space.dataset_shape("cifar10").num_classes == 10
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        space.cost(archs[0], num_classes=0)


def test_nb201_adapter_is_knas_nb201():
    space = get_space("nb201")
    assert space.sample_n(40, 7) == nb201.sample(40, 7)
    assert space.sample_n(40, 7, unique=False) == nb201.sample(40, 7, unique=False)
    from knas.search import get_space as search_space  # the search layer's space is this one

    r1, r2, r3 = random.Random(2), random.Random(2), random.Random(2)
    search = search_space("nb201")
    assert search is space
    arch = space.sample(r1)
    assert arch == search.sample(r2) == nb201.decode(r3.randrange(15625))
    for _ in range(30):
        child = space.mutate(arch, r1)
        assert child == search.mutate(arch, r2) == nb201.mutate(arch, r3)
        arch = child
    assert list(space.all_archs()) == nb201.all_archs()
    for arch in nb201.sample(5, 0):
        assert (space.index_of(arch), space.is_degenerate(arch)) == (nb201.index_of(arch), nb201.is_disconnected(arch))
        c = space.cost(arch, num_classes=100)
        assert (c.params, c.flops) == nb201.nb201_cost(arch, 16, 5, 100)
    arch = nb201.sample(1, 3)[0]
    a, b = space.build_network(arch, seed=1, C=8, N=2), nb201.build_network(arch, C=8, N=2, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="divisible by 4"):
        space.cost(arch, input_size=18)
