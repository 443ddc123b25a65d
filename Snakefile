"""rero: privacy budget versus reconstruction risk and accuracy (Ziller et al., NMI 2024)."""

import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

# The workflow runs its own package, src/ beside this Snakefile, both here and in every job (a conda
# environment from envs/ holds only the dependencies): an installed copy of rero, possibly older,
# never runs in its place, and the code a job runs is the code its `code` inputs track.
SOURCE_DIR = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SOURCE_DIR)
# Each rule runs `python -m rero`: the interpreter running this Snakemake, so that a job needs no
# activated environment (`.venv/bin/snakemake` alone runs the venv's rero), or under --sdm conda
# or apptainer the `python` of the job's own environment.
JOB_PYTHON = (
    ""
    if workflow.deployment_settings.deployment_method
    else f'python() {{{{ {shlex.quote(sys.executable)} "$@"; }}}}; '
)
# (The prefix is formatted like a shell command: {{ }} stand for a literal brace.)
shell.prefix(
    "set -euo pipefail; "
    f"export PYTHONPATH={shlex.quote(SOURCE_DIR)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
    + JOB_PYTHON
)

import rero.study.config as study_config

min_version("9.20")


# The shipped default study, unless the user gives config files of their own: Snakemake would
# deep-merge them into it (a user's datasets would run beside the shipped one). `--config k=v`
# still adjusts whichever study runs. Each file is read strictly first: a YAML error names its
# line, a key given twice (which YAML would silently resolve to the last) is refused.
CONFIG_FILES = workflow.config_settings.configfiles or ["config.yaml"]
try:
    study_config.read_config_files(CONFIG_FILES)
except study_config.ConfigError as error:
    raise WorkflowError(str(error)) from None

if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/privacy.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/bounds.smk"
include: "workflow/rules/attack.smk"
include: "workflow/rules/advise.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/aggregate.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
