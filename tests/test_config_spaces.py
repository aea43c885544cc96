"""Bad configs for the search spaces stop at parse time with the key and the allowed values."""
from __future__ import annotations

import pathlib

import pytest
import yaml

from knas.config import ConfigError, check_config, space_options
from knas.spaces import names

SCHEMA = yaml.safe_load((pathlib.Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
C3 = "conv3x3-bn-relu"


def test_space_enum_matches_the_registry():
    assert SCHEMA["properties"]["space"]["properties"]["name"]["enum"] == list(names())


@pytest.mark.parametrize("config, match", [
    ({"space": {"name": "darts"}}, r"space.name = 'darts' is unknown; allowed: nb201, nats_sss, nb101"),
    ({"space": {"name": "nb101"}, "sample": {"archs": [NB201_ARCH]}},
     r"sample.archs\[0\] = .* \(space.name = 'nb101'\): invalid NB101 architecture"),
    ({"space": {"name": "nats_sss"}, "sample": {"archs": ["8:16:24:32:40", "8:12:24:32:40"]}},
     r"sample.archs\[1\] = '8:12:24:32:40' .*layer 1 channel count '12' is not in the set.*8, 16, 24"),
    ({"space": {"name": "nb101"}, "sample": {"archs": ["111110" "10000" "1000" "100" "10" "1:" + ",".join([C3] * 5)]}},
     r"sample.archs\[0\].*10 edges after pruning, at most 9 allowed"),
    ({"space": {"name": "nb201"}, "sample": {"archs": ["8:16:24:32:40"]}}, r"sample.archs\[0\].*invalid NB201"),
    ({"space": {"name": "nb201"}, "truth": {"benchmark": "nb101", "path": "x.tfrecord"}},
     r"truth.benchmark = 'nb101' holds nb101 architectures, but space.name = 'nb201'; allowed for nb201: nb201, "
     r"nats_tss, table, train"),
    ({"space": {"name": "nats_sss"}, "truth": {"benchmark": "nats_tss"}}, r"allowed for nats_sss: nats_sss, table"),
    ({"space": {"name": "nb101", "stem_channels": 0}}, r"config key space: stem_channels must be a positive"),
    ({"space": {"name": "nats_sss"}, "scoring": {"proxies": ["linear_regions"]}, "select": {"proxy": "linear_regions"}},
     r"scoring.options.linear_regions.protocol = 'thin'.*set it to 'full'"),
    ({"space": {"name": "nb101"}, "search": {"runs": {"t": {"strategy": "teg_reinforce"}}}},
     r"search.runs.t.strategy = 'teg_reinforce'.*not available for space.name = 'nb101'"),
    ({"space": {"name": "nats_sss"}, "search": {"runs": {"f": {"strategy": "fpnas_teg"}}}},
     r"search.runs.f.strategy = 'fpnas_teg'.*not available for space.name = 'nats_sss'"),
    ({"space": {"name": "nb101"}, "search": {"runs": {"p": {"strategy": "tenas_teg"}}}},
     r"search.runs.p.strategy = 'tenas_teg': a supernet search, and space.name = 'nb101' has no supernet.*one: nb201"),
])
def test_bad_space_configs(config, match):
    with pytest.raises(ConfigError, match=match):
        check_config(config)


def test_space_options():
    assert space_options({"space": {"name": "nb201", "C": 8, "N": 1, "stem_channels": 16}}) == {"C": 8, "N": 1}
    assert space_options({"space": {"name": "nb101", "C": 16, "stem_channels": 16}}) == {
        "stem_channels": 16, "num_stacks": 3, "cells_per_stack": 3}
    assert space_options({"space": {"name": "nats_sss", "C": 16, "N": 5}}) == {}
    check_config({"space": {"name": "nats_sss"}, "sample": {"archs": ["8:16:24:32:40", "8:8:8:8:8", "64:64:64:64:64"]},
                  "scoring": {"proxies": ["mgm"]}})
