# Stage 3: training-free scores, one job per (pass group, shard), merged into one table.
#
# A job computes every configured proxy of one pass group through one Context (they share the
# group's pass, the network builds, the process start and the data load) and writes one table per
# proxy, named by the proxy's options (knas.study.score_files): adding a proxy reruns only its
# group's jobs, removing one reruns none, changing one's options reruns only its group. The job
# reads its proxies, options and batch sizes back from its output paths, so none is a rule
# parameter; the shared scoring flags come from knas.study.score_files.scoring_args, as the search
# jobs' (their on-demand scores are the study's).

for _group, _outputs in SCORE_JOBS.items():

    rule:
        name:
            f"score_{_group}"
        input:
            data=prepared_data(),
            archs=sampled_archs_table(),
        output:
            _outputs,
        log:
            f"{LOGS}/score/{_group}/shard{{shard}}.log",
        wildcard_constraints:
            shard=r"\d+",
        conda:
            ENV
        benchmark:
            f"{BENCHMARKS}/score/{_group}/shard{{shard}}.tsv"
        threads: config["scoring"]["threads"]
        resources:
            mem_mb=MEM_MB["score"],
            gpu=GPUS,
        params:
            shards=config["scoring"]["shards"],
            scoring=scoring_args(config, per_proxy=False),
        shell:
            "python -m knas score --out-files {output:q}"
            " --archs {input.archs} --data {input.data} --shard {wildcards.shard}/{params.shards}"
            " {params.scoring} --no-progress > {log} 2>&1"


rule merge_scores:
    input:
        score_shards(),
    output:
        scores_table(),
    log:
        f"{LOGS}/merge_scores.log",
    localrule: True
    conda:
        ENV
    shell:
        "python -m knas merge-scores {input} --out {output} > {log} 2>&1"
