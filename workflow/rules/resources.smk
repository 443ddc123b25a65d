import functools

from rero.data.registry import expected_split_sizes
from rero.study.resources import attempt_minutes, per_sample_gradients


@functools.cache
def train_size(name):
    """N, the training split's size of dataset `name`, read once per Snakemake run (every
    train and audit job asks for it)."""
    dataset = STUDY.datasets[name]
    return expected_split_sizes(dataset.loader, dict(dataset.options))["train"]


def gpu_minutes(runs):
    """Resource: the time limit of one submission of a job that trains `runs` models of its
    dataset (`train`: 1, `audit`: audit.runs): its per-sample gradients T·B·K over the assumed
    throughput of its model, capped at one submission's limit (rero.study.resources)."""

    def minutes(wildcards):
        dataset = STUDY.datasets[wildcards.dataset]
        training = dataset.training
        work = per_sample_gradients(
            train_size(wildcards.dataset),
            training["batch_size"],
            training["epochs"],
            training["augmentation_multiplicity"],
            runs,
        )
        return attempt_minutes(work, training["model"])

    return minutes
