# Stage 1: dataset download (local: compute nodes may be offline) and preparation.


rule download_data:
    output:
        os.path.join(config["data"]["root"], "{file}"),
    log:
        f"{LOGS}/download_data/{{file}}.log",
    localrule: True
    cache: "omit-software"
    conda:
        ENV
    params:
        dataset=DATASET,
    shell:
        "python -m knas data download --dataset {params.dataset} --file {wildcards.file}"
        " --root $(dirname {output}) > {log} 2>&1"


rule prepare_data:
    input:
        raw_data_inputs(),
    output:
        prepared_data(),
    log:
        f"{LOGS}/prepare_data.log",
    localrule: True
    conda:
        ENV
    params:
        dataset=DATASET,
        root=config["data"]["root"],
        seed=config["seed"],
        split=(
            f"--split-file {config['data']['split_file']}"
            if config["data"]["split_file"]
            else ""
        ),
    resources:
        mem_mb=MEM_MB["prepare_data"],
    shell:
        "python -m knas data prepare --dataset {params.dataset} --root {params.root}"
        " --seed {params.seed} {params.split} --out {output} > {log} 2>&1"
