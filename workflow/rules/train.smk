# Stage 3: train architectures with the NB201 recipe, one job per architecture, resumable.


rule train:
    input:
        data=prepared_data(),
        archs=sampled_archs_table(),
    output:
        history=f"{RESULTS}/train/{{arch_id}}/history.json",
    log:
        f"{LOGS}/train/{{arch_id}}.log",
    conda:
        ENV
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        gpu=1 if config["device"] == "cuda" else 0,
    params:
        arch=arch_of_id,
        out=subpath(output.history, parent=True),
        cfg=config["train"],
        C=config["space"]["C"],
        N=config["space"]["N"],
        seed=config["seed"],
        device=config["device"],
        nesterov="" if config["train"]["nesterov"] else "--no-nesterov",
    shell:
        "OMP_NUM_THREADS={threads} python -m knas train --arch '{params.arch}'"
        " --data {input.data} --out {params.out} --epochs {params.cfg[epochs]}"
        " --batch-size {params.cfg[batch_size]} --lr {params.cfg[lr]}"
        " --momentum {params.cfg[momentum]} --weight-decay {params.cfg[weight_decay]}"
        " {params.nesterov}"
        " --C {params.C} --N {params.N} --seed {params.seed} --device {params.device}"
        " --no-progress > {log} 2>&1"


rule train_summary:
    input:
        train_histories,
    output:
        f"{RESULTS}/train_summary.csv",
    log:
        f"{LOGS}/train_summary.log",
    localrule: True
    conda:
        ENV
    shell:
        "python -m knas train-summary {input} --out {output} > {log} 2>&1"
