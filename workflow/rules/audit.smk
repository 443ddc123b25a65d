rule audit:
    input:
        unpack(prepared_data("train", "val")),
        plan="results/privacy/{dataset}/eps_{eps}.json",
        code=command_code("audit", model=True),
    output:
        audit="results/audit/{dataset}/eps_{eps}.json",
    log:
        "results/logs/audit/{dataset}/eps_{eps}.log",
    benchmark:
        "results/benchmarks/audit/{dataset}/eps_{eps}.tsv"
    wildcard_constraints:
        eps=one_of(STUDY.audit_eps),
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=gpu_minutes(STUDY.audit["runs"]),
        gpu=0,
        device=training_device,
    params:
        gradient_canaries=STUDY.audit["gradient_canaries"],
        input_canaries=STUDY.audit["input_canaries"],
        runs=STUDY.audit["runs"],
        seed=STUDY.audit["seed"],
        confidence=STUDY.audit["confidence"],
        guesses=" ".join(str(count) for count in STUDY.audit["guesses"]),
        clip_norm=dataset_setting("privacy", "clip_norm"),
        training=training_flags,
    shell:
        "python -m rero audit --data-dir $(dirname {input.meta}) --plan {input.plan}"
        " --out {output.audit} --gradient-canaries {params.gradient_canaries}"
        " --input-canaries {params.input_canaries} --runs {params.runs}"
        " --audit-seed {params.seed} --confidence {params.confidence}"
        " --guesses {params.guesses} --clip-norm {params.clip_norm}"
        " {params.training[model]} {params.training[optimizer]}"
        " --device {resources.device} {params.training[task]}"
        " --threads {threads} --no-progress > {log} 2>&1"
