rule train:
    input:
        train="results/data/{dataset}/train.npz",
        val="results/data/{dataset}/val.npz",
        test="results/data/{dataset}/test.npz",
        meta="results/data/{dataset}/meta.json",
        plan="results/privacy/{dataset}/eps_{eps}.json",
        code=command_code("train"),
    output:
        model="results/train/{dataset}/eps_{eps}/seed_{seed}/model.pt",
        metrics="results/train/{dataset}/eps_{eps}/seed_{seed}/metrics.json",
    log:
        "results/logs/train/{dataset}/eps_{eps}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/eps_{eps}/seed_{seed}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=0,
    params:
        model=lookup(dpath="training/model", within=config),
        optimizer=lookup(dpath="training/optimizer", within=config),
        learning_rate=lookup(dpath="training/learning_rate", within=config),
        physical_batch_size=lookup(dpath="training/physical_batch_size", within=config),
        grad_sample_mode=lookup(dpath="training/grad_sample_mode", within=config),
        device=lookup(dpath="training/device", within=config),
    shell:
        "python -m rero train --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --seed {wildcards.seed} --out-dir $(dirname {output.metrics})"
        " --model {params.model} --optimizer {params.optimizer}"
        " --learning-rate {params.learning_rate}"
        " --physical-batch-size {params.physical_batch_size}"
        " --grad-sample-mode {params.grad_sample_mode} --device {params.device}"
        " --threads {threads} > {log} 2>&1"
