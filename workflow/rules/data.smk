rule prepare_data:
    input:
        files=dataset_files,
        code=command_code("prepare-data", loader=True),
    output:
        train_images="results/data/{dataset}/train_images.npy",
        train_labels="results/data/{dataset}/train_labels.npy",
        val_images="results/data/{dataset}/val_images.npy",
        val_labels="results/data/{dataset}/val_labels.npy",
        test_images="results/data/{dataset}/test_images.npy",
        test_labels="results/data/{dataset}/test_labels.npy",
        meta="results/data/{dataset}/meta.json",
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    wildcard_constraints:
        dataset=one_of(set(STUDY.dataset_names) - set(STUDY.segmentation_datasets)),
    conda:
        CONDA_ENV
    resources:
        workers=dataset_workers,
    params:
        loader=dataset_loader,
        options=dataset_options,
        source=dataset_source_digest,
    shell:
        "python -m rero prepare-data --dataset {wildcards.dataset} --loader {params.loader}"
        " --options '{params.options}' {resources.workers}"
        f" --hash-cache {SOURCE_HASH_CACHE}"
        " --out-dir $(dirname {output.meta}) > {log} 2>&1"


# A segmentation dataset also writes its masks, one class per voxel.
use rule prepare_data as prepare_segmentation_data with:
    output:
        **rules.prepare_data.output,
        train_masks="results/data/{dataset}/train_masks.npy",
        val_masks="results/data/{dataset}/val_masks.npy",
        test_masks="results/data/{dataset}/test_masks.npy",
    wildcard_constraints:
        dataset=one_of(STUDY.segmentation_datasets),
