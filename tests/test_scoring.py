"""knas.scoring and the score files of the study: per-group jobs, one table per proxy named by its
options, partial rows kept and resumed, CUDA out-of-memory retry (simulated: no GPU here)."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from cells import A_CONV, A_MIX, A_NONE, A_SKIP
from knas import proxies as P
from knas import scoring
from knas.study.score_files import options_key, parse_score_file, score_file, score_jobs

ARCHS = [A_CONV, A_MIX, A_SKIP, A_NONE]
CFG = scoring.ScoringConfig(C=4, N=1, batch_size=16, device="cpu", options={"mgm": {"n": 8}, "knas_code": {"n": 8}})
PROXIES = ["mgm", "knas_code", "params"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from knas.data import load_prepared, prepare

    return load_prepared(prepare("digits", None, tmp_path_factory.mktemp("d") / "digits.npz"))


def test_options_name_the_score_file_and_read_back():
    assert options_key("mgm", None) == options_key("mgm", {"n": 50}) == "default"  # the default, spelled out
    assert options_key("mgm", {"sampled": 5, "n": 10}) == "n=10,sampled=5"
    assert options_key("naswot", {"official_counting": True}) == "official_counting=true"
    assert options_key("ntk_mse", {"method": "exact"}) == "method=exact"
    for opts in ({}, {"n": 10, "sampled": 5}, {"seed": 3}, {"sampled": None, "n": 20}):
        path = score_file("r/scores", "mgm", opts, 2, 50)
        assert parse_score_file(path) == ("mgm", {k: v for k, v in opts.items() if v != P.spec("mgm").defaults[k]},
                                          50)
    assert parse_score_file("r/linear_regions/protocol=wide/batch64/shard0.parquet") == (
        "linear_regions", {"protocol": "wide"}, 64)
    for bad in ("r/mgm/default/shard0.parquet", "r/mgm/default/batch0/shard0.parquet",
                "r/mgm/default/batch05/shard0.parquet"):
        with pytest.raises(ValueError, match="not a score file"):
            parse_score_file(bad)
    with pytest.raises(ValueError, match="unknown option"):
        options_key("mgm", {"m": 3})
    with pytest.raises(ValueError, match="string option"):
        options_key("ntk_mse", {"method": "a/b"})
    with pytest.raises(ValueError, match="should read"):  # a spelling we would not write
        parse_score_file("r/mgm/n=50/batch64/shard0.parquet")
    with pytest.raises(ValueError, match="unknown proxy"):
        parse_score_file("r/magic/default/batch64/shard0.parquet")


def test_score_jobs_follow_the_registry_pass_groups():
    jobs = score_jobs("s", ["mgm", "naswot", "knas_code", "params"], {"naswot": {"official_counting": True}},
                      batch_size=64, batch_sizes={"naswot": 128, "mgm": 50})
    assert jobs == {
        "per_example_grads": ["s/mgm/default/batch50/shard{shard}.parquet",
                              "s/knas_code/default/batch64/shard{shard}.parquet"],
        "relu_code_grams": ["s/naswot/official_counting=true/batch128/shard{shard}.parquet"],
        "weights": ["s/params/default/batch64/shard{shard}.parquet"],
    }
    assert set(jobs) == set(P.pass_groups(["mgm", "naswot", "knas_code", "params"]))


def test_group_tables_split_per_proxy_and_merge_back(data):
    table = scoring.score_architectures(ARCHS, PROXIES, data, CFG)
    parts = [scoring.proxy_table(table.iloc[s], p) for p in PROXIES for s in (slice(0, 2), slice(2, 4))]
    merged = scoring.merge_score_tables(parts)
    pd.testing.assert_frame_equal(merged[table.columns], table.sort_values("arch_id").reset_index(drop=True))
    # scored in one group or one proxy at a time: the same values
    alone = scoring.score_architectures(ARCHS, ["knas_code"], data,
                                        scoring.ScoringConfig(**{**CFG.__dict__, "options": {"knas_code": {"n": 8}}}))
    assert alone["knas_code"].tolist() == pytest.approx(table["knas_code"].tolist(), rel=1e-5)


def _faulty_compute(monkeypatch, fail_on: str, times: int, error=None):
    """P.compute raising a CUDA out-of-memory error on ``fail_on``'s first ``times`` calls."""
    real, calls = P.compute, []

    def compute(name, net, batch, ctx, **opts):
        calls.append(name)
        arch = ctx.arch  # set by the test's wrapper below
        if arch == fail_on and compute.left > 0:
            compute.left -= 1
            raise error or torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(name, net, batch, ctx, **opts)

    compute.left = times
    monkeypatch.setattr(P, "compute", compute)
    real_ctx = P.Context

    def context(net, batch, **kw):  # remember which architecture a context belongs to
        ctx = real_ctx(net, batch, **kw)
        ctx.arch = context.archs.pop(0)
        return ctx

    monkeypatch.setattr(P, "Context", context)
    return calls, context


