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
        path = score_file("r/scores", "mgm", opts, 2)
        assert parse_score_file(path) == ("mgm", {k: v for k, v in opts.items() if v != P.spec("mgm").defaults[k]})
    assert parse_score_file("r/linear_regions/protocol=wide/shard0.parquet") == (
        "linear_regions", {"protocol": "wide"})
    with pytest.raises(ValueError, match="unknown option"):
        options_key("mgm", {"m": 3})
    with pytest.raises(ValueError, match="string option"):
        options_key("ntk_mse", {"method": "a/b"})
    with pytest.raises(ValueError, match="should read"):  # a spelling we would not write
        parse_score_file("r/mgm/n=50/shard0.parquet")
    with pytest.raises(ValueError, match="unknown proxy"):
        parse_score_file("r/magic/default/shard0.parquet")


def test_score_jobs_follow_the_registry_pass_groups():
    jobs = score_jobs("s", ["mgm", "naswot", "knas_code", "params"], {"naswot": {"official_counting": True}})
    assert jobs == {
        "per_example_grads": ["s/mgm/default/shard{shard}.parquet", "s/knas_code/default/shard{shard}.parquet"],
        "relu_code_grams": ["s/naswot/official_counting=true/shard{shard}.parquet"],
        "weights": ["s/params/default/shard{shard}.parquet"],
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
