# Training with the NB201 recipe, one resumable job per architecture:
# phase "truth" = every sampled architecture (truth.benchmark: train, truth.epochs),
# phase "topk"  = the architectures KNAS selected (train.epochs, 20 in the paper).


rule train:
    input:
        data=prepared_data(),
    output:
        history=f"{RESULTS}/train/{{phase}}/{{arch_id}}/history.json",
    log:
        f"{LOGS}/train/{{phase}}/{{arch_id}}.log",
    wildcard_constraints:
        phase="truth|topk",
        arch_id=r"\d+",
    conda:
        ENV
    benchmark:
        f"{BENCHMARKS}/train/{{phase}}/{{arch_id}}.tsv"
    threads: config["train"]["threads"]
    resources:
        mem_mb=MEM_MB["train"],
        gpu=GPUS,
    params:
        arch=arch_of_id,
        epochs=epochs_of_phase,
        out=subpath(output.history, parent=True),
        batch=config["train"]["batch_size"],
        lr=config["train"]["lr"],
        momentum=config["train"]["momentum"],
        wd=config["train"]["weight_decay"],
        C=config["space"]["C"],
        N=config["space"]["N"],
        space=space_args(),
        seed=config["seed"],
        device=config["device"],
        nesterov="" if config["train"]["nesterov"] else "--no-nesterov",
    shell:
        "python -m knas train --arch '{params.arch}'"
        " --data {input.data} --out {params.out} --epochs {params.epochs}"
        " --batch-size {params.batch} --lr {params.lr}"
        " --momentum {params.momentum} --weight-decay {params.wd}"
        " {params.nesterov}"
        " {params.space} --C {params.C} --N {params.N} --seed {params.seed} --device {params.device}"
        " --no-progress > {log} 2>&1"
