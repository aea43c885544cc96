# The text study (KNAS Table 2): rewired RoBERTa candidates scored by MGM, top-k fine-tuned.


rule text_data:
    output:
        train=f"{TEXT}/data/train.tsv",
        dev=f"{TEXT}/data/dev.tsv",
    log:
        f"{LOGS}/text/data.log",
    benchmark:
        f"{BENCHMARKS}/text/data.tsv"
    localrule: True
    conda:
        ENV
    params:
        task=config["text"]["task"],
        src=f"--from-dir {config['text']['data_dir']}" if config["text"]["data_dir"] else "",
        seed=config["seed"],
    shell:
        "python -m knas text-data --task {params.task} {params.src} --seed {params.seed}"
        " --out $(dirname {output.train}) > {log} 2>&1"


rule text_score:
    input:
        rules.text_data.output.train,
    output:
        f"{TEXT}/scores.csv",
    log:
        f"{LOGS}/text/score.log",
    benchmark:
        f"{BENCHMARKS}/text/score.tsv"
    conda:
        ENV
    threads: config["text"]["threads"]
    resources:
        mem_mb=MEM_MB["text"],
        gpu=GPUS,
    params:
        task=config["text"]["task"],
        model=config["text"]["model"],
        n=config["text"]["mgm_n"],
        max_length=config["text"]["max_length"],
        seed=config["seed"],
        device=config["device"],
        data_dir=subpath(input[0], parent=True),
    shell:
        "python -m knas text-score --task {params.task} --data-dir {params.data_dir}"
        " --model {params.model} --n {params.n} --max-length {params.max_length} --seed {params.seed}"
        " --device {params.device} --out {output} > {log} 2>&1"


rule text_finetune:
    input:
        scores=rules.text_score.output,
        train=rules.text_data.output.train,
    output:
        f"{TEXT}/finetune/{{which}}/seed{{seed}}.json",
    log:
        f"{LOGS}/text/finetune/{{which}}/seed{{seed}}.log",
    benchmark:
        f"{BENCHMARKS}/text/finetune/{{which}}/seed{{seed}}.tsv"
    wildcard_constraints:
        which=r"baseline|rank\d+",
        seed=r"\d+",
    conda:
        ENV
    threads: config["text"]["threads"]
    resources:
        mem_mb=MEM_MB["text"],
        gpu=GPUS,
    params:
        pick=text_candidate_args,
        task=config["text"]["task"],
        model=config["text"]["model"],
        lr=config["text"]["lr"],
        batch=config["text"]["batch_size"],
        epochs=config["text"]["epochs"],
        max_length=config["text"]["max_length"],
        device=config["device"],
        data_dir=subpath(input.train, parent=True),
    shell:
        "python -m knas text-finetune --task {params.task}"
        " --data-dir {params.data_dir} --model {params.model} {params.pick} --seed {wildcards.seed}"
        " --lr {params.lr} --batch-size {params.batch} --epochs {params.epochs}"
        " --max-length {params.max_length} --device {params.device} --out {output} > {log} 2>&1"


rule text_summary:
    input:
        runs=text_runs(),
        scores=rules.text_score.output,
    output:
        report(f"{TEXT}/summary.csv", caption="../report/text.rst", category="Text study"),
    log:
        f"{LOGS}/text/summary.log",
    benchmark:
        f"{BENCHMARKS}/text/summary.tsv"
    localrule: True
    conda:
        ENV
    shell:
        "python -m knas text-summary {input.runs} --scores {input.scores} --out {output} > {log} 2>&1"


rule text_report:
    input:
        runs=text_runs(),
        summary=rules.text_summary.output,
        scores=rules.text_score.output,
    output:
        f"{TEXT}/report.md",
    log:
        f"{LOGS}/text/report.log",
    benchmark:
        f"{BENCHMARKS}/text/report.tsv"
    localrule: True
    conda:
        ENV
    shell:
        "python -m knas text-report {input.runs} --summary {input.summary} --scores {input.scores}"
        " --out {output} > {log} 2>&1"
