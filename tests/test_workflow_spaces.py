"""The workflow on the new search spaces: the NASWOT configs plan without their benchmark files (a
real run stops naming the file), and a tiny offline study runs end to end on each new space
(digits, the space's network at small width, own training as ground truth)."""
from __future__ import annotations

import pytest
import yaml

from test_workflow import ROOT, job_counts, snakemake


@pytest.mark.parametrize("name, scores", [("naswot_nb101", 3 * 8), ("naswot_nats_sss", 3 * 4)])
def test_naswot_configs_plan_without_the_benchmark(name, scores, tmp_path):
    cfg = ROOT / "config" / f"{name}.yaml"
    res = snakemake("-n", "--cores", "4", "--configfile", str(cfg), "--directory", str(tmp_path))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    counts = job_counts(res.stdout)
    n_score = sum(n for rule, n in counts.items() if rule.startswith("score_"))
    assert n_score == scores and counts["truth"] == 1 and counts["search"] == 5, counts
    assert "WARNING (dry run only" in res.stderr
    path = yaml.safe_load(cfg.read_text())["truth"]["path"]
    res = snakemake("--cores", "1", "--configfile", str(cfg), "--directory", str(tmp_path))
    assert res.returncode != 0 and f"truth.path = '{path}': no such file or directory" in res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("space", [{"name": "nats_sss"}, {"name": "nb101", "stem_channels": 8, "cells_per_stack": 1}])
def test_tiny_study_on_each_new_space(space, tmp_path):
    base = yaml.safe_load((ROOT / "tests" / "workflow" / "config.yaml").read_text())
    cfg = {**base, "study": f"tiny_{space['name']}", "space": space, "sample": {"n": 3, "seed": 1},
           "analysis": {**base["analysis"], "repeats": 0},  # analysis.repeat_n < sample.n = 3 is impossible
           "scoring": {**base["scoring"], "proxies": ["naswot", "params"], "shards": 1},
           "select": {**base["select"], "proxy": "naswot", "k": [1], "naswot_n": [2]}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    work = tmp_path / "w"
    res = snakemake("--cores", "2", "--configfile", str(path), "--directory", str(work), timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    out = work / "results" / cfg["study"]
    import pandas as pd

    from knas.spaces import get_space

    archs = pd.read_csv(out / "archs.csv")
    s = get_space(space["name"])
    assert archs.arch.tolist() == s.sample_n(3, 1) and archs.arch_id.tolist() == [s.index_of(a) for a in archs.arch]
    scores = pd.read_parquet(out / "scores.parquet")
    opts = {k: v for k, v in space.items() if k != "name"}
    assert sorted(scores.params) == sorted(float(s.cost(a, **opts).params) for a in archs.arch)
    report = (out / "report" / "report.md").read_text()
    assert f"space {space['name']}" in report and "KNAS k=1 (naswot)" in report
    for proxy in ("naswot", "params"):
        assert (out / "correlation" / "figures" / f"scatter_{proxy}.png").stat().st_size > 1000
