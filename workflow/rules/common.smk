import functools
import json
import re
from pathlib import Path

from snakemake.exceptions import WorkflowError

import rero.study.config as study_config
from rero.data.base import SPLIT_NAMES
from rero.data.file_hashes import CACHE_FOLDER as FILE_HASH_CACHE
from rero.data.registry import (
    RUNTIME_OPTIONS,
    checked_split_sizes,
    loader_module,
    planning_digest,
    source_files,
)
from rero.models.registry import model_module
from rero.reporting.figures import FIGURES
from rero.reporting.provenance import (
    checkout_state,
    declared_packages,
    installed_versions,
)
from rero.reporting.page_names import LANDING, figure_labels, page_list
from rero.runtime.code_manifest import manifest_name, manifest_text
from rero.runtime.io import write_text_if_changed
from rero.runtime.sources import (
    command_sources,
    load_imports_cache,
    save_imports_cache,
)
from rero.study.study import Study
from rero.study.tokens import kappa_specs_with

SCHEMA = study_config.load_schema(
    Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
)

try:
    study_config.validate_config(config, SCHEMA, checked_split_sizes)
except study_config.ConfigError as error:
    raise WorkflowError(str(error)) from None

# Everything the rules read of the config, read once and normalised (rero.study.study): the
# same study written differently gives the same params, so it reruns nothing.
STUDY = Study.from_config(config, SCHEMA)
CONDA_ENV = "../../envs/rero.yaml"
PACKAGE = Path(workflow.basedir) / "src" / "rero"
CODE_MANIFESTS = Path("results/code")
load_imports_cache()


def code_manifest(name, files):
    """results/code/<name>: the sha256 of each of `files`, rewritten only when one changes
    (rero.runtime.code_manifest); a job's one code input in place of every file's path.
    """
    path = CODE_MANIFESTS / name
    write_text_if_changed(path, manifest_text(files, PACKAGE.parent))
    return str(path)


@functools.cache
def code_files(subcommand, registered):
    """The manifest of the package files of `python -m rero <subcommand>` with the `registered`
    modules, written once per Snakemake run (every job of a rule asks for the same few).
    """
    files = command_sources(subcommand, PACKAGE, registered)
    save_imports_cache()
    return code_manifest(manifest_name(subcommand, registered), files)


def command_code(subcommand, loader=False, model=False):
    """Input function: the manifest of every package file that `python -m rero <subcommand>`
    runs for the job's dataset (with its loader's module, or its model's, when the command
    imports that by name); editing one reruns the job, editing another dataset's loader or
    model does not."""

    def code(wildcards):
        registered = []
        if loader:
            registered.append(loader_module(dataset_loader(wildcards)))
        if model:
            registered.append(
                model_module(dataset_setting("training", "model")(wildcards))
            )
        return code_files(subcommand, tuple(registered))

    return code


wildcard_constraints:
    dataset="|".join(STUDY.dataset_names),
    eps="|".join(map(re.escape, STUDY.bound_eps)),
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
    return STUDY.datasets[wildcards.dataset].loader


def dataset_options(wildcards):
    """The loader options of a dataset that differ from the loader's defaults, as a compact JSON
    object with sorted keys (a CLI flag): an option written at its default, or in another
    order, is the same flag. Not those that only set how the preparation runs
    (rero.data.registry.RUNTIME_OPTIONS: `dataset_workers`)."""
    options = STUDY.datasets[wildcards.dataset].explicit_options
    kept = {key: value for key, value in options.items() if key not in RUNTIME_OPTIONS}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def dataset_workers(wildcards):
    """Resource: `--workers N` when the dataset's options set `workers` (decoding processes),
    else nothing. Not a param: how many processes decode the images does not change them.
    """
    workers = STUDY.datasets[wildcards.dataset].explicit_options.get("workers")
    return "" if workers is None else f"--workers {workers}"


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (nothing when there is none)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def prepared_data(*splits, masks=False):
    """Input function (for ``unpack``): the prepared dataset's images and labels of ``splits``
    and its meta.json, by name ({split}_images, {split}_labels, meta); with ``masks``, the
    masks of a segmentation dataset's three splits (none for classification)."""

    def files(wildcards):
        folder = f"results/data/{wildcards.dataset}"
        named = {
            f"{split}_{kind}": f"{folder}/{split}_{kind}.npy"
            for split in splits
            for kind in ("images", "labels")
        }
        named["meta"] = f"{folder}/meta.json"
        if masks:
            segmentation = wildcards.dataset in STUDY.segmentation_datasets
            named["masks"] = [
                f"{folder}/{split}_masks.npy"
                for split in ("train", "val", "test")
                if segmentation
            ]
        return named

    return files


#: the cache of the source files' hashes (rero.data.file_hashes), beside Snakemake's own state
SOURCE_HASH_CACHE = str(FILE_HASH_CACHE)


