"""Tests of the NB201 search space (knas.nb201.space): strings, index order, connectivity,
mutation and sampling. Reference: ../shared/data/nb201_accuracy.csv (benchmark export)."""
from __future__ import annotations

import csv
import fnmatch
import importlib.util
import itertools
import random
import tomllib
from collections import Counter
from importlib import resources

import pytest

from knas.nb201 import space
from knas.nb201.space import (
    EDGES,
    OPS,
    all_archs,
    arch_of,
    decode,
    encode,
    index_of,
    is_disconnected,
    mutate,
    num_archs,
    parse,
    sample,
    to_str,
    validate,
)

from conftest import ROOT

BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def acc_rows(shared_data):
    with open(shared_data / "nb201_accuracy.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_constants():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert num_archs == 15625 == len(OPS) ** len(EDGES)


def test_parse_to_str_roundtrip():
    ops = parse(BEST_C10)
    assert ops == ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3")
    assert to_str(ops) == BEST_C10
    assert validate(BEST_C10) == BEST_C10
    assert validate(list(ops)) == BEST_C10
    # ops go to edges in EDGES order
    ops2 = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none")
    assert to_str(ops2) == "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"


@pytest.mark.parametrize(
    "bad, must_mention",
    [
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["edge 1<-0", "'conv_5x5'", "nor_conv_3x3"]),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv3x3~2|", ["edge 3<-2", "'nor_conv3x3'", "avg_pool_3x3"]),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", ["edge 2<-0", "'none~1'"]),
        ("|none~0|+|none~0|none~1|", ["3 nodes", "got 2"]),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", ["node 2", "2 inputs"]),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["node 1", "'|'"]),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", ["edge 1<-0", "'none'"]),
        ("", ["3 nodes"]),
    ],
)
def test_parse_errors_name_the_bad_part(bad, must_mention):
    with pytest.raises(ValueError) as e:
        parse(bad)
    msg = str(e.value)
    for part in must_mention:
        assert part in msg, (part, msg)
    assert "allowed ops" in msg


def test_validate_errors():
    with pytest.raises(ValueError, match="got int"):
        parse(3)
    with pytest.raises(ValueError, match="expected 6 edge ops"):
        validate(("none",) * 5)
    with pytest.raises(ValueError, match="edge 3<-1: unknown op 'max_pool_3x3'"):
        to_str(("none", "none", "none", "none", "max_pool_3x3", "none"))


def test_encode_decode_bijection():
    seen = set()
    for code in range(num_archs):
        s = decode(code)
        assert encode(s) == code
        seen.add(s)
    assert len(seen) == num_archs
    assert decode(0) == ALL_NONE and encode(ALL_NONE) == 0
    with pytest.raises(ValueError, match="0..15624"):
        decode(num_archs)


def test_index_order_matches_benchmark(acc_rows):
    archs = all_archs()
    assert len(archs) == num_archs == len(set(archs)) == len(acc_rows)
    for row in acc_rows:
        i, s = int(row["nb201_index"]), row["arch_str"]
        assert archs[i] == s
        assert arch_of(i) == s
        assert index_of(s) == i
    assert index_of(parse(arch_of(123))) == 123  # tuples accepted
    for bad in (-1, num_archs, 1.0, True):
        with pytest.raises(ValueError, match="NB201 index"):
            arch_of(bad)
    # all_archs returns a fresh list each time
    archs.clear()
    assert len(all_archs()) == num_archs


