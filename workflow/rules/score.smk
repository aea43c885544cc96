# Stage 3: training-free scores, one job per (proxy, shard), merged into one table.


rule score:
    input:
        data=prepared_data(),
        archs=sampled_archs_table(),
    output:
        f"{RESULTS}/scores/{{proxy}}/shard{{shard}}.parquet",
    log:
        f"{LOGS}/score/{{proxy}}/shard{{shard}}.log",
    wildcard_constraints:
        proxy="|".join(config["scoring"]["proxies"]),
        shard=r"\d+",
    conda:
        ENV
    benchmark:
        f"{BENCHMARKS}/score/{{proxy}}/shard{{shard}}.tsv"
    threads: config["scoring"]["threads"]
    resources:
        mem_mb=MEM_MB["score"],
        gpu=GPUS,
    params:
        shards=config["scoring"]["shards"],
        options=proxy_options,
        C=config["space"]["C"],
        N=config["space"]["N"],
        space=space_args(),
        batch=config["scoring"]["batch_size"],
        batch_seed=config["scoring"]["batch_seed"],
        init_seed=config["scoring"]["init_seed"],
        augment="--augment" if config["scoring"]["augment"] else "",
        device=config["device"],
    shell:
        "python -m knas score --proxy {wildcards.proxy}"
        " --archs {input.archs} --data {input.data} --shard {wildcards.shard}/{params.shards}"
        " {params.space} --C {params.C} --N {params.N} --batch-size {params.batch} --batch-seed {params.batch_seed}"
        " --init-seed {params.init_seed} {params.augment} --device {params.device}"
        " --options '{params.options}' --no-progress --out {output} > {log} 2>&1"


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