@functools.cache
def source_digest_of(name):
    """The source digest of dataset ``name`` (rero.data.planning_cache), once per run; a
    listing or an option the loader refuses is one line naming the dataset."""
    dataset = STUDY.datasets[name]
    try:
        return planning_digest(dataset.loader, dict(dataset.options))
    except (OSError, ValueError) as error:
        raise WorkflowError(f"datasets.{name}: {error}") from None


def dataset_source_digest(wildcards):
    """Param: the SHA-256 that identifies the dataset's source (rero.data.planning_cache): the
    content of every file its loader reads (RadImageNet: its CSVs, and its image folders'
    status for the images), so that new content reruns its preparation and everything after it
    whatever the files' mtimes (`cp -p`, `rsync -a`, `tar x` keep them). Cached with the
    status of everything it depends on: an unchanged dataset is not read again.
    """
    return source_digest_of(wildcards.dataset)


def dataset_files(wildcards):
    """Files on disk a dataset's loader reads (a .npz, the split CSVs; not every image), so
    that a changed one reruns its preparation."""
    dataset = STUDY.datasets[wildcards.dataset]
    return source_files(dataset.loader, dict(dataset.options))


def dataset_setting(section, *keys):
    """Input function: the value of `<section>.<keys>` for the job's dataset (its own
    `datasets.<name>.<section>` entry merged over the top-level section)."""

    def value(wildcards):
        node = getattr(STUDY.datasets[wildcards.dataset], section)
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
        setting = getattr(STUDY.datasets[wildcards.dataset], section)[key]
        return f"--{flag} {setting}"

    return value


def flags(settings, names):
    """`--<flag> <value>` for each (flag, key) of ``names``, in that order, from ``settings``."""
    return " ".join(f"--{flag} {settings[key]}" for flag, key in names)


def training_flags(wildcards):
    """Input function: the job's training settings as the flags of `train` and `audit`, in the
    groups between which each command places its own flags: the model; the optimiser and the
    per-sample-gradient engine; the loss and augmentation (rero.commands.training_flags). Not
    training.device: see `training_device`."""
    training = STUDY.datasets[wildcards.dataset].training
    logit = "--single-logit" if training["single_logit"] else "--no-single-logit"
    return {
        "model": f"--model {training['model']}",
        "optimizer": flags(
            training,
            [
                ("optimizer", "optimizer"),
                ("learning-rate", "learning_rate"),
                ("physical-batch-size", "physical_batch_size"),
                ("grad-sample-mode", "grad_sample_mode"),
            ],
        ),
        "task": f"--loss-reduction {training['loss_reduction']} {logit} "
        + flags(
            training,
            [
                ("augmentation-multiplicity", "augmentation_multiplicity"),
                ("flip-probability", "flip_probability"),
                ("max-shift", "max_shift"),
            ],
        ),
    }


def training_device(wildcards):
    """Resource: the job's training.device, for its command line. Not a param: where a job runs
    does not change the numbers it produces (rero.training.config.RUNTIME_FIELDS), so moving a
    study to a GPU reruns nothing (as the job's threads do not)."""
    return STUDY.datasets[wildcards.dataset].training["device"]


def imprint_flags(wildcards):
    """Input function: the flags of the job's imprint attack (attack.imprint), as `attack` and
    `transition` take them: a `--success METRIC:THRESHOLD` per further criterion."""
    imprint = STUDY.datasets[wildcards.dataset].attack["imprint"]
    criteria = "".join(
        f" --success {item['metric']}:{item['threshold']!r}"
        for item in imprint["success"]
    )
    return (
        flags(
            imprint,
            [
                ("batch-size", "batch_size"),
                ("num-batches", "num_batches"),
                ("num-bins", "num_bins"),
                ("ssim-threshold", "ssim_threshold"),
                ("noise-calibration", "noise_calibration"),
                ("reference-split", "reference_split"),
            ],
        )
        + criteria
    )


def prior_aware_flags(wildcards):
    """Input function: the flags of the job's prior-aware attack (attack.prior_aware)."""
    return flags(
        STUDY.datasets[wildcards.dataset].attack["prior_aware"],
        [
            ("prior-size", "prior_size"),
            ("known-size", "known_size"),
            ("attack-clip-norm", "clip_norm"),
            ("trials", "trials"),
            ("attack-steps", "steps"),
            ("attack-sample-rate", "sample_rate"),
            ("attack-learning-rate", "learning_rate"),
        ],
    )


def transition_criterion(wildcards):
    """Input function: the --criterion flag of the job's transition search (attack.transition
    .criterion), none for the paper's SSIM criterion."""
    criterion = STUDY.datasets[wildcards.dataset].attack["transition"]["criterion"]
    return "" if criterion == "ssim" else f"--criterion {criterion}"


