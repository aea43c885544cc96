"""The study's scoring, as the workflow runs it, against the library it calls.

Three ways to score the same K architectures with the same proxies (default: the paper
configuration's list, ``config/knas_paper_cifar10.yaml``), each job a real subprocess:

- ``one Context``: one ``knas score`` process, every proxy through one Context per architecture;
  the baseline is its scoring time (the library call, after imports and the data load);
- ``workflow``: the score rule's jobs, one per pass group (``knas score --out-files ...`` exactly as
  ``workflow/rules/score.smk`` runs it), walls summed;
- ``per proxy``: one process per proxy (the layout before pass groups), walls summed.

Per job it prints the wall time, the scoring time the job logs, their difference (process
start, imports, data load, writing: the per-job overhead) and the peak RSS (``wait4``).

``--scale N`` instead measures the full-space study: sample.n: all, the three main proxies
(mgm, naswot, synflow), one shard of N architectures per pass group; it prints archs/s and peak
memory per job and EXTRAPOLATES to the 15,625 architectures for S = 1, 16, 100 shards (SLURM
jobs per group), assuming every job of a wave runs at the measured speed on its own cores.

The data: the 2,000 real CIFAR-10 test images of ../shared/data/cifar10_test_2k.npz, written as a
cifar-10-python.tar.gz (1,500 "train", 500 "test") and prepared by knas (md5 check off).

    python benchmarks/study_scoring.py                      # K=6, paper proxies, CPU, 1 thread/job
    python benchmarks/study_scoring.py --archs 2 --markdown
    python benchmarks/study_scoring.py --scale 200 --markdown
"""
from __future__ import annotations

import argparse
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KNAS_SHARED", ROOT.parent / "shared")) / "data"  # as tests/conftest.py
sys.path.insert(0, str(ROOT / "src"))

from knas.nb201 import all_archs, is_disconnected  # noqa: E402
from knas.nb201.flops import nb201_cost  # noqa: E402
from knas.study.score_files import score_file, score_jobs  # noqa: E402

PAPER = ROOT / "config" / "knas_paper_cifar10.yaml"
MAIN = ["mgm", "naswot", "synflow"]


def prepared_cifar(work: Path) -> Path:
    """A knas-prepared cifar10 file from the 2k real test images (official raw format on the way)."""
    from knas.data import prepare

    z = np.load(SHARED / "cifar10_test_2k.npz")
    x = z["x"].transpose(0, 3, 1, 2).reshape(len(z["x"]), -1)  # NHWC -> the official row layout (N, 3072)
    y = z["y"]
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with tarfile.open(raw / "cifar-10-python.tar.gz", "w:gz") as tf:
        def add(name, obj):
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        add("batches.meta", {b"label_names": [b"c%d" % i for i in range(10)]})
        for b in range(5):
            s = slice(300 * b, 300 * (b + 1))
            add(f"data_batch_{b + 1}", {b"data": x[s], b"labels": y[s].tolist()})
        add("test_batch", {b"data": x[1500:], b"labels": y[1500:].tolist()})
    return prepare("cifar10", raw, work / "cifar10.npz", verify_md5=False)


def spread_archs(k: int) -> list[str]:
    """``k`` connected architectures at evenly spaced quantiles of FLOPs (the cost range)."""
    archs = sorted((nb201_cost(a)[1], a) for a in all_archs() if not is_disconnected(a))
    return [archs[round(i * (len(archs) - 1) / max(1, k - 1))][1] for i in range(k)]


def run_job(cmd: list[str], env: dict, log: Path) -> dict:
    """Run one job; wall, peak RSS (MiB, this process alone) and the scoring time it logged."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if proc.returncode:
        raise SystemExit(f"job failed ({proc.returncode}): {' '.join(cmd)}\n{text[-3000:]}")
    done = re.findall(r"\[knas score\] (\d+)/(\d+) architectures \(\d+ resumed\), ([\d.]+) s", text)
    scoring = float(done[-1][2])
    return {"wall": wall, "scoring": scoring, "overhead": wall - scoring, "peak_mib": ru.ru_maxrss / 1024}


def score_cmd(outs: list[str], archs: Path, data: Path, a) -> list[str]:
    """The score rule's shell command (workflow/rules/score.smk), one shard."""
    return [sys.executable, "-m", "knas", "score", "--out-files", *outs, "--archs", str(archs),
            "--data", str(data), "--shard", "0/1", "--C", str(a.C), "--N", str(a.N),
            "--batch-size", str(a.batch_size), "--batch-seed", "0", "--init-seed", "0",
            "--device", a.device, "--no-progress"]


def jobs_of(layout: str, proxies: list[str], options: dict, root: Path) -> dict[str, list[str]]:
    if layout == "one Context":
        return {"all": [score_file(root / "one", p, options.get(p), 0) for p in proxies]}
    if layout == "workflow":
        return {g: [p.format(shard=0) for p in paths]
                for g, paths in score_jobs(root / "wf", proxies, options).items()}
    return {p: [score_file(root / "pp", p, options.get(p), 0)] for p in proxies}


def run_layout(layout, proxies, options, archs_file, data, work, env, a) -> list[tuple[str, dict]]:
    out = []
    for name, outs in jobs_of(layout, proxies, options, work / "scores").items():
        r = run_job(score_cmd(outs, archs_file, data, a), env, work / f"{layout.replace(' ', '_')}_{name}.log")
        print(f"  {layout:12s} {name:22s} wall {r['wall']:8.2f} s  scoring {r['scoring']:8.2f} s  "
              f"overhead {r['overhead']:6.2f} s  peak {r['peak_mib']:7.0f} MiB", file=sys.stderr, flush=True)
        out.append((name, r))
    return out