def test_cuda_oom_retries_the_architecture_once(data, monkeypatch):
    want = scoring.score_architectures(ARCHS, PROXIES, data, CFG)
    calls, context = _faulty_compute(monkeypatch, A_MIX, times=1)
    context.archs = [A_CONV, A_MIX, A_MIX, A_SKIP, A_NONE]  # A_MIX is built twice
    got = scoring.score_architectures(ARCHS, PROXIES, data, CFG)
    pd.testing.assert_frame_equal(got.drop(columns=[c for c in got if c.endswith("__seconds")]),
                                  want.drop(columns=[c for c in want if c.endswith("__seconds")]))
    assert len(calls) == 3 * 4 + 1


def test_a_stopped_shard_keeps_its_rows_and_the_rerun_resumes(data, monkeypatch, tmp_path):
    want = scoring.score_architectures(ARCHS, PROXIES, data, CFG)
    partial = tmp_path / "shard0.partial.parquet"
    calls, context = _faulty_compute(monkeypatch, A_SKIP, times=2)  # OOM again on the retry: the job stops
    context.archs = [A_CONV, A_MIX, A_SKIP, A_SKIP]
    with pytest.raises(torch.cuda.OutOfMemoryError):
        scoring.score_architectures(ARCHS, PROXIES, data, CFG, partial=partial, data_id="d1")
    kept = pd.read_parquet(partial)
    assert kept["arch"].tolist() == [A_CONV, A_MIX]
    # another data file, other options or archs: the rows are not trusted
    for kw in ({"data_id": "d2"}, {"archs": ARCHS[:3]}):
        assert scoring._read_partial(partial, scoring._partial_key(kw.get("archs", ARCHS), PROXIES, CFG,
                                                                   kw.get("data_id", "d1"))) == []
    calls.clear()
    context.archs = [A_SKIP, A_NONE]  # only the two architectures left are built and scored
    got = scoring.score_architectures(ARCHS, PROXIES, data, CFG, partial=partial, data_id="d1")
    assert len(calls) == 3 * 2 and not partial.exists()
    pd.testing.assert_frame_equal(got.drop(columns=[c for c in got if c.endswith("__seconds")]),
                                  want.drop(columns=[c for c in want if c.endswith("__seconds")]))


def test_other_errors_are_not_retried_and_a_corrupt_partial_is_ignored(data, monkeypatch, tmp_path):
    partial = tmp_path / "p.parquet"
    partial.write_bytes(b"PAR1 truncated")
    calls, context = _faulty_compute(monkeypatch, A_CONV, times=1, error=RuntimeError("shape mismatch"))
    context.archs = [A_CONV]
    with pytest.raises(RuntimeError, match="shape mismatch"):
        scoring.score_architectures(ARCHS, PROXIES, data, CFG, partial=partial)
    assert len(calls) == 1
    context.archs = list(ARCHS)
    got = scoring.score_architectures(ARCHS, PROXIES, data, CFG, partial=partial)
    assert got["arch"].tolist() == ARCHS and not partial.exists()


def test_progress_says_archs_done_rate_and_eta(data, capsys):
    scoring.score_architectures(ARCHS, ["params"], data, CFG.__class__(C=4, N=1, batch_size=16, device="cpu"),
                                progress=False)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[knas score]")]
    assert lines[-1].startswith("[knas score] 4/4 architectures (0 resumed)") and "s/arch, ETA 0 s" in lines[-1]


# ---- issue 14: per-proxy batch sizes, TEG's independent batches, the init, on-demand == study -----

