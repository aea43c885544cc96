# knas: training-free NAS studies. This file is a table of contents; see workflow/rules/.
# Stages: data -> sample -> score (per proxy, sharded) -> truth -> correlate -> select
#         -> train top-k -> report.
import copy
import os

from snakemake.utils import min_version

min_version("9.0")


# The default study; `--configfile other.yaml` overrides its values key by key, unless that file
# sets `base: schema` (the files in config/): then only its keys count, over the schema's defaults.
# `search.runs` is never merged: a study given with --configfile runs the searches its own files
# (and --config) name, not config.yaml's smoke searches (a merge cannot remove a run).
if config.get("base", "config.yaml") == "config.yaml":

    configfile: os.path.join(workflow.basedir, "config.yaml")


if workflow.overwrite_configfiles:
    config.setdefault("search", {})["runs"] = copy.deepcopy(
        (workflow.config_settings.overwrite_config.get("search") or {}).get("runs") or {}
    )


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/truth.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/text.smk"


rule all:
    default_target: True
    input:
        final_targets(),
