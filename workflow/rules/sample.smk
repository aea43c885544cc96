# Stage 2: the architectures of the study (random sample with a seed, all, or a user list).


rule sample:
    output:
        table=sampled_archs_table(),
    log:
        f"{LOGS}/sample.log",
    localrule: True
    conda:
        ENV
    params:
        n=config["sample"]["n"],
        seed=config["sample"]["seed"],
        archs=" ".join(f"--arch '{a}'" for a in config["sample"]["archs"]),
        file=f"--file {config['sample']['file']}" if config["sample"]["file"] else "",
        space=config["space"]["name"],
    shell:
        "python -m knas sample --space {params.space} --n {params.n} --seed {params.seed} {params.archs} {params.file}"
        " --out {output.table} > {log} 2>&1"