def _net(arch, data, init="default", seed=0):
    from knas.spaces import get_space

    net = get_space("nb201").build_network(arch, num_classes=data.num_classes, input_size=8, seed=seed, C=4, N=1)
    return P.initialise(net, init)


def _batch(data, size, seed=0, val=False):
    from knas.data import sample_batch

    x, y = sample_batch(data, "train", size, seed)
    xv, yv = sample_batch(data, "valid", size, seed + 1) if val else (None, None)
    return P.ProxyBatch(x, y, data.num_classes, xv, yv)


def test_each_proxy_is_scored_on_its_own_batch_size(data):
    cfg = scoring.ScoringConfig(C=4, N=1, batch_size=16, device="cpu", batch_sizes={"naswot": 32, "knas_code": 12},
                                options={"mgm": {"n": 8}, "knas_code": {"n": 8}})
    table = scoring.score_architectures(ARCHS[:2], ["mgm", "knas_code", "naswot"], data, cfg)
    for arch, row in zip(ARCHS[:2], table.itertuples()):
        # each value is the proxy on its own batch, independently of the others in its group
        assert row.naswot == P.compute("naswot", _net(arch, data), _batch(data, 32)).value
        assert row.naswot != P.compute("naswot", _net(arch, data), _batch(data, 16)).value
        assert row.mgm == pytest.approx(P.compute("mgm", _net(arch, data), _batch(data, 16), n=8).value, rel=1e-6)
        assert row.knas_code == pytest.approx(
            P.compute("knas_code", _net(arch, data), _batch(data, 12), n=8).value, rel=1e-6)
    with pytest.raises(ValueError, match="batch_sizes given for proxies not being scored"):
        scoring.score_architectures(ARCHS[:1], ["params"], data, scoring.ScoringConfig(batch_sizes={"naswot": 32}))
    part = cfg.for_proxies(["naswot"])  # what on-demand scoring of naswot alone uses
    assert (part.options, part.batch_sizes) == ({}, {"naswot": 32})


def test_changing_one_proxys_batch_renames_only_its_groups_files():
    proxies = ["mgm", "knas_code", "naswot", "params"]
    before = score_jobs("s", proxies, batch_size=64, batch_sizes={"naswot": 128})
    after = score_jobs("s", proxies, batch_size=64, batch_sizes={"naswot": 128, "mgm": 50})
    assert [g for g in before if before[g] != after[g]] == ["per_example_grads"]
    assert after["per_example_grads"] == ["s/mgm/default/batch50/shard{shard}.parquet",
                                          "s/knas_code/default/batch64/shard{shard}.parquet"]


def test_teg_indicators_are_means_over_three_independent_batches(data):
    from knas.data import sample_batches

    cfg = scoring.ScoringConfig(C=4, N=1, batch_size=8, device="cpu")
    table = scoring.score_architectures([A_MIX], ["ntk_cond", "ntk_mse"], data, cfg)
    train = sample_batches(data, "train", 8, 0, 3)
    val = sample_batches(data, "valid", 8, 1, 3)
    assert torch.equal(train[0][0], _batch(data, 8).x)  # the first is the single batch
    assert not torch.equal(train[0][0], train[1][0])  # independent (disjoint) images
    singles = {name: [P.compute(name, _net(A_MIX, data), P.ProxyBatch(x, y, data.num_classes, xv, yv), batches=1)
                      for (x, y), (xv, yv) in zip(train, val)] for name in ("ntk_cond", "ntk_mse")}
    for name, results in singles.items():
        assert all(r.flag is None for r in results) and len({r.value for r in results}) == 3
        assert table[name].iloc[0] == pytest.approx(sum(r.value for r in results) / 3, rel=1e-6)
    one = scoring.score_architectures([A_MIX], ["ntk_cond"], data,
                                      scoring.ScoringConfig(**{**cfg.__dict__, "options": {"ntk_cond": {"batches": 1}}}))
    assert one["ntk_cond"].iloc[0] == pytest.approx(singles["ntk_cond"][0].value, rel=1e-6)
    with pytest.raises(ValueError, match="batches=3 needs 3 independent batches"):
        P.compute("ntk_cond", _net(A_MIX, data), _batch(data, 8))
    assert P.spec("linear_regions").defaults["nets"] == 3  # TEG: the mean over 3 thin networks


