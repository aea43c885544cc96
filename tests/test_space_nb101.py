"""NAS-Bench-101 space (knas.spaces.nb101): specs, pruning, the benchmark's graph hash and
parameter count on every architecture of ../shared/data/nb101.csv, canonical strings, the
enumeration (up to 6 vertices here; the full 423,624 in benchmarks/nb101_enumerate.py), REA/NASWOT
moves, the network."""
from __future__ import annotations

import base64
import itertools
import json
import math
import pickle
import random
from collections import Counter

import pandas as pd
import pytest
import torch

from knas.spaces.flops import count_flops, count_params
from knas.spaces import get_space
from knas.spaces import nb101

SPACE = get_space("nb101")
C3, C1, MP = nb101.OPS


@pytest.fixture(scope="module")
def table(shared_data):
    df = pd.read_csv(shared_data / "nb101.csv", dtype={"adj_upper_bits": str})
    df = df.drop_duplicates("module_hash").reset_index(drop=True)
    df["arch"] = [b + ":" + ",".join(o.split("|")[1:-1]) for b, o in zip(df.adj_upper_bits, df.ops)]
    return df


def test_hash_of_every_arch_in_the_table(table):
    assert len(table) == 1320
    got = [nb101.graph_hash(SPACE.parse(a)) for a in table.arch]
    assert got == list(table.module_hash)
    # the hash is invariant under relabelling: the canonical form has the same key
    assert [SPACE.key(a) for a in table.arch[::10]] == list(table.module_hash[::10])


def test_trainable_params_of_every_arch_in_the_table(table):
    # the network of each spec exactly as listed
    assert [nb101.network_cost(SPACE.parse(a)).params for a in table.arch] == list(table.trainable_params)
    # the specs read from the benchmark's own files are its representatives: canonical strings
    benchmark = table[~table.source.str.contains("zc_nasbench101")]
    assert len(benchmark) == 1030
    assert [SPACE.validate(a) for a in benchmark.arch] == list(benchmark.arch)
    assert [SPACE.cost(a).params for a in benchmark.arch] == list(benchmark.trainable_params)


