rule calibrate:
    input:
        meta="results/data/{dataset}/meta.json",
        code=command_code("calibrate"),
    output:
        plan="results/privacy/{dataset}/eps_{eps}.json",
    log:
        "results/logs/calibrate/{dataset}/eps_{eps}.log",
    benchmark:
        "results/benchmarks/calibrate/{dataset}/eps_{eps}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        batch_size=dataset_setting("training", "batch_size"),
        epochs=dataset_setting("training", "epochs"),
        delta=dataset_setting("privacy", "delta"),
        accountant=private_flag("accountant", "privacy", "accountant"),
        tolerance=private_flag("rel-tol", "privacy", "eps_tolerance"),
    shell:
        "python -m rero calibrate --eps {wildcards.eps} --data-dir $(dirname {input.meta})"
        " --batch-size {params.batch_size} --epochs {params.epochs} --delta {params.delta}"
        " {params.accountant} {params.tolerance} --out {output.plan} > {log} 2>&1"


rule translate:
    input:
        meta="results/data/{dataset}/meta.json",
        code=command_code("translate"),
    output:
        table="results/privacy/{dataset}/translation.csv",
    log:
        "results/logs/translate/{dataset}.log",
    benchmark:
        "results/benchmarks/translate/{dataset}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        eps=" ".join(token for token in STUDY.eps if token != "inf"),
        batch_size=dataset_setting("training", "batch_size"),
        epochs=dataset_setting("training", "epochs"),
        delta=dataset_setting("privacy", "delta"),
    shell:
        "python -m rero translate --eps {params.eps} --data-dir $(dirname {input.meta})"
        " --batch-size {params.batch_size} --epochs {params.epochs} --delta {params.delta}"
        " --out {output.table} > {log} 2>&1"
