rule prepare_data:
    input:
        files=dataset_files,
        code=command_code("prepare-data"),
    output:
        train="results/data/{dataset}/train.npz",
        val="results/data/{dataset}/val.npz",
        test="results/data/{dataset}/test.npz",
        meta="results/data/{dataset}/meta.json",
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    conda:
        CONDA_ENV
    params:
        loader=dataset_loader,
        options=dataset_options,
    shell:
        "python -m rero prepare-data --dataset {wildcards.dataset} --loader {params.loader}"
        " --options '{params.options}' --out-dir $(dirname {output.meta}) > {log} 2>&1"
