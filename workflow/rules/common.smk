# Validation and path helpers. Real logic lives in src/knas/ (unit-tested there).
import os
import sys

from snakemake.utils import validate

# Every rule runs `python -m knas ...` with the project's src/ first on PYTHONPATH, so the same
# commands work in the active venv, under --use-conda (envs/knas.yaml holds only the pinned
# third-party stack) and inside SLURM jobs.
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
shell.prefix(f"set -euo pipefail; export PYTHONPATH='{SRC}'${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")

validate(config, "../schemas/config.schema.yaml")

from knas.config import MissingInputError, check_config, is_dry_run  # noqa: E402

try:
    check_config(config, sys.argv)
except MissingInputError as err:
    if not is_dry_run(sys.argv):
        raise
    # a dry run may plan a study whose data or benchmark is not on this machine yet
    print(f"WARNING (dry run only; a real run stops here): {err}", file=sys.stderr)

STUDY = config["study"]
RESULTS = f"results/{STUDY}"
LOGS = f"{RESULTS}/logs"
# per-job time and memory that Snakemake records (`benchmark:`), what mem_mb is sized from
BENCHMARKS = f"{RESULTS}/benchmarks"
DATASET = config["data"]["dataset"]
ENV = "../../envs/knas.yaml"
# compute jobs (score, search, train, text_score, text_finetune) ask for a GPU on a CUDA study.
# Each runs with its rule's own `threads:`; Snakemake exports OMP_NUM_THREADS (and the BLAS
# thread variables) as that number for every shell job, so no rule spells it.
GPUS = 1 if config["device"] == "cuda" else 0

# mem_mb per rule, from the benchmark files (max_rss, MB) of the default study (2026-12-02, CPU:
# score <= 465, train <= 403, text_score / text_finetune <= 489) and, at paper scale, README
# "Proxy performance" (C=16, N=5, batch 64: peak RSS <= 1570 MiB for one proxy, ntk_mse), with
# headroom for the dataset in memory. search, truth and prepare_data load a benchmark file or the
# raw dataset (GBs at paper scale) and roberta-large fine-tuning needs its weights and Adam state:
# those keep their paper-scale sizes.
MEM_MB = {
    "prepare_data": 8000,
    "score": 4000,
    "train": 4000,
    "truth": 16000,
    "search": 16000,
    "text": 16000,
}


def prepared_data():
    """The prepared dataset (.npz) every scoring/training job reads."""
    return f"{RESULTS}/data/{DATASET}.npz"


def raw_data_inputs():
    """Raw files the prepare rule needs (downloaded by a local rule when possible)."""
    from knas.data import raw_files

    return [os.path.join(config["data"]["root"], f) for f in raw_files(DATASET)]


def sampled_archs_table():
    return f"{RESULTS}/archs.csv"


def study_archs():
    """The study's architectures, known when the workflow is parsed (sampling is seeded and
    cheap), so that `snakemake -n` plans every training job. The `sample` rule writes the same
    table. Score jobs need no arch list: a shard is an index range of that table (`--shard i/n`)."""
    from knas.study import sample_table

    s = config["sample"]
    return sample_table(s["n"], s["seed"], s["archs"], s["file"], space=config["space"]["name"])



def arch_of_id(wildcards):
    """The arch string of the ``arch_id`` wildcard (its index in the configured space)."""
    from knas.spaces import get_space

    return get_space(config["space"]["name"]).arch_of(int(wildcards.arch_id))


def space_args(wildcards=None):
    """``--space`` and ``--space-options`` of the configured space (NB201's C and N go as --C/--N)."""
    import json

    from knas.config import space_options

    name = config["space"]["name"]
    opts = {} if name == "nb201" else space_options(config)
    return f"--space {name} --space-options '{json.dumps(opts, sort_keys=True)}'"


def search_truth_options():
    """``--truth-options`` of the search stage (the truth backend's options, as JSON)."""
    import json

    t = config["truth"]
    opts = {"nats_sss": {"hp": t["hp"]}, "nb101": {"agg": t["agg"]}}.get(t["benchmark"], {})
    return f"--truth-options '{json.dumps(opts, sort_keys=True)}'"


def truth_options():
    """Backend options of the truth stage: the space, NATS-SSS's schedule, NB101's aggregation."""
    t = config["truth"]
    out = f"--space {config['space']['name']}"
    if t["benchmark"] == "nats_sss":
        out += f" --hp {t['hp']}"
    if t["benchmark"] == "nb101":
        out += f" --agg {t['agg']}"
    return out


def epochs_of_phase(wildcards):
    return config["truth"]["epochs"] if wildcards.phase == "truth" else config["train"]["epochs"]


# the score jobs: pass group -> the per-proxy tables it writes, as patterns of {shard}
from knas.study.score_files import score_jobs, scoring_args  # noqa: E402

SCORE_JOBS = score_jobs(f"{RESULTS}/scores", config["scoring"]["proxies"], config["scoring"]["options"],
                        batch_size=config["scoring"]["batch_size"], batch_sizes=config["scoring"]["batch_sizes"])


def score_shards():
    """Every per-proxy score table of every shard (merge_scores' input)."""
    n = config["scoring"]["shards"]
    return [path.format(shard=i) for paths in SCORE_JOBS.values() for path in paths for i in range(n)]


def scores_table():
    return f"{RESULTS}/scores.parquet"


def truth_table():
    return f"{RESULTS}/truth.parquet"


def truth_dataset():
    return config["truth"]["dataset"] or DATASET


