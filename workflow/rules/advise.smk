rule advise:
    input:
        plans=expand("results/privacy/{{dataset}}/eps_{eps}.json", eps=STUDY.eps),
        metrics=expand(
            "results/train/{{dataset}}/eps_{eps}/seed_{seed}/metrics.json",
            eps=STUDY.eps,
            seed=STUDY.seeds,
        ),
        from_scratch=rules.from_scratch.output.table,
        code=command_code("advice"),
    output:
        table="results/advice/{dataset}.csv",
    log:
        "results/logs/advise/{dataset}.log",
    benchmark:
        "results/benchmarks/advise/{dataset}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        kappas=" ".join(f"--kappa {spec}" for spec in STUDY.advice["kappa"]),
        risks=" ".join(f"--max-risk {risk}" for risk in STUDY.advice["max_risk"]),
        fprs=" ".join(f"--fpr {fpr}" for fpr in STUDY.advice["mia_fpr"]),
        accountant=dataset_setting("privacy", "accountant"),
    shell:
        "python -m rero advice --plans {input.plans} --metrics {input.metrics}"
        " {params.kappas} {params.risks} {params.fprs} --accountant {params.accountant}"
        " --from-scratch {input.from_scratch} --out {output.table} > {log} 2>&1"