def test_order_file_is_package_data_and_regenerates(tmp_path, shared_data):
    path = resources.files("knas.nb201").joinpath(space.ORDER_FILE)
    assert path.is_file()
    # pyproject ships it as package data
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = cfg["tool"]["setuptools"]["package-data"]["knas.nb201"]
    assert any(fnmatch.fnmatch(space.ORDER_FILE, g) for g in globs)
    # the dev-time generator reproduces the shipped bytes
    spec = importlib.util.spec_from_file_location("make_nb201_order", ROOT / "tools" / "make_nb201_order.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "order.txt.gz"
    tool.main(["make_nb201_order.py", str(shared_data / "nb201_accuracy.csv"), str(out)])
    assert out.read_bytes() == path.read_bytes()


def _reference_disconnected(ops) -> bool:
    """Brute force: enumerate all 4 input->output paths (0-3, 0-1-3, 0-2-3, 0-1-2-3)."""
    e = dict(zip(EDGES, ops))
    paths = [[(3, 0)], [(1, 0), (3, 1)], [(2, 0), (3, 2)], [(1, 0), (2, 1), (3, 2)]]
    return not any(all(e[x] != "none" for x in p) for p in paths)


def test_is_disconnected_matches_chance_accuracy(acc_rows):
    disc = {r["arch_str"] for r in acc_rows if is_disconnected(r["arch_str"])}
    assert len(disc) == 341
    for ops in itertools.product(OPS, repeat=6):
        assert is_disconnected(ops) == _reference_disconnected(ops)
    # CIFAR-10: exactly the disconnected cells sit at chance (10 %)
    chance_c10 = {r["arch_str"] for r in acc_rows if float(r["cifar10_test_acc_200ep"]) == 10.0}
    assert chance_c10 == disc
    for r in acc_rows:
        if r["arch_str"] in disc:
            assert float(r["cifar100_test_acc_200ep"]) == 1.0
            assert abs(float(r["imagenet16_120_test_acc_200ep"]) - 100 / 120) < 1e-3
    assert is_disconnected(ALL_NONE)
    assert not is_disconnected(BEST_C10)
    # a path through skip connections only is connected; a cell with all edges into node 3 none is not
    assert not is_disconnected("|skip_connect~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    assert is_disconnected("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")


def test_mutate_changes_exactly_one_edge():
    rng = random.Random(0)
    neighbours = Counter()
    for _ in range(2400):
        new = mutate(BEST_C10, rng)
        diff = [k for k, (a, b) in enumerate(zip(parse(BEST_C10), parse(new))) if a != b]
        assert len(diff) == 1
        neighbours[new] += 1
    assert len(neighbours) == 6 * 4  # every one-edge neighbour is reachable
    assert min(neighbours.values()) > 40  # ~uniform (expected 100 each)
    # deterministic under a seed
    a = [mutate(ALL_NONE, random.Random(5)) for _ in range(3)]
    assert len(set(a)) == 1
    r1, r2 = random.Random(9), random.Random(9)
    assert [mutate(BEST_C10, r1) for _ in range(20)] == [mutate(BEST_C10, r2) for _ in range(20)]
    with pytest.raises(TypeError, match="random.Random"):
        mutate(BEST_C10, 3)


def test_sample():
    a = sample(100, seed=1)
    assert a == sample(100, seed=1)
    assert a != sample(100, seed=2)
    assert len(set(a)) == 100 and all(validate(s) == s for s in a)
    assert sorted(sample(num_archs, seed=0)) == sorted(all_archs())
    with pytest.raises(ValueError, match="unique=False"):
        sample(num_archs + 1, seed=0)
    rep = sample(num_archs + 1, seed=0, unique=False)
    assert len(rep) == num_archs + 1 and len(set(rep)) < len(rep)
    assert sample(0, seed=0) == []
    with pytest.raises(ValueError, match="non-negative"):
        sample(-1, seed=0)
    # roughly uniform over edges' ops
    counts = Counter(op for s in sample(3000, seed=3) for op in parse(s))
    assert all(abs(c / 18000 - 0.2) < 0.02 for c in counts.values())


def test_space_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, knas.nb201 as nb; assert len(nb.all_archs()) == 15625; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    env_path = str(ROOT / "src")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": env_path, "PATH": ""}, timeout=120)
    assert r.returncode == 0, r.stderr
    import knas.nb201 as nb

    assert nb.TinyNetwork.__module__ == "knas.nb201.model"  # lazy names resolve
    with pytest.raises(AttributeError, match="no attribute 'Tiny'"):
        nb.Tiny
