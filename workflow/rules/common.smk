import json
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

import rero.study.config as study_config
import rero.study.tokens as config_tokens
from rero.data.registry import (
    LOADERS,
    expected_split_sizes,
    loader_module,
    source_files,
)
from rero.models.registry import model_module
from rero.reporting.figures import FIGURES
from rero.reporting.provenance import (
    checkout_state,
    declared_packages,
    installed_versions,
)
from rero.reporting.pages import page_list
from rero.runtime.sources import command_sources

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"

try:
    study_config.validate_config(
        config, study_config.load_schema(SCHEMA), expected_split_sizes
    )
except study_config.ConfigError as error:
    raise WorkflowError(str(error)) from None

DATASETS = list(config["datasets"])
SEGMENTATION_DATASETS = [
    name
    for name, dataset in config["datasets"].items()
    if LOADERS[dataset["loader"]].task == "segmentation"
]
EPS = config_tokens.eps_tokens(config["eps"])
BOUND_EPS = config_tokens.merged_eps_tokens(EPS, config["bounds"]["extra_eps"])
SEEDS = [str(seed) for seed in config["seeds"]]
AUDIT_EPS = config_tokens.audited_eps_tokens(EPS, config["audit"]["eps"])
CONDA_ENV = "../../envs/rero.yaml"
PACKAGE = Path(workflow.basedir) / "src" / "rero"


def command_code(subcommand, loader=False, model=False):
    """Input function: every package file that `python -m rero <subcommand>` runs for the job's
    dataset (with its loader's module, or its model's, when the command imports that by name);
    editing one reruns the job, editing another dataset's loader or model does not."""

    def code(wildcards):
        registered = []
        if loader:
            registered.append(
                loader_module(config["datasets"][wildcards.dataset]["loader"])
            )
        if model:
            training = study_config.dataset_settings(
                config, wildcards.dataset, "training"
            )
            registered.append(model_module(training["model"]))
        return [str(file) for file in command_sources(subcommand, PACKAGE, registered)]

    return code


wildcard_constraints:
    dataset="|".join(DATASETS),
    eps="|".join(map(re.escape, BOUND_EPS)),
    seed=r"\d+",


localrules:
    all,
    aggregate,
    figures,
    report_pages,
    provenance,
    results_readme,


def dataset_loader(wildcards):
    """The loader named for a dataset in the config."""
    return config["datasets"][wildcards.dataset]["loader"]


def dataset_options(wildcards):
    """The loader options of a dataset as a compact JSON object (a CLI flag)."""
    options = config["datasets"][wildcards.dataset].get("options", {})
    return json.dumps(options, sort_keys=True, separators=(",", ":"))


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (nothing when there is none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def dataset_masks(wildcards):
    """The mask files of a segmentation dataset's three splits (none for classification)."""
    if wildcards.dataset not in SEGMENTATION_DATASETS:
        return []
    return [
        f"results/data/{wildcards.dataset}/{split}_masks.npy"
        for split in ("train", "val", "test")
    ]


def dataset_files(wildcards):
    """Files on disk a dataset's loader reads (a .npz, the split CSVs; not every image), so
    that a changed one reruns its preparation."""
    dataset = config["datasets"][wildcards.dataset]
    return source_files(dataset["loader"], dataset.get("options", {}))


def dataset_setting(section, *keys):
    """Input function: the value of `<section>.<keys>` for the job's dataset (its own
    `datasets.<name>.<section>` entry merged over the top-level section)."""

    def value(wildcards):
        node = study_config.dataset_settings(config, wildcards.dataset, section)
        for key in keys:
            node = node[key]
        return node

    return value


def private_flag(flag, section, key):
    """Input function: `--<flag> <value>` of `<section>.<key>` for the job's dataset at a private
    budget; nothing for the non-private run (ε = inf), which does not use the value, so that
    changing it reruns only the private jobs."""

    def value(wildcards):
        if wildcards.eps == "inf":
            return ""
        setting = study_config.dataset_settings(config, wildcards.dataset, section)[key]
        return f"--{flag} {setting}"

    return value


def bound_kappas(wildcards):
    """--kappa flags: the configured κ specs plus 1/M of the dataset's prior-aware attack."""
    specs = [str(spec) for spec in config["bounds"]["kappa"]]
    attack = study_config.dataset_settings(config, wildcards.dataset, "attack")
    prior = f"1/{attack['prior_aware']['prior_size']}"
    if prior not in specs:
        specs.append(prior)
    return " ".join(f"--kappa {spec}" for spec in specs)


def figure_outputs():
    """Each figure's PNG (rero.reporting.figures.FIGURES), marked for the report with its
    caption."""
    return {
        name: report(
            f"results/figures/{name}.png",
            caption=f"../report/{name}.rst",
            category="Figures",
        )
        for name in FIGURES
    }


def report_pages():
    """The report's pages (rero.reporting.pages.page_list), each marked for the report: the
    summary and per-seed runs, the study in prose, then each dataset's tables."""
    pages = {}
    for page in page_list(DATASETS):
        if page.table == "study":
            pages[page.name] = report(
                f"results/report/{page.path}",
                caption="../report/study.rst",
                category="Study",
                labels={"page": "the study in prose"},
            )
        else:
            pages[page.name] = report(
                f"results/report/{page.path}",
                caption=f"../report/{page.table}.rst",
                category="Tables",
                subcategory=page.dataset or "all datasets",
                labels={"table": page.table},
            )
    return pages


def dataset_accountants(wildcards):
    """--accountant DATASET=NAME flags: each dataset's configured privacy.accountant."""
    return " ".join(
        f"--accountant {name}="
        + study_config.dataset_settings(config, name, "privacy")["accountant"]
        for name in DATASETS
    )


def package_files():
    """Every file of the package: the provenance page names the code the study ran."""
    return sorted(str(file) for file in PACKAGE.rglob("*.py"))


def translation_tables():
    """Each dataset's RDP-budget translation table (none when every budget is non-private)."""
    return expand(
        "results/privacy/{dataset}/translation.csv",
        dataset=DATASETS if set(EPS) - {"inf"} else [],
    )


def final_outputs():
    """Every result of the study: the summary table, the advice and budget-translation tables,
    the figures, the report's pages and the results folder's README (the per-job outputs come
    with them)."""
    return [
        "results/summary.csv",
        "results/README.md",
        "results/report/provenance.html",
        *(f"results/report/{page.path}" for page in page_list(DATASETS)),
        *expand("results/advice/{dataset}.csv", dataset=DATASETS),
        *translation_tables(),
        *expand("results/figures/{name}.png", name=FIGURES),
    ]
