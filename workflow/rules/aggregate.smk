rule aggregate:
    input:
        metrics=expand(
            "results/train/{dataset}/eps_{eps}/seed_{seed}/metrics.json",
            dataset=DATASETS,
            eps=EPS,
            seed=SEEDS,
        ),
        plans=expand(
            "results/privacy/{dataset}/eps_{eps}.json", dataset=DATASETS, eps=EPS
        ),
        bounds=expand("results/bounds/{dataset}.csv", dataset=DATASETS),
        membership=expand("results/bounds/{dataset}_membership.csv", dataset=DATASETS),
        transitions=expand("results/attack/{dataset}/transition.json", dataset=DATASETS),
        imprint=expand(
            "results/attack/{dataset}/eps_{eps}/imprint.json",
            dataset=DATASETS,
            eps=EPS,
        ),
        prior_aware=expand(
            "results/attack/{dataset}/eps_{eps}/prior_aware.json",
            dataset=DATASETS,
            eps=EPS,
        ),
        audits=expand(
            "results/audit/{dataset}/eps_{eps}.json", dataset=DATASETS, eps=AUDIT_EPS
        ),
        code=command_code("aggregate"),
    output:
        summary=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m rero aggregate --metrics {input.metrics} --plans {input.plans}"
        " --bounds {input.bounds} --membership {input.membership} --imprint {input.imprint}"
        " --transitions {input.transitions}"
        " --prior-aware {input.prior_aware} --audits {input.audits}"
        " --out {output.summary} > {log} 2>&1"


rule figures:
    input:
        summary="results/summary.csv",
        metrics=rules.aggregate.input.metrics,
        bounds=rules.aggregate.input.bounds,
        recon=expand(
            "results/attack/{dataset}/eps_{eps}/recon.npz", dataset=DATASETS, eps=EPS
        ),
        imprint=expand(
            "results/attack/{dataset}/eps_{eps}/imprint.json",
            dataset=DATASETS,
            eps=BOUND_EPS,
        ),
        code=command_code("figures"),
    output:
        utility=report(
            "results/figures/utility_vs_eps.png",
            caption="../report/utility_vs_eps.rst",
            category="Figures",
        ),
        bounds=report(
            "results/figures/bounds_vs_eps.png",
            caption="../report/bounds_vs_eps.rst",
            category="Figures",
        ),
        reconstructions=report(
            "results/figures/reconstructions.png",
            caption="../report/reconstructions.rst",
            category="Figures",
        ),
        risk=report(
            "results/figures/risk_vs_eps.png",
            caption="../report/risk_vs_eps.rst",
            category="Figures",
        ),
        trade_off=report(
            "results/figures/trade_off.png",
            caption="../report/trade_off.rst",
            category="Figures",
        ),
        audit=report(
            "results/figures/audit_vs_claim.png",
            caption="../report/audit_vs_claim.rst",
            category="Figures",
        ),
        pdfs=expand(
            "results/figures/{name}.pdf",
            name=[
                "utility_vs_eps",
                "bounds_vs_eps",
                "reconstructions",
                "risk_vs_eps",
                "trade_off",
                "audit_vs_claim",
            ],
        ),
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m rero figures --summary {input.summary} --metrics {input.metrics}"
        " --bounds {input.bounds} --recon {input.recon} --imprint {input.imprint}"
        " --out-dir $(dirname {output.utility}) > {log} 2>&1"
