# Search strategies with the benchmark as oracle (issue: search strategies guided by proxies).
# Without a benchmark (truth.benchmark: train) the found architectures are trained in the search
# job with the truth stage's recipe (knas.search.train_oracle), into search/train/ (a cache).


rule search:
    input:
        scores=scores_table(),
        data=prepared_data(),
    output:
        runs=f"{RESULTS}/search/{{run}}.parquet",
    log:
        f"{LOGS}/search/{{run}}.log",
    wildcard_constraints:
        run="|".join(config["search"]["runs"]) or "NO_SEARCH_RUNS",
    conda:
        ENV
    benchmark:
        f"{BENCHMARKS}/search/{{run}}.tsv"
    threads: config["search"]["threads"]
    resources:
        mem_mb=MEM_MB["search"],
        gpu=GPUS,
    params:
        strategy=search_strategy,
        args=search_args,
        truth=search_truth_args,
        dataset=search_dataset(),
        repeats=search_repeats,
        cache=search_cache,
        C=config["space"]["C"],
        N=config["space"]["N"],
        batch=config["scoring"]["batch_size"],
        batch_seed=config["scoring"]["batch_seed"],
        init_seed=config["scoring"]["init_seed"],
        device=config["device"],
        seed=config["seed"],
    shell:
        "python -m knas search --strategy {params.strategy} --label {wildcards.run}"
        " {params.args} {params.truth} --dataset {params.dataset}"
        " --repeats {params.repeats} --seed {params.seed} --scores {input.scores} --data {input.data}"
        " --score-cache {params.cache} --C {params.C} --N {params.N} --batch-size {params.batch}"
        " --batch-seed {params.batch_seed} --init-seed {params.init_seed} --device {params.device}"
        " --out {output.runs} > {log} 2>&1"


rule search_summary:
    input:
        expand(f"{RESULTS}/search/{{run}}.parquet", run=list(config["search"]["runs"])),
    output:
        table=report(
            f"{RESULTS}/search/summary.csv", caption="../report/search.rst", category="Search"
        ),
        markdown=f"{RESULTS}/search/summary.md",
        figure=report(
            f"{RESULTS}/search/accuracy_vs_search_time.png",
            caption="../report/search.rst",
            category="Search",
        ),
    log:
        f"{LOGS}/search_summary.log",
    localrule: True
    conda:
        ENV
    shell:
        "python -m knas search-summary {input} --out {output.table} --markdown {output.markdown}"
        " --plot {output.figure} > {log} 2>&1"
