rule attack:
    input:
        train_images="results/data/{dataset}/train_images.npy",
        train_labels="results/data/{dataset}/train_labels.npy",
        val_images="results/data/{dataset}/val_images.npy",
        val_labels="results/data/{dataset}/val_labels.npy",
        test_images="results/data/{dataset}/test_images.npy",
        test_labels="results/data/{dataset}/test_labels.npy",
        meta="results/data/{dataset}/meta.json",
        plan="results/privacy/{dataset}/eps_{eps}.json",
        code=command_code("attack"),
    output:
        imprint="results/attack/{dataset}/eps_{eps}/imprint.json",
        recon="results/attack/{dataset}/eps_{eps}/recon.npz",
        prior_aware="results/attack/{dataset}/eps_{eps}/prior_aware.json",
    log:
        "results/logs/attack/{dataset}/eps_{eps}.log",
    benchmark:
        "results/benchmarks/attack/{dataset}/eps_{eps}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        clip_norm=private_flag("clip-norm", "privacy", "clip_norm"),
        seed=dataset_setting("attack", "seed"),
        imprint=dataset_setting("attack", "imprint"),
        prior_aware=dataset_setting("attack", "prior_aware"),
        device=dataset_setting("training", "device"),
    shell:
        "python -m rero attack --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --out-dir $(dirname {output.imprint}) --seed {params.seed}"
        " {params.clip_norm} --batch-size {params.imprint[batch_size]}"
        " --num-batches {params.imprint[num_batches]}"
        " --num-bins {params.imprint[num_bins]}"
        " --ssim-threshold {params.imprint[ssim_threshold]}"
        " --noise-calibration {params.imprint[noise_calibration]}"
        " --reference-split {params.imprint[reference_split]}"
        " --prior-size {params.prior_aware[prior_size]}"
        " --known-size {params.prior_aware[known_size]}"
        " --attack-clip-norm {params.prior_aware[clip_norm]}"
        " --trials {params.prior_aware[trials]}"
        " --attack-steps {params.prior_aware[steps]}"
        " --attack-sample-rate {params.prior_aware[sample_rate]}"
        " --attack-learning-rate {params.prior_aware[learning_rate]}"
        " --device {params.device} --threads {threads} > {log} 2>&1"


rule transition:
    input:
        train_images="results/data/{dataset}/train_images.npy",
        train_labels="results/data/{dataset}/train_labels.npy",
        val_images="results/data/{dataset}/val_images.npy",
        val_labels="results/data/{dataset}/val_labels.npy",
        test_images="results/data/{dataset}/test_images.npy",
        test_labels="results/data/{dataset}/test_labels.npy",
        meta="results/data/{dataset}/meta.json",
        plans=expand("results/privacy/{{dataset}}/eps_{eps}.json", eps=BOUND_EPS),
        imprint=expand(
            "results/attack/{{dataset}}/eps_{eps}/imprint.json", eps=BOUND_EPS
        ),
        code=command_code("transition"),
    output:
        transition="results/attack/{dataset}/transition.json",
    log:
        "results/logs/transition/{dataset}.log",
    benchmark:
        "results/benchmarks/transition/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,
    params:
        clip_norm=lambda wildcards: "--clip-norm "
        + str(
            study_config.dataset_settings(config, wildcards.dataset, "privacy")[
                "clip_norm"
            ]
        ),
        seed=dataset_setting("attack", "seed"),
        imprint=dataset_setting("attack", "imprint"),
        levels=lambda wildcards: " ".join(
            f"--level {level}"
            for level in dataset_setting("attack", "transition", "levels")(wildcards)
        ),
        bisections=dataset_setting("attack", "transition", "bisections"),
        accountant=dataset_setting("privacy", "accountant"),
        device=dataset_setting("training", "device"),
    shell:
        "python -m rero transition --data-dir $(dirname {input.meta}) --plans {input.plans}"
        " --imprint {input.imprint} {params.levels} --bisections {params.bisections}"
        " --accountant {params.accountant} --out {output.transition} --seed {params.seed}"
        " {params.clip_norm} --batch-size {params.imprint[batch_size]}"
        " --num-batches {params.imprint[num_batches]}"
        " --num-bins {params.imprint[num_bins]}"
        " --ssim-threshold {params.imprint[ssim_threshold]}"
        " --noise-calibration {params.imprint[noise_calibration]}"
        " --reference-split {params.imprint[reference_split]}"
        " --device {params.device} --threads {threads} > {log} 2>&1"
