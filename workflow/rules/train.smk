rule train:
    input:
        train_images="results/data/{dataset}/train_images.npy",
        train_labels="results/data/{dataset}/train_labels.npy",
        val_images="results/data/{dataset}/val_images.npy",
        val_labels="results/data/{dataset}/val_labels.npy",
        test_images="results/data/{dataset}/test_images.npy",
        test_labels="results/data/{dataset}/test_labels.npy",
        meta="results/data/{dataset}/meta.json",
        masks=dataset_masks,
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
        runtime=120,
        gpu=0,
    params:
        clip_norm=private_flag("clip-norm", "privacy", "clip_norm"),
        model=dataset_setting("training", "model"),
        optimizer=dataset_setting("training", "optimizer"),
        learning_rate=dataset_setting("training", "learning_rate"),
        physical_batch_size=dataset_setting("training", "physical_batch_size"),
        grad_sample_mode=dataset_setting("training", "grad_sample_mode"),
        device=dataset_setting("training", "device"),
        loss_reduction=dataset_setting("training", "loss_reduction"),
        single_logit=lambda wildcards: (
            "--single-logit"
            if dataset_setting("training", "single_logit")(wildcards)
            else "--no-single-logit"
        ),
        multiplicity=dataset_setting("training", "augmentation_multiplicity"),
        flip_probability=dataset_setting("training", "flip_probability"),
        max_shift=dataset_setting("training", "max_shift"),
    shell:
        "python -m rero train --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --seed {wildcards.seed} --out-dir $(dirname {output.metrics})"
        " --model {params.model} {params.clip_norm} --optimizer {params.optimizer}"
        " --learning-rate {params.learning_rate}"
        " --physical-batch-size {params.physical_batch_size}"
        " --grad-sample-mode {params.grad_sample_mode} --device {params.device}"
        " --loss-reduction {params.loss_reduction} {params.single_logit}"
        " --augmentation-multiplicity {params.multiplicity}"
        " --flip-probability {params.flip_probability} --max-shift {params.max_shift}"
        " --threads {threads} > {log} 2>&1"
