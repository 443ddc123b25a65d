rule train:
    input:
        unpack(prepared_data("train", "val", "test", masks=True)),
        plan="results/privacy/{dataset}/eps_{eps}.json",
        code=command_code("train", model=True),
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
        runtime=gpu_minutes(1),
        gpu=0,
        device=training_device,
    params:
        clip_norm=private_flag("clip-norm", "privacy", "clip_norm"),
        training=training_flags,
    shell:
        "python -m rero train --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --seed {wildcards.seed} --out-dir $(dirname {output.metrics})"
        " {params.training[model]} {params.clip_norm} {params.training[optimizer]}"
        " --device {resources.device} {params.training[task]}"
        " --threads {threads} > {log} 2>&1"
