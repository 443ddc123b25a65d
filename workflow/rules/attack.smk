rule attack:
    input:
        unpack(prepared_data("train", "val", "test")),
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
        device=training_device,
    params:
        clip_norm=private_flag("clip-norm", "privacy", "clip_norm"),
        accountant=private_flag("accountant", "privacy", "accountant"),
        tolerance=private_flag("rel-tol", "privacy", "eps_tolerance"),
        seed=dataset_setting("attack", "seed"),
        imprint=imprint_flags,
        prior_aware=prior_aware_flags,
    shell:
        "python -m rero attack --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --out-dir $(dirname {output.imprint}) --seed {params.seed}"
        " {params.clip_norm} {params.accountant} {params.tolerance}"
        " {params.imprint} {params.prior_aware}"
        " --device {resources.device} --threads {threads} > {log} 2>&1"


rule transition:
    input:
        unpack(prepared_data("train", "val", "test")),
        plans=expand("results/privacy/{{dataset}}/eps_{eps}.json", eps=STUDY.bound_eps),
        imprint=expand(
            "results/attack/{{dataset}}/eps_{eps}/imprint.json", eps=STUDY.bound_eps
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
        device=training_device,
    params:
        clip_norm=dataset_setting("privacy", "clip_norm"),
        seed=dataset_setting("attack", "seed"),
        imprint=imprint_flags,
        levels=transition_levels,
        criterion=transition_criterion,
        bisections=dataset_setting("attack", "transition", "bisections"),
        accountant=dataset_setting("privacy", "accountant"),
        tolerance=dataset_setting("privacy", "eps_tolerance"),
    shell:
        "python -m rero transition --data-dir $(dirname {input.meta}) --plans {input.plans}"
        " --imprint {input.imprint} {params.levels} {params.criterion}"
        " --bisections {params.bisections}"
        " --accountant {params.accountant} --rel-tol {params.tolerance}"
        " --out {output.transition} --seed {params.seed}"
        " --clip-norm {params.clip_norm} {params.imprint}"
        " --device {resources.device} --threads {threads} > {log} 2>&1"
