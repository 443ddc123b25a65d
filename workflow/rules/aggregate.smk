rule aggregate:
    input:
        metrics=expand(
            "results/train/{dataset}/eps_{eps}/seed_{seed}/metrics.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.eps,
            seed=STUDY.seeds,
        ),
        plans=expand(
            "results/privacy/{dataset}/eps_{eps}.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.eps,
        ),
        bounds=expand("results/bounds/{dataset}.csv", dataset=STUDY.dataset_names),
        membership=expand(
            "results/bounds/{dataset}_membership.csv", dataset=STUDY.dataset_names
        ),
        from_scratch=expand(
            rules.from_scratch.output.table, dataset=STUDY.dataset_names
        ),
        transitions=expand(
            "results/attack/{dataset}/transition.json", dataset=STUDY.dataset_names
        ),
        imprint=expand(
            "results/attack/{dataset}/eps_{eps}/imprint.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.eps,
        ),
        prior_aware=expand(
            "results/attack/{dataset}/eps_{eps}/prior_aware.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.eps,
        ),
        audits=expand(
            "results/audit/{dataset}/eps_{eps}.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.audit_eps,
        ),
        code=command_code("aggregate"),
    output:
        summary="results/summary.csv",
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
        " --from-scratch {input.from_scratch} --out {output.summary} > {log} 2>&1"


rule figures:
    input:
        summary="results/summary.csv",
        metrics=rules.aggregate.input.metrics,
        bounds=rules.aggregate.input.bounds,
        from_scratch=rules.aggregate.input.from_scratch,
        recon=expand(
            "results/attack/{dataset}/eps_{eps}/recon.npz",
            dataset=STUDY.dataset_names,
            eps=STUDY.eps,
        ),
        imprint=expand(
            "results/attack/{dataset}/eps_{eps}/imprint.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.bound_eps,
        ),
        code=command_code("figures"),
    output:
        **figure_outputs(),
        pdfs=expand("results/figures/{name}.pdf", name=FIGURES),
    log:
        "results/logs/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m rero figures --summary {input.summary} --metrics {input.metrics}"
        " --bounds {input.bounds} --recon {input.recon} --imprint {input.imprint}"
        " --from-scratch {input.from_scratch}"
        " --out-dir $(dirname {output.pdfs[0]}) > {log} 2>&1"


# Every table as an HTML page for the report (a CSV it could only offer as a download link).
rule report_pages:
    input:
        summary="results/summary.csv",
        metrics=rules.aggregate.input.metrics,
        plans=rules.aggregate.input.plans,
        bounds=rules.aggregate.input.bounds,
        membership=rules.aggregate.input.membership,
        from_scratch=rules.aggregate.input.from_scratch,
        advice=expand("results/advice/{dataset}.csv", dataset=STUDY.dataset_names),
        imprint=expand(
            "results/attack/{dataset}/eps_{eps}/imprint.json",
            dataset=STUDY.dataset_names,
            eps=STUDY.bound_eps,
        ),
        prior_aware=rules.aggregate.input.prior_aware,
        transitions=rules.aggregate.input.transitions,
        translations=translation_tables(),
        audits=rules.aggregate.input.audits,
        code=command_code("report-pages"),
    output:
        **report_pages(),
    log:
        "results/logs/report_pages.log",
    benchmark:
        "results/benchmarks/report_pages.tsv"
    conda:
        CONDA_ENV
    params:
        accountants=dataset_accountants,
    shell:
        "python -m rero report-pages --summary {input.summary} --metrics {input.metrics}"
        " --plans {input.plans} --bounds {input.bounds} --membership {input.membership}"
        " --advice {input.advice} --imprint {input.imprint} --prior-aware {input.prior_aware}"
        " --transitions {input.transitions} --translations {input.translations}"
        " --from-scratch {input.from_scratch} --audits {input.audits} {params.accountants}"
        " --out-dir $(dirname {output.summary}) > {log} 2>&1"


# The config, the checkout's commit and state, and the package versions. Each is a rerun
# trigger: a changed config (params), an edited package file (inputs), a new commit or changed
# tracked files (params.checkout), other installed versions (params.versions; with --sdm conda
# the env file's hash reruns it) all rewrite the page.
rule provenance:
    input:
        package=package_files(),
    output:
        page=report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            category="Study",
            labels={"page": "2. Provenance: commit, config and package versions"},
        ),
    log:
        "results/logs/provenance.log",
    benchmark:
        "results/benchmarks/provenance.tsv"
    conda:
        CONDA_ENV
    params:
        config=json.dumps(config, sort_keys=True),
        checkout=checkout_state(workflow.basedir),
        versions=installed_versions(declared_packages()),
    shell:
        "python -m rero provenance --config {params.config:q} --checkout {params.checkout:q}"
        " --out {output.page} > {log} 2>&1"


rule results_readme:
    input:
        summary="results/summary.csv",
        code=command_code("results-readme"),
    output:
        readme="results/README.md",
    log:
        "results/logs/results_readme.log",
    benchmark:
        "results/benchmarks/results_readme.tsv"
    conda:
        CONDA_ENV
    shell:
        "python -m rero results-readme --summary {input.summary} --out {output.readme}"
        " > {log} 2>&1"
