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
