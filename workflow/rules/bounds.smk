rule bounds:
    input:
        plans=expand("results/privacy/{{dataset}}/eps_{eps}.json", eps=STUDY.bound_eps),
        code=command_code("bounds"),
    output:
        table="results/bounds/{dataset}.csv",
        membership="results/bounds/{dataset}_membership.csv",
    log:
        "results/logs/bounds/{dataset}.log",
    benchmark:
        "results/benchmarks/bounds/{dataset}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        kappas=bound_kappas,
        methods=list(STUDY.bounds["methods"]),
    shell:
        "python -m rero bounds --plans {input.plans}"
        " {params.kappas} --methods {params.methods} --out {output.table}"
        " --membership-out {output.membership} > {log} 2>&1"


# The from-scratch bound (Riess et al. 2024) over the dense ε grid, per success criterion
# (bounds.from_scratch) and image norm of the training split; its own job, so that a criterion
# or the clip norm reruns it, not the identification bounds.
rule from_scratch:
    input:
        unpack(prepared_data("train")),
        plans=expand("results/privacy/{{dataset}}/eps_{eps}.json", eps=STUDY.bound_eps),
        code=command_code("from-scratch"),
    output:
        table="results/bounds/{dataset}_from_scratch.csv",
    log:
        "results/logs/from_scratch/{dataset}.log",
    benchmark:
        "results/benchmarks/from_scratch/{dataset}.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        criteria=from_scratch_flags(),
        clip_norm=dataset_setting("privacy", "clip_norm"),
    shell:
        "python -m rero from-scratch --plans {input.plans}"
        " --data-dir $(dirname {input.meta}) {params.criteria}"
        " --clip-norm {params.clip_norm} --out {output.table} > {log} 2>&1"