def test_kaiming_normal_init_is_applied_to_every_scored_network(data):
    net = _net(A_CONV, data, "kaiming_normal")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    w = torch.cat([m.weight.flatten() * (m.weight[0].numel() / 2) ** 0.5 for m in convs])  # ~ N(0, 1)
    assert abs(w.std().item() - 1) < 0.1 and abs(w.mean().item()) < 0.1
    default = _net(A_CONV, data)
    assert not torch.equal(convs[0].weight, next(m for m in default.modules() if isinstance(m, torch.nn.Conv2d)).weight)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
               for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.affine)
    assert not net.classifier.bias.any()
    cfg = scoring.ScoringConfig(C=4, N=1, batch_size=16, device="cpu", init="kaiming_normal")
    table = scoring.score_architectures([A_CONV], ["l2_norm", "linear_regions"], data, cfg)
    assert table["l2_norm"].iloc[0] == pytest.approx(P.compute("l2_norm", net, _batch(data, 16)).value, rel=1e-6)
    ctx = lambda init: P.Context(default, _batch(data, 16), init=init)  # noqa: E731 (the thin nets)
    lr = {init: P.compute("linear_regions", default, _batch(data, 16), ctx(init), n_samples=200).value
          for init in P.INITS}
    assert table["linear_regions"].iloc[0] == P.compute("linear_regions", default, _batch(data, 16),
                                                        ctx("kaiming_normal")).value
    assert lr["default"] != lr["kaiming_normal"]
    with pytest.raises(ValueError, match="allowed: default, kaiming_normal"):
        scoring.score_architectures([A_CONV], ["params"], data, scoring.ScoringConfig(init="xavier"))


def test_on_demand_scores_in_search_equal_the_studys_table(data, tmp_path):
    """The search job's on-demand score and the score job's table value of the same arch, both
    from the study config through knas.study.score_files.scoring_args and the CLI parsers."""
    import shlex

    from knas.cli import build_parser
    from knas.cli.common import scoring_config
    from knas.data import prepare
    from knas.search import scoring_callback
    from knas.study.score_files import scoring_args
    from knas.utils import read_table

    config = {"device": "cpu", "space": {"name": "nb201", "C": 4, "N": 1},
              "scoring": {"proxies": ["naswot", "mgm"], "batch_size": 16, "batch_sizes": {"naswot": 24},
                          "batch_seed": 3, "init_seed": 1, "init": "kaiming_normal", "augment": True,
                          "options": {"naswot": {"official_counting": True}, "mgm": {"n": 8}}}}
    npz = prepare("digits", None, tmp_path / "digits.npz")
    archs = tmp_path / "archs.csv"
    pd.DataFrame({"arch": [A_MIX]}).to_csv(archs, index=False)
    outs = [p.format(shard=0) for paths in score_jobs(tmp_path / "scores", config["scoring"]["proxies"],
                                                      config["scoring"]["options"], batch_size=16,
                                                      batch_sizes={"naswot": 24}).values() for p in paths]
    from knas.cli import main

    assert main(["score", "--out-files", *outs, "--archs", str(archs), "--data", str(npz), "--shard", "0/1",
                 *shlex.split(scoring_args(config, per_proxy=False)), "--no-progress"]) in (0, None)
    study = {p: read_table(o)[p].iloc[0] for p, o in zip(["naswot", "mgm"], outs)}
    args = build_parser().parse_args(["search", "--strategy", "random", "--truth", "t.csv", "--out", "o.parquet",
                                      *shlex.split(scoring_args(config, per_proxy=True))])
    from knas.data import load_prepared

    compute = scoring_callback(load_prepared(npz), scoring_config(args))
    for proxy in ("naswot", "mgm"):
        assert compute(A_MIX, [proxy])[proxy] == pytest.approx(study[proxy], rel=1e-6)
    # the search's config is the study's: dropping the naswot option gives another score
    plain = scoring.ScoringConfig(**{**scoring_config(args).__dict__, "options": {}})
    assert scoring_callback(load_prepared(npz), plain)(A_MIX, ["naswot"])["naswot"] != study["naswot"]
