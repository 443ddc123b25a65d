"""``python -m rero check-config``: the workflow's config checks on a file, before any job.

Snakemake reads a ``--configfile`` itself before the workflow's own checks run, so a YAML error in
it is reported as "Config file is not valid JSON or YAML" without file or line; this command
reads the files strictly (file, line and column), runs every check the workflow runs (schema,
across keys, against the datasets' split sizes and the files their loaders will read) and
prints the jobs the workflow plans for it, per rule, from Snakemake's own planning
(``rero.study.planned_jobs``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import rero
from rero.data.registry import checked_split_sizes, expected_split_sizes
from rero.study import config as study_config
from rero.study import tokens as config_tokens
from rero.study.checks import dataset_settings
from rero.study.planned_jobs import job_table, planned_jobs
from rero.study.resources import attempt_minutes, per_sample_gradients, submissions

SCHEMA = Path(rero.__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def run_check_config(args: argparse.Namespace) -> None:
    """Read, merge and validate the files; print what the study holds."""
    if not args.schema.is_file():
        raise FileNotFoundError(
            f"{args.schema}: schema not found; give --schema workflow/schemas/config.schema.yaml "
            "of the rero checkout"
        )
    config = study_config.read_config_files(args.configfiles)
    schema = study_config.load_schema(args.schema)
    study_config.validate_config(config, schema, checked_split_sizes)
    budgets = config_tokens.eps_tokens(config["eps"])
    datasets = config["datasets"]
    described = ", ".join(
        f"{name} ({entry['loader']}, N = "
        f"{expected_split_sizes(entry['loader'], entry['options'])['train']})"
        for name, entry in datasets.items()
    )
    print(f"valid: {described}; {len(budgets)} budgets x {len(config['seeds'])} seeds")
    limits = []
    for name, entry in datasets.items():
        training = dataset_settings(config, name, "training")
        work = per_sample_gradients(
            expected_split_sizes(entry["loader"], entry["options"])["train"],
            training["batch_size"],
            training["epochs"],
            training["augmentation_multiplicity"],
        )
        limits.append(
            f"{name} {work:.3g} per-sample gradients, {attempt_minutes(work, training['model'])} "
            f"min x {submissions(work, training['model'])} submission(s)"
        )
    print(f"train time limit (rero.study.resources): {'; '.join(limits)}")
    counts = planned_jobs(args.configfiles)
    print(f"jobs the workflow plans (snakemake --forceall --d3dag), by rule:\n{job_table(counts)}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check-config`` subcommand."""
    parser = subparsers.add_parser(
        "check-config",
        help="check config files as the workflow does, before any job",
        description=__doc__,
    )
    parser.add_argument(
        "configfiles",
        nargs="+",
        type=Path,
        help="config files, merged in order as snakemake --configfile merges them",
    )
    parser.add_argument("--schema", type=Path, default=SCHEMA, help="the config schema")
    parser.set_defaults(handler=run_check_config)