def test_strings_pruning_and_validation():
    # 7 vertices; vertex 5 feeds nothing and vertex 1 is fed by nothing -> both pruned
    m = [[0, 0, 1, 0, 0, 0, 0],
         [0, 0, 1, 0, 0, 0, 0],
         [0, 0, 0, 1, 0, 0, 0],
         [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0],
         [0, 0, 0, 0, 0, 0, 0]]
    ops = ["input", C1, C3, MP, C3, C1, "output"]
    spec = nb101.make_spec(m, ops)
    pruned = nb101.prune(spec)
    assert pruned.ops == ("input", C3, MP, C3, "output") and pruned.num_edges == 4
    assert SPACE.validate((m, ops)) == "1000100101:conv3x3-bn-relu,maxpool3x3,conv3x3-bn-relu"
    assert SPACE.validate("1:") == "1:" and SPACE.arch_of(0) == "1:"
    # isomorphic specs share one canonical string (vertices 1 and 2 swapped)
    a = SPACE.validate((((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)), [C1, C3]))
    b = SPACE.validate((((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)), [C3, C1]))
    assert a == b == "110011:conv3x3-bn-relu,conv1x1-bn-relu"
    ten = "1" * 21 + ":" + ",".join([C3] * 5)  # complete 7-vertex DAG: 21 edges
    # chain 0->1->...->6 plus 0->2, 0->3, 0->4, 0->5: 10 edges, nothing to prune
    nine_plus_one = "111110" "10000" "1000" "100" "10" "1:" + ",".join([C3] * 5)
    for bad, part in [
        ("1111111111:" + ",".join([C3] * 3), "10 edges after pruning, at most 9"),
        (ten, "21 edges"),
        ("0:", "no input->output path"),
        ("1111:conv3x3-bn-relu", "4 adjacency bits"),
        ("111:conv3x3", "vertex 1 has unknown op 'conv3x3'"),
        ("111:" + C3 + "," + C3, "2 op\\(s\\) for 3 vertices"),
        ("1x1:" + C3, "adjacency bits"),
        ("111", "no ':'"),
        ("1" * 28 + ":" + ",".join([C3] * 6), "28 adjacency bits"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", "NB101"),
        ("8:16:24:32:40", "NB101"),
    ]:
        with pytest.raises(ValueError, match=part):
            SPACE.validate(bad)
    assert SPACE.is_valid(nine_plus_one) is False
    with pytest.raises(ValueError, match="10 edges after pruning"):
        SPACE.validate(nine_plus_one)
    with pytest.raises(ValueError, match="below the diagonal"):
        nb101.make_spec([[0, 1], [1, 0]], [])


def test_enumeration_up_to_five_vertices_by_hashing():
    """The generation order of the benchmark's generate_graphs.py, deduplicated by the graph hash,
    equals the start of the enumeration (graphs of 2..5 vertices: index order and representatives)."""
    want = []
    seen = set()
    for n in range(2, 6):
        for mask in range(2 ** (n * (n - 1) // 2)):
            m = [[int(x < y and (mask >> (x + y * (y - 1) // 2)) & 1) for y in range(n)] for x in range(n)]
            if sum(map(sum, m)) > 9 or any(not any(m[v]) for v in range(n - 1)) or \
                    any(not any(m[u][v] for u in range(n)) for v in range(1, n)):
                continue
            for lab in itertools.product(range(3), repeat=n - 2):
                spec = nb101.Spec(tuple(map(tuple, m)), ("input", *(nb101.OPS[k] for k in lab), "output"))
                h = nb101.graph_hash(spec)
                if h not in seen:
                    seen.add(h)
                    want.append(nb101.to_str(spec))
    got = [SPACE.arch_of(i) for i in range(len(want))]
    assert got == want
    assert all(SPACE.validate(a) == a for a in want[::10])
    assert nb101.to_str(nb101.Spec(*_first_six())) == SPACE.arch_of(len(want))
    assert SPACE.size == 423624


def _first_six():
    """The first 6-vertex graph of the generation order: the lowest full-DAG bitmask, all conv3x3."""
    n = 6
    for mask in range(2 ** 15):
        m = [[int(x < y and (mask >> (x + y * (y - 1) // 2)) & 1) for y in range(n)] for x in range(n)]
        if sum(map(sum, m)) <= 9 and all(any(m[v]) for v in range(n - 1)) and \
                all(any(m[u][v] for u in range(n)) for v in range(1, n)):
            return tuple(map(tuple, m)), ("input", *[C3] * 4, "output")


def test_sampling_and_mutation():
    archs = SPACE.sample_n(50, 0)
    assert archs == SPACE.sample_n(50, 0) and len(set(archs)) == 50
    ref = random.Random(0)
    assert archs == [SPACE.arch_of(i) for i in ref.sample(range(423624), 50)]
    rng = random.Random(1)
    for arch in archs[:20]:
        # NASWOT's mutate_arch: one edge flip into the space, ops kept
        child = SPACE.mutate(arch, rng)
        assert SPACE.validate(child) == child and child != arch
        p, c = SPACE.spec(arch), SPACE.spec(child)
        assert not Counter(c.ops) - Counter(p.ops)  # edges flip, ops stay (pruning may drop some)
        assert c.num_vertices <= p.num_vertices
        # the NB101 paper's mutate_spec and random_spec stay in the space
        assert SPACE.is_valid(SPACE.mutate_spec(arch, rng))
    assert SPACE.mutate("1:", rng) == "1:"  # no single flip keeps a path
    spec_draws = [SPACE.random_spec(random.Random(s)) for s in range(10)]
    assert all(SPACE.validate(a) == a for a in spec_draws)
    # NASWOT mutation, replayed: shuffled upper-triangle positions, first valid flip
    arch = archs[0]
    r1, r2 = random.Random(9), random.Random(9)
    spec = SPACE.spec(arch)
    n = spec.num_vertices
    coords = [(i, j) for i in range(n) for j in range(i + 1, n)]
    r2.shuffle(coords)
    for i, j in coords:
        m = [list(r) for r in spec.matrix]
        m[i][j] = 1 - m[i][j]
        if SPACE.is_valid((m, spec.ops)):
            assert SPACE.mutate(arch, r1) == SPACE.validate((m, spec.ops))
            break


@pytest.mark.parametrize("arch", [
    "1:",
    "101:conv1x1-bn-relu",
    "1111001101:conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu",
    "100000100001001101111:maxpool3x3,maxpool3x3,maxpool3x3,maxpool3x3,maxpool3x3",
    "100100100011000001101:conv1x1-bn-relu,conv1x1-bn-relu,conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu",
])
def test_network_shapes_counts_and_determinism(arch):
    arch = SPACE.validate(arch)
    opts = {"stem_channels": 16, "cells_per_stack": 1}
    net = SPACE.build_network(arch, num_classes=7, input_size=20, seed=3, **opts)
    again = SPACE.build_network(arch, num_classes=7, input_size=20, seed=3, **opts)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    x = torch.randn(2, 3, 20, 20)
    assert net(x).shape == (2, 7)
    cost = SPACE.cost(arch, 7, 20, **opts)
    assert (cost.params, cost.flops) == (count_params(net), count_flops(net, (1, 3, 20, 20)))
    with pytest.raises(ValueError, match="no network option width"):
        SPACE.cost(arch, width=3)


def test_full_size_network_counts_on_the_table(table):
    """Three archs of the table built at the benchmark's size (128 stem channels, 3 x 3 cells)."""
    rows = table[~table.source.str.contains("zc_nasbench101")].sort_values("trainable_params")
    for _, r in rows.iloc[[0, len(rows) // 2, -1]].iterrows():
        net = SPACE.build_network(r.arch)
        assert count_params(net) == r.trainable_params


# ---- ground truth from the benchmark's files (knas.truth.nb101) -----------------------------------

def _dummy_runs(shared_data):
    """The 30 archs of NASLib's nb101_dummy.pkl in nb101.csv: 3 real repeats each."""
    df = pd.read_csv(shared_data / "nb101.csv", dtype={"adj_upper_bits": str})
    df = df[df.source.str.contains("nb101_dummy")]
    runs = {}
    for (h, rep), g in df[df["agg"] == "single_repeat"].groupby(["module_hash", "repeat"]):
        v = dict(zip(g.metric, g.value))
        runs.setdefault(h, []).append({
            "halfway_training_time": v["training_time_s"] / 2, "halfway_train_accuracy": 0.5,
            "halfway_validation_accuracy": v["halfway_validation_accuracy"] / 100,
            "halfway_test_accuracy": v["halfway_test_accuracy"] / 100,
            "final_training_time": v["training_time_s"], "final_train_accuracy": v["train_accuracy"] / 100,
            "final_validation_accuracy": v["validation_accuracy"] / 100, "final_test_accuracy": v["test_accuracy"] / 100,
        })
    first = df.drop_duplicates("module_hash").set_index("module_hash")
    means = df[df["agg"] == "mean_of_3_repeats"].pivot(index="module_hash", columns="metric", values="value")
    return runs, first, means


def _write_tfrecord(path, runs, first, extra_epochs=()):
    from knas.truth.nb101 import encode_metrics, write_tfrecord

    rows = []
    for h, reps in runs.items():
        r = first.loc[h]
        n = int(r.n_vertices)
        bits = iter(r.adj_upper_bits)
        m = [[int(next(bits)) if j > i else 0 for j in range(n)] for i in range(n)]
        raw_adj = "".join(str(v) for row in m for v in row)
        for epochs in (108, *extra_epochs):
            for rep in reps:
                evals = [{"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1,
                          "validation_accuracy": 0.1, "test_accuracy": 0.1}]
                for when, ep in (("halfway", epochs / 2), ("final", float(epochs))):
                    scale = 1.0 if epochs == 108 else 0.5
                    evals.append({"current_epoch": ep, "training_time": rep[f"{when}_training_time"] * scale,
                                  "train_accuracy": rep[f"{when}_train_accuracy"] * scale,
                                  "validation_accuracy": rep[f"{when}_validation_accuracy"] * scale,
                                  "test_accuracy": rep[f"{when}_test_accuracy"] * scale})
                raw = base64.b64encode(encode_metrics(evals, int(r.trainable_params), 1.0)).decode("ascii")
                rows.append(json.dumps([h, epochs, raw_adj, r.ops.replace("|", ","), raw]).encode("utf-8"))
    write_tfrecord(path, rows)


def test_truth_tfrecord_and_pickle(shared_data, tmp_path):
    from knas.truth.base import TruthError
    from knas.truth.nb101 import NB101Truth, NB101TruthError, crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    runs, first, means = _dummy_runs(shared_data)
    assert len(runs) == 30 and all(len(r) == 3 for r in runs.values())
    path = tmp_path / "nasbench_tiny.tfrecord"
    _write_tfrecord(path, runs, first, extra_epochs=(12,))
    truth = NB101Truth(path, verify_data=True)
    assert truth.epochs == [12, 108]
    for h in list(runs)[:10]:
        r = first.loc[h]
        arch = r.adj_upper_bits + ":" + ",".join(r.ops.split("|")[1:-1])
        iso = SPACE.validate(arch)
        assert truth.final_accuracy(arch, split="valid") == pytest.approx(means.loc[h, "validation_accuracy"], abs=1.1e-4)
        assert truth.final_accuracy(iso, split="test") == pytest.approx(means.loc[h, "test_accuracy"], abs=1.1e-4)
        assert truth.trainable_parameters(arch) == r.trainable_params == SPACE.cost(arch).params
        times = [x["final_training_time"] for x in runs[h]]
        q = truth.query(arch, "cifar10")
        assert q["train_seconds_108ep"] == truth.train_seconds(arch) == pytest.approx(sum(times) / 3)
        assert q["valid_acc_12ep"] == pytest.approx(q["valid_acc"] / 2)
        assert truth.accuracy_at(arch, 54, split="test") == pytest.approx(
            100 * sum(x["halfway_test_accuracy"] for x in runs[h]) / 3)
        with pytest.raises(NB101TruthError, match="records epochs 54 and 108"):
            truth.accuracy_at(arch, 1)
    h0 = next(iter(runs))
    a0 = first.loc[h0].adj_upper_bits + ":" + ",".join(first.loc[h0].ops.split("|")[1:-1])
    assert NB101Truth(path, agg="max").final_accuracy(a0, split="test") == pytest.approx(
        max(100 * x["final_test_accuracy"] for x in runs[h0]))
    assert NB101Truth(path, agg="repeat:1").final_accuracy(a0) == pytest.approx(100 * runs[h0][1]["final_validation_accuracy"])
    only = NB101Truth(path, only=[a0])
    assert list(only.fixed) == [h0]
    with pytest.raises(TruthError, match="is not in the 'nb101' ground truth"):
        only.final_accuracy(SPACE.arch_of(5))
    with pytest.raises(TruthError, match="unknown dataset .cifar100."):
        truth.final_accuracy(a0, "cifar100")
    # NASLib's pickle layout, same numbers
    pkl = tmp_path / "nb101.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump({h: (truth.fixed[h], truth.computed[h]) for h in truth.fixed}, fh)
    assert NB101Truth(pkl).query(a0, "cifar10") == truth.query(a0, "cifar10")
    assert math.isnan(truth.query(a0, "cifar10")["valid_acc_36ep"])
    # corrupt / truncated / foreign files stop with the record
    raw = path.read_bytes()
    (tmp_path / "cut.tfrecord").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NB101TruthError, match="truncated"):
        NB101Truth(tmp_path / "cut.tfrecord")
    (tmp_path / "x.tfrecord").write_bytes(b"hello world, not a benchmark")
    with pytest.raises(NB101TruthError, match="length CRC mismatch"):
        NB101Truth(tmp_path / "x.tfrecord")
    flipped = bytearray(raw)
    flipped[40] ^= 1
    (tmp_path / "flip.tfrecord").write_bytes(bytes(flipped))
    with pytest.raises(NB101TruthError, match="data CRC mismatch"):
        NB101Truth(tmp_path / "flip.tfrecord", verify_data=True)
    with pytest.raises(NB101TruthError, match="does not exist"):
        NB101Truth(tmp_path / "missing.tfrecord")


def test_truth_backends_through_load_oracle(shared_data, tmp_path):
    from knas.truth import TruthError, check_benchmark_path, load_oracle, truth_table

    runs, first, means = _dummy_runs(shared_data)
    path = tmp_path / "nasbench_only108.tfrecord"
    _write_tfrecord(path, runs, first)
    assert check_benchmark_path("nb101", path) == path
    with pytest.raises(TruthError, match="must be nasbench_only108.tfrecord"):
        check_benchmark_path("nb101", tmp_path)
    with pytest.raises(TruthError, match="holds nb101 architectures, not space.name = 'nb201'"):
        load_oracle("nb101", path, space="nb201")
    oracle = load_oracle("nb101", path, agg="max")
    archs = [first.loc[h].adj_upper_bits + ":" + ",".join(first.loc[h].ops.split("|")[1:-1]) for h in list(runs)[:4]]
    df = truth_table(oracle, archs, "cifar10")
    assert list(df.columns[:4]) == ["arch_id", "arch", "valid_acc", "test_acc"]
    assert list(df.arch_id) == [SPACE.index_of(a) for a in archs]
    # the table backend reads the shared table's tidy layout: the same 30 archs agree
    table = load_oracle("table", shared_data / "nb101.csv", space="nb101")
    mean = load_oracle("nb101", path)
    for a in archs:
        assert table.query(a, "cifar10")["test_acc"] == pytest.approx(mean.query(a, "cifar10")["test_acc"], abs=1.1e-4)
    assert len(table.rows) == 1320
    with pytest.raises(TruthError, match="unknown dataset 'cifar100'"):
        truth_table(table, archs, "cifar100")
