rule audit:
    input:
        train_images="results/data/{dataset}/train_images.npy",
        train_labels="results/data/{dataset}/train_labels.npy",
        val_images="results/data/{dataset}/val_images.npy",
        val_labels="results/data/{dataset}/val_labels.npy",
        meta="results/data/{dataset}/meta.json",
        plan="results/privacy/{dataset}/eps_{eps}.json",
        code=command_code("audit", model=True),
    output:
        audit="results/audit/{dataset}/eps_{eps}.json",
    log:
        "results/logs/audit/{dataset}/eps_{eps}.log",
    benchmark:
        "results/benchmarks/audit/{dataset}/eps_{eps}.tsv"
    wildcard_constraints:
        eps=one_of(AUDIT_EPS),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=0,
    params:
        gradient_canaries=config["audit"]["gradient_canaries"],
        input_canaries=config["audit"]["input_canaries"],
        runs=config["audit"]["runs"],
        seed=config["audit"]["seed"],
        confidence=config["audit"]["confidence"],
        guesses=" ".join(str(count) for count in config["audit"]["guesses"]),
        clip_norm=dataset_setting("privacy", "clip_norm"),
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
        "python -m rero audit --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --out {output.audit} --gradient-canaries {params.gradient_canaries}"
        " --input-canaries {params.input_canaries} --runs {params.runs}"
        " --audit-seed {params.seed} --confidence {params.confidence}"
        " --guesses {params.guesses} --clip-norm {params.clip_norm}"
        " --model {params.model} --optimizer {params.optimizer}"
        " --learning-rate {params.learning_rate}"
        " --physical-batch-size {params.physical_batch_size}"
        " --grad-sample-mode {params.grad_sample_mode} --device {params.device}"
        " --loss-reduction {params.loss_reduction} {params.single_logit}"
        " --augmentation-multiplicity {params.multiplicity}"
        " --flip-probability {params.flip_probability} --max-shift {params.max_shift}"
        " --threads {threads} --no-progress > {log} 2>&1"
