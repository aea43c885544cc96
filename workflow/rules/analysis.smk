# Stages 5-8: correlate proxies with the truth, select architectures, report.


rule correlate:
    input:
        scores=scores_table(),
        truth=truth_table(),
    output:
        corr=f"{RESULTS}/correlation/correlations.csv",
        repeated=f"{RESULTS}/correlation/repeated_sampling_summary.csv",
        groups=f"{RESULTS}/correlation/rank_groups.csv",
        figures=report(
            directory(f"{RESULTS}/correlation/figures"),
            patterns=["{name}.png"],
            caption="../report/correlation.rst",
            category="Correlation",
        ),
    log:
        f"{LOGS}/correlate.log",
    localrule: True
    conda:
        ENV
    params:
        out=subpath(output.corr, parent=True),
        bootstrap=config["analysis"]["bootstrap"],
        repeats=config["analysis"]["repeats"],
        repeat_n=config["analysis"]["repeat_n"],
        seed=config["seed"],
        benchmark=config["truth"]["benchmark"],
    shell:
        "python -m knas correlate --scores {input.scores} --truth {input.truth} --out-dir {params.out}"
        " --bootstrap {params.bootstrap} --repeats {params.repeats} --repeat-n {params.repeat_n}"
        " --seed {params.seed} --benchmark {params.benchmark} > {log} 2>&1"


checkpoint select:
    input:
        scores=scores_table(),
        archs=sampled_archs_table(),
    output:
        SELECTION,
    log:
        f"{LOGS}/select.log",
    localrule: True
    conda:
        ENV
    params:
        proxy=config["select"]["proxy"],
        k=" ".join(map(str, config["select"]["k"])),
        naswot_n=" ".join(map(str, config["select"]["naswot_n"])),
        random_seeds=config["select"]["random_seeds"],
        seed=config["seed"],
        pool="" if config["select"]["pool"] is None else f"--pool {config['select']['pool']}",
    shell:
        "python -m knas select --scores {input.scores} --archs {input.archs} --proxy {params.proxy}"
        " --k {params.k} --naswot-n {params.naswot_n} --random-seeds {params.random_seeds}"
        " --seed {params.seed} {params.pool} --out {output} > {log} 2>&1"


rule report:
    input:
        scores=scores_table(),
        truth=truth_table(),
        archs=sampled_archs_table(),
        corr=rules.correlate.output.corr,
        repeated=rules.correlate.output.repeated,
        selection=rules.select.output[0],
        histories=topk_histories,
        extra=report_extras,
    output:
        md=f"{RESULTS}/report/report.md",
        methods=report(
            f"{RESULTS}/report/methods.csv", caption="../report/methods.rst", category="Search"
        ),
        proxies=report(
            f"{RESULTS}/report/proxies.csv", caption="../report/proxies.rst", category="Proxies"
        ),
        figure=report(
            f"{RESULTS}/report/figures/accuracy_vs_search_time.png",
            caption="../report/search_time.rst",
            category="Search",
        ),
    log:
        f"{LOGS}/report.log",
    localrule: True
    conda:
        ENV
    params:
        corr_dir=subpath(input.corr, parent=True),
        out=subpath(output.md, parent=True),
        config=study_config_json,
        extra=report_extra_args,
    shell:
        "python -m knas report --scores {input.scores} --truth {input.truth}"
        " --correlation-dir {params.corr_dir} --selection {input.selection} --archs {input.archs}"
        " --histories {input.histories} --config '{params.config}' {params.extra}"
        " --out-dir {params.out} > {log} 2>&1"
