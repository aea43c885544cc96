# Stage 4: ground truth (a benchmark, or training every sampled architecture).


rule truth:
    input:
        archs=sampled_archs_table(),
        histories=truth_histories(),
    output:
        truth_table(),
    log:
        f"{LOGS}/truth.log",
    conda:
        ENV
    params:
        benchmark=config["truth"]["benchmark"],
        path=f"--path {config['truth']['path']}" if config["truth"]["path"] else "",
        dataset=truth_dataset(),
        pickle="--allow-pickle" if config["truth"]["allow_pickle"] else "",
        options=truth_options(),
    resources:
        mem_mb=MEM_MB["truth"],
    shell:
        "python -m knas truth --benchmark {params.benchmark} {params.path} {params.pickle} {params.options}"
        " --dataset {params.dataset}"
        " --archs {input.archs} --histories {input.histories} --out {output} > {log} 2>&1"
