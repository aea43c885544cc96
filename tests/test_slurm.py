"""The SLURM profile end to end: a real one-node SLURM cluster runs a tiny study.

``tests/slurm/start.sh`` installs Debian's slurm-wlm + munge with apt-get when they are missing,
then starts munged, slurmctld and slurmd (no systemd) with all state in a temporary folder;
``tests/slurm/stop.sh`` stops them by PID in a finalizer. The study (``tests/slurm/config.yaml``:
3 architectures, 2 proxies, 1-epoch truth training, 1-epoch training of the top-1) runs through
``workflow/profiles/slurm`` unchanged.

Test-only settings, beside the profile:
- the node is declared with at least 8 CPUs and 32 GB (``SlurmdParameters=config_overrides``),
  so that the profile's real requests (train: 4 CPUs, truth: 16 GB) are accepted on a small CI
  machine; SLURM enforces nothing here (task/none, no cgroups) and the jobs are tiny;
- ``--set-threads train=1``: the profile's 4 threads per training job (still 4 CPUs in SLURM's
  books) would oversubscribe a 2-core machine; the tiny networks gain nothing from them;
- ``--slurm-init-seconds-before-status-checks 5`` (default 40 s) only makes the test faster: the
  executor polls 5, 20, 45, 80 s after a job finished, and a job here takes about 15 s.

Skipped, with the reason, when not root, when slurm cannot be installed, or when the daemons do
not come up. Budget: about 3 minutes on 2 CPU cores.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "slurm"
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
CONFIG = SCRIPTS / "config.yaml"
# start.sh exit codes that mean "no SLURM on this machine" (skip) rather than a bug (fail)
UNAVAILABLE = {3: "slurm/munge cannot be installed", 4: "the SLURM daemons did not come up",
               5: "/etc/slurm/slurm.conf belongs to a real SLURM installation"}
# rules that must never be submitted (Snakemake runs them itself)
LOCAL_RULES = {"prepare_data", "sample", "merge_scores", "correlate", "select", "report", "all"}

pytestmark = pytest.mark.slurm


def _run_script(script: str, root: Path, timeout: int, **env) -> subprocess.CompletedProcess:
    """Run a helper in its own process group; on timeout the whole group (apt-get included) dies."""
    proc = subprocess.Popen(
        ["bash", str(SCRIPTS / script), str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True, env={**os.environ, **env},
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return subprocess.CompletedProcess(proc.args, 124, out + f"\n[{script} timed out after {timeout} s]")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running one-node cluster; yields the SLURM_CONF path. Always stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("SLURM test needs root (apt-get, munged and slurmd run as root)")
    root = tmp_path_factory.mktemp("slurm")
    try:
        res = _run_script("start.sh", root, timeout=400, SLURM_MIN_CPUS="8", SLURM_MIN_MEM_MB="32768")
        print(res.stdout)
        if res.returncode in UNAVAILABLE or res.returncode == 124:
            reason = UNAVAILABLE.get(res.returncode, "tests/slurm/start.sh timed out")
            pytest.skip(f"{reason}: {res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ''}")
        assert res.returncode == 0, f"tests/slurm/start.sh failed ({res.returncode}):\n{res.stdout}"
        yield root / "etc" / "slurm.conf"
    finally:
        print(_run_script("stop.sh", root, timeout=60).stdout)


def slurm_env(conf: Path) -> dict:
    """Clean environment: no PYTHONPATH (rules find knas through the Snakefile), the venv's python
    first on PATH, no inherited SLURM_* job variables, and this cluster's SLURM_CONF."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SLURM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SLURM_CONF"] = str(conf)
    return env


def slurm_jobs(env: dict) -> dict[str, dict]:
    """Every job slurmctld still knows (MinJobAge=600 keeps finished ones), by job id."""
    fmt = "%i|%k|%T|%C|%m|%l"  # id, comment (rule_<name>[_wildcards_...]), state, cpus, mem, limit
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", fmt], env=env,
                         capture_output=True, text=True, check=True, timeout=30).stdout
    jobs = {}
    for line in out.splitlines():
        jobid, comment, state, cpus, mem, limit = line.split("|")
        rule = re.match(r"rule_(\w+?)(_wildcards_.*)?$", comment).group(1)
        jobs[jobid] = {"rule": rule, "state": state, "cpus": int(cpus), "mem": mem, "limit": limit}
    return jobs


def minutes(limit: str) -> int:
    """A SLURM time limit ([D-]H:MM:SS or M:SS) in minutes."""
    days, _, hms = limit.rpartition("-")
    parts = [int(x) for x in hms.split(":")]
    h, m, sec = [0] * (3 - len(parts)) + parts
    return int(days or 0) * 1440 + h * 60 + m + sec // 60


def test_tiny_study_runs_through_the_slurm_profile(slurm_cluster, tmp_path):
    env = slurm_env(slurm_cluster)
    work = tmp_path / "w"
    cmd = ["timeout", "-s", "INT", "-k", "30", "600",
           sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
           "--workflow-profile", str(PROFILE), "--configfile", str(CONFIG),
           "--directory", str(work), "--jobs", "2", "--slurm-init-seconds-before-status-checks", "5",
           "--set-threads", "train=1"]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=700)
    log = res.stdout + res.stderr
    assert res.returncode == 0, f"snakemake failed ({res.returncode}):\n{log[-6000:]}"
    study = yaml.safe_load(CONFIG.read_text())["study"]
    report = work / "results" / study / "report" / "report.md"
    assert report.stat().st_size > 0

    # the jobs Snakemake says it submitted are the ones SLURM ran, all COMPLETED
    submitted = dict(re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+?)/", log))
    jobs = slurm_jobs(env)
    assert submitted and set(submitted) == set(jobs), (submitted, jobs)
    for jobid, rule in submitted.items():
        assert jobs[jobid]["rule"] == rule and jobs[jobid]["state"] == "COMPLETED", jobs[jobid]
    rules = [j["rule"] for j in jobs.values()]
    # 2 proxies in 2 pass groups x 1 shard; 3 truth trainings + 1 top-k training
    assert sorted(r for r in rules if r.startswith("score_")) == ["score_relu_code_grams", "score_weights"], rules
    assert rules.count("train") == 4, rules
    assert not LOCAL_RULES & set(rules), rules
    # the profile's per-rule resources reach sbatch (train: set-resources)
    want = yaml.safe_load((PROFILE / "config.yaml").read_text())["set-resources"]["train"]
    for j in jobs.values():
        if j["rule"] == "train":
            assert j["cpus"] == want["cpus_per_task"], j
            assert j["mem"] == f"{want['mem_mb']}M", j
            assert minutes(j["limit"]) == want["runtime"], j