def truth_histories():
    """benchmark: train -> every sampled architecture is trained (phase truth)."""
    if config["truth"]["benchmark"] != "train":
        return []
    return [f"{RESULTS}/train/truth/{i}/history.json" for i in study_archs()["arch_id"]]


SELECTION = f"{RESULTS}/selection.csv"


def drop_damaged_selection():
    """`selection.csv` is read while Snakemake plans the jobs (topk_histories), where an error
    comes with a traceback. So a damaged one (cheap to redo) is removed here, before planning,
    and `select` (a target) recomputes it; a dry run only warns."""
    from knas.utils import CorruptFileError, check_integrity

    try:
        check_integrity(SELECTION)
    except CorruptFileError as err:
        dry = is_dry_run(sys.argv)
        print(f"WARNING: {err.path} {err.why}; "
              + ("a real run recomputes it" if dry else "removed, rule select recomputes it"), file=sys.stderr)
        if not dry:
            os.remove(SELECTION)


drop_damaged_selection()


def topk_histories(wildcards):
    """Training histories of the union of all KNAS top-k sets (known after `select`); none when
    the fine selection reads the benchmark's 12-epoch record (select.fine: benchmark_12ep)."""
    if config["select"]["fine"] != "train":
        return []
    from knas.utils import CorruptFileError, read_table  # checks the file is the one `select` wrote

    try:
        sel = read_table(checkpoints.select.get().output[0])
    except CorruptFileError:  # a dry run with a damaged selection (see drop_damaged_selection)
        return []
    ids = sorted(set(sel.loc[sel["method"].str.startswith("knas_k"), "arch_id"]))
    return [f"{RESULTS}/train/topk/{i}/history.json" for i in ids]


def study_config_json(wildcards):
    """The config keys the report prints, as a JSON string (single-quoted in the shell)."""
    import json

    keys = ("study", "data", "space", "scoring", "truth", "train", "select")
    return json.dumps({k: config[k] for k in keys}, sort_keys=True)


def search_strategy(wildcards):
    return config["search"]["runs"][wildcards.run]["strategy"]


def search_args(wildcards):
    """--param key=value for each configured strategy parameter."""
    import json

    params = config["search"]["runs"][wildcards.run].get("params", {})
    return " ".join(f"--param '{k}={json.dumps(v, sort_keys=True)}'" for k, v in sorted(params.items()))


def search_repeats(wildcards):
    return config["search"]["runs"][wildcards.run].get("repeats", config["search"]["repeats"])


def search_cache(wildcards):
    """On-demand scores of one search run (outside Snakemake's outputs: a cache, reused by reruns),
    named by the scoring settings, so a rerun with other settings never reads stale scores."""
    import hashlib

    key = hashlib.sha256(scoring_args(config, per_proxy=True).encode()).hexdigest()[:12]
    return f"{RESULTS}/search/cache/{wildcards.run}.{key}.parquet"


def search_dataset():
    return config["search"]["dataset"] or truth_dataset()


def search_truth_args(wildcards):
    """The oracle of ``knas search``: the benchmark, or training the found architecture with the
    truth stage's recipe (``knas.train_config.study_train_config``, the space's network options)."""
    import dataclasses
    import json

    from knas.config import space_options
    from knas.train_config import study_train_config

    t = config["truth"]
    if t["benchmark"] != "train":
        return f"--truth-kind {t['benchmark']} --truth {t['path']}"
    name = config["space"]["name"]
    recipe = {**dataclasses.asdict(study_train_config(config, "truth")), "space": name,
              "space_options": {} if name == "nb201" else space_options(config)}
    return f"--truth-kind train --truth {RESULTS}/search/train --train-found '{json.dumps(recipe, sort_keys=True)}'"


TEXT = f"{RESULTS}/text/{config['text']['task']}"


def text_candidate_args(wildcards, input):
    """baseline -> the unmodified wiring; rankN -> the N-th best candidate by MGM."""
    if wildcards.which == "baseline":
        return "--candidate identity"
    return f"--rank {wildcards.which[len('rank'):]} --scores {input.scores}"


def text_runs():
    t = config["text"]
    which = ["baseline"] + [f"rank{r}" for r in range(1, t["topk"] + 1)]
    return [f"{TEXT}/finetune/{w}/seed{s}.json" for w in which for s in range(t["seeds"])]


def report_sections(wildcards=None):
    """Optional sections of report.md by option: the search strategies, the text study.
    (An input function: the rules that write them are declared after the report rule.)"""
    sections = {}
    if config["search"]["runs"]:
        sections["--search-summary"] = rules.search_summary.output.markdown
    if config["text"]["enabled"]:
        sections["--text-report"] = rules.text_report.output[0]
    return sections


def report_extras(wildcards):
    return list(report_sections().values())


def report_extra_args(wildcards):
    return " ".join(f"{opt} {path}" for opt, path in report_sections().items())


def final_targets():
    """Called by `rule all`, after every rule is declared."""
    search = [rules.search_summary.output.table] if config["search"]["runs"] else []
    text = [rules.text_report.output[0]] if config["text"]["enabled"] else []
    if not config["vision"]:
        return text
    # the score shards and the selection are targets too, so a deleted one is recomputed (a
    # damaged selection is removed before planning, see drop_damaged_selection)
    return search + text + score_shards() + [
        sampled_archs_table(),
        scores_table(),
        truth_table(),
        rules.select.output[0],
        rules.correlate.output.corr,
        rules.report.output.md,
    ]
