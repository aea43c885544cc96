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

from knas.config import check_config  # noqa: E402

check_config(config)

STUDY = config["study"]
RESULTS = f"results/{STUDY}"
LOGS = f"{RESULTS}/logs"
DATASET = config["data"]["dataset"]
ENV = "../../envs/knas.yaml"


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
    cheap), so that `snakemake -n` plans every job. The `sample` rule writes the same table."""
    from knas.study import sample_table

    s = config["sample"]
    return sample_table(s["n"], s["seed"], s["archs"], s["file"])


ARCHS = study_archs()


def trained_arch_ids(wildcards=None):
    """NB201 indices of the architectures to train: the first train.n_archs of the sample."""
    return ARCHS["arch_id"].tolist()[: config["train"]["n_archs"]]


def arch_of_id(wildcards):
    """The NB201 arch string of the ``arch_id`` wildcard (its benchmark index)."""
    from knas.nb201 import arch_of

    return arch_of(int(wildcards.arch_id))


def train_histories(wildcards=None):
    return [f"{RESULTS}/train/{i}/history.json" for i in trained_arch_ids()]


def final_targets():
    targets = [sampled_archs_table()]
    if config["train"]["n_archs"] > 0:
        targets.append(f"{RESULTS}/train_summary.csv")
    return targets