def transition_levels(wildcards):
    """Input function: a --level flag for each success level of the job's transition search."""
    levels = STUDY.datasets[wildcards.dataset].attack["transition"]["levels"]
    return " ".join(f"--level {level}" for level in levels)


def bound_kappas(wildcards):
    """--kappa flags: the configured κ specs plus 1/M of the dataset's prior-aware attack."""
    prior_size = STUDY.datasets[wildcards.dataset].attack["prior_aware"]["prior_size"]
    specs = kappa_specs_with(STUDY.bounds["kappa"], f"1/{prior_size}")
    return " ".join(f"--kappa {spec}" for spec in specs)


def from_scratch_flags():
    """Param: a `--criterion METRIC:THRESHOLD` per criterion of the from-scratch bound
    (bounds.from_scratch), in the config's order."""
    return " ".join(
        f"--criterion {item['metric']}:{item['threshold']!r}"
        for item in STUDY.bounds["from_scratch"]
    )


def figure_outputs():
    """Each figure's PNG (rero.reporting.figures.FIGURES), marked for the report with its
    caption and its title, numbered in reading order (rero.reporting.page_names)."""
    labels = figure_labels()
    return {
        name: report(
            f"results/figures/{name}.png",
            caption=f"../report/{name}.rst",
            category="Figures",
            labels={"figure": labels[name]},
        )
        for name in FIGURES
    }


def report_pages():
    """The report's pages (rero.reporting.page_names.page_list), each marked for the report
    with its title: the summary and per-seed runs, the study in prose, then each dataset's
    tables; and the answer that the landing text includes (page_names.LANDING)."""
    pages = {"landing": f"results/report/{LANDING}"}
    for page in page_list(STUDY.dataset_names):
        if page.table == "study":
            pages[page.name] = report(
                f"results/report/{page.path}",
                caption="../report/study.rst",
                category="Study",
                labels={"page": page.title},
            )
        else:
            pages[page.name] = report(
                f"results/report/{page.path}",
                caption=f"../report/{page.table}.rst",
                category="Tables",
                subcategory=page.dataset or "all datasets",
                labels={"table": page.title},
            )
    return pages


def dataset_accountants(wildcards):
    """--accountant DATASET=NAME flags: each dataset's configured privacy.accountant."""
    return " ".join(
        f"--accountant {name}={dataset.privacy['accountant']}"
        for name, dataset in STUDY.datasets.items()
    )


def package_files():
    """The manifest of every file of the package: the provenance page names the code the study
    ran."""
    return code_manifest("package.sha256", PACKAGE.rglob("*.py"))


def translation_tables():
    """Each dataset's RDP-budget translation table (none when every budget is non-private)."""
    return expand(
        "results/privacy/{dataset}/translation.csv",
        dataset=STUDY.dataset_names if set(STUDY.eps) - {"inf"} else [],
    )


def prepared_files(dataset):
    """The files rule prepare_data (prepare_segmentation_data) declares for ``dataset``."""
    kinds = ["images", "labels"]
    if dataset in STUDY.segmentation_datasets:
        kinds.append("masks")
    folder = f"results/data/{dataset}"
    splits = [f"{folder}/{split}_{kind}.npy" for split in SPLIT_NAMES for kind in kinds]
    return [*splits, f"{folder}/meta.json"]


def job_outputs():
    """Every job's own result: each dataset's prepared splits, privacy plans, bounds (the
    from-scratch bound's too) and transition search, each run's model and metrics, each
    budget's attack records and audit.
    The final target requires them all, so one that is deleted or lost is made again by the
    next run (with what depends on it) instead of the study looking complete."""
    names = STUDY.dataset_names
    return [
        *(file for name in names for file in prepared_files(name)),
        *expand(rules.calibrate.output.plan, dataset=names, eps=STUDY.bound_eps),
        *expand(list(rules.bounds.output), dataset=names),
        *expand(rules.from_scratch.output.table, dataset=names),
        *expand(
            [rules.train.output.model, rules.train.output.metrics],
            dataset=names,
            eps=STUDY.eps,
            seed=STUDY.seeds,
        ),
        *expand(list(rules.attack.output), dataset=names, eps=STUDY.bound_eps),
        *expand(rules.transition.output.transition, dataset=names),
        *expand(rules.audit.output.audit, dataset=names, eps=STUDY.audit_eps),
    ]


def final_outputs():
    """Every result of the study: the summary table, the advice and budget-translation tables,
    the figures, the report's pages and the results folder's README, and every job's own
    result (job_outputs)."""
    return [
        *job_outputs(),
        "results/summary.csv",
        "results/README.md",
        "results/report/provenance.html",
        *(f"results/report/{page.path}" for page in page_list(STUDY.dataset_names)),
        *expand("results/advice/{dataset}.csv", dataset=STUDY.dataset_names),
        *translation_tables(),
        *expand("results/figures/{name}.png", name=FIGURES),
    ]