def load_line() -> str:
    try:
        la = os.getloadavg()
        return f"load average {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return f"{os.cpu_count()} cores"


def header(a, k: int, proxies: list[str]) -> str:
    import torch

    return (f"device={a.device} threads/job={a.threads} torch={torch.__version__} C={a.C} N={a.N} "
            f"batch={a.batch_size} archs={k} proxies={len(proxies)}; {load_line()} at start, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def compare(a, proxies, options, archs, data, work, env) -> None:
    archs_file = work / "archs.csv"
    archs_file.write_text("arch\n" + "".join(f"{x}\n" for x in archs))
    start = header(a, len(archs), proxies)
    print(start, file=sys.stderr)
    res = {lay: run_layout(lay, proxies, options, archs_file, data, work, env, a)
           for lay in ("one Context", "workflow", "per proxy")}
    base = res["one Context"][0][1]
    rows = []
    for lay, jobs in res.items():
        wall = sum(r["wall"] for _, r in jobs)
        rows.append((lay, len(jobs), wall, sum(r["scoring"] for _, r in jobs),
                     sum(r["overhead"] for _, r in jobs) / len(jobs), max(r["peak_mib"] for _, r in jobs)))
    wf, pp = rows[1][2], rows[2][2]
    print(f"\n{start}; end: {load_line()}\n")
    print("| layout | jobs | wall s (sum) | scoring s (sum) | overhead s/job | peak MiB/job (max) | "
          "wall / one-Context scoring | wall / one-Context wall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lay, n, wall, sc, ov, pk in rows:
        print(f"| {lay} | {n} | {wall:.1f} | {sc:.1f} | {ov:.2f} | {pk:.0f} | {wall / base['scoring']:.2f}x | "
              f"{wall / base['wall']:.2f}x |")
    print(f"\nworkflow / one-Context scoring: {wf / base['scoring']:.2f}x (target <= 1.15x); "
          f"per proxy / workflow: {pp / wf:.2f}x (target >= 1.7x)")
    print("\nper job (workflow):\n\n| group | proxies | wall s | scoring s | overhead s | peak MiB |\n"
          "|---|---|---:|---:|---:|---:|")
    groups = score_jobs("x", proxies, options)
    for name, r in res["workflow"]:
        members = ", ".join(Path(p).parent.parent.name for p in groups[name])
        print(f"| {name} | {members} | {r['wall']:.1f} | {r['scoring']:.1f} | {r['overhead']:.2f} | "
              f"{r['peak_mib']:.0f} |")


def scale(a, n: int, data, work, env) -> None:
    from knas.study import sample_table

    archs_file = work / "archs.csv"
    table = sample_table("all")
    # n archs of the full space, evenly spaced over its index order (a slice of the sample table)
    table.iloc[np.linspace(0, len(table) - 1, n).round().astype(int)].to_csv(archs_file, index=False)
    start = header(a, n, MAIN)
    print(start, file=sys.stderr)
    jobs = run_layout("workflow", MAIN, {}, archs_file, data, work, env, a)
    total = len(table)
    print(f"\n{start}; end: {load_line()}\n")
    print("| job (pass group) | archs/s | s/arch | overhead s | peak MiB |\n|---|---:|---:|---:|---:|")
    for name, r in jobs:
        print(f"| {name} | {n / r['scoring']:.2f} | {r['scoring'] / n:.3f} | {r['overhead']:.1f} | "
              f"{r['peak_mib']:.0f} |")
    s_arch = sum(r["scoring"] for _, r in jobs) / n
    print(f"\nall three groups: {1 / s_arch:.2f} archs/s ({s_arch:.3f} s/arch, one job after another)\n")
    print(f"EXTRAPOLATED to all {total:,} architectures (measured rate above, per-job overhead added; each "
          "of the 3 x S jobs on its own cores like the measured one):\n")
    print("| shards S | jobs | archs per job | wall, all jobs at once (slowest job) | wall, S slots (groups in turn) "
          "| CPU-hours |\n|---:|---:|---:|---:|---:|---:|")
    for S in (1, 16, 100):
        per = -(-total // S)
        slowest = max(per * r["scoring"] / n + r["overhead"] for _, r in jobs)
        in_turn = sum(per * r["scoring"] / n + r["overhead"] for _, r in jobs)
        cpu_h = sum(total * r["scoring"] / n + S * r["overhead"] for _, r in jobs) * a.threads / 3600
        print(f"| {S} | {3 * S} | {per} | {slowest / 3600:.2f} h | {in_turn / 3600:.2f} h | {cpu_h:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=6, help="architectures, spread over the FLOPs range (default 6)")
    ap.add_argument("--proxies", nargs="+", help="default: the paper config's scoring.proxies")
    ap.add_argument("--scale", type=int, metavar="N", help="full-space mode: N archs, mgm/naswot/synflow")
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL threads per job (default 1)")
    ap.add_argument("--markdown", action="store_true", help="(the tables are markdown either way)")
    a = ap.parse_args()
    paper = yaml.safe_load(PAPER.read_text())["scoring"]
    proxies = a.proxies or paper["proxies"]
    options = {p: o for p, o in paper.get("options", {}).items() if p in proxies}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(a.threads),
           "MKL_NUM_THREADS": str(a.threads)}
    with tempfile.TemporaryDirectory(prefix="knas-study-scoring-") as tmp:
        work = Path(tmp)
        data = prepared_cifar(work)
        if a.scale:
            scale(a, a.scale, data, work, env)
        else:
            compare(a, proxies, options, spread_archs(a.archs), data, work, env)


if __name__ == "__main__":
    main()
