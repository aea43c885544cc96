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
        truth_options=search_truth_options(),
        scoring=scoring_args(config, per_proxy=True),  # on-demand scores exactly as the study's
        seed=config["seed"],
    shell:
        "python -m knas search --strategy {params.strategy} --label {wildcards.run}"
        " {params.args} {params.truth} --dataset {params.dataset}"
        " --repeats {params.repeats} --seed {params.seed} --scores {input.scores} --data {input.data}"
        " --score-cache {params.cache} {params.truth_options} {params.scoring}"
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
