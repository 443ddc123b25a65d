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
        batch_size=lookup(dpath="training/batch_size", within=config),
        epochs=lookup(dpath="training/epochs", within=config),
        delta=lookup(dpath="privacy/delta", within=config),
        clip_norm=lookup(dpath="privacy/clip_norm", within=config),
        accountant=lookup(dpath="privacy/accountant", within=config),
        tolerance=lookup(dpath="privacy/eps_tolerance", within=config),
    shell:
        "python -m rero calibrate --eps {wildcards.eps} --data-dir $(dirname {input.meta})"
        " --batch-size {params.batch_size} --epochs {params.epochs} --delta {params.delta}"
        " --clip-norm {params.clip_norm} --accountant {params.accountant}"
        " --rel-tol {params.tolerance} --out {output.plan} > {log} 2>&1"
