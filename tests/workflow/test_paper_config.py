"""The paper's config: its DAG builds with the job counts its grid implies and GPUs on train and
attack."""

from __future__ import annotations

import copy

import yaml

from rero.study import config as study_config
from rero.study import tokens as config_tokens
from tests.helpers import REPO
from tests.helpers.msd import write_msd_liver
from tests.helpers.paper import write_ham10000, write_radimagenet
from tests.helpers.workflow import planned_jobs, snakemake

PAPER_CONFIG = REPO / "workflow" / "configs" / "paper.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def paper_config(tmp_path) -> dict:
    """The shipped paper config with its two roots pointed at generated data in the real layout.

    The generated sets are far smaller than the paper's logical batches (2,048 and 3,328),
    RadImageNet's attacked batches (5 x 128), the imprint bins (32, 256 and 10, placed by
    quantiles of the val split), MSD Liver's 12 + 13 held-out volumes and the prior-aware sets,
    so those are scaled down to fit (all are checked against the split sizes before any job);
    nothing else changes.
    """
    config = yaml.safe_load(PAPER_CONFIG.read_text())
    ham = write_ham10000(tmp_path / "HAM10000", num_lesions=60, size=(60, 45))
    rad = write_radimagenet(tmp_path / "RadImageNet", per_class=(12, 1, 1), size=(32, 32))
    for name, root in (("ham10000", ham), ("radimagenet", rad)):
        config["datasets"][name]["options"]["root"] = str(root)
        config["datasets"][name]["training"]["batch_size"] = 8
    config["datasets"]["ham10000"]["attack"]["imprint"].update(num_bins=8)
    config["datasets"]["radimagenet"]["attack"]["imprint"].update(batch_size=8, num_bins=4)
    liver = config["datasets"]["msd_liver"]
    liver["options"].update(root=str(write_msd_liver(tmp_path / "Task03_Liver", 12)))
    liver["options"].update(n_val=3, n_test=3)
    liver["attack"]["imprint"].update(num_bins=3)
    liver["attack"]["prior_aware"] = {"prior_size": 2, "known_size": 4}
    return config


def test_the_paper_dag_has_the_grid_and_gpus_on_train_and_attack(tmp_path, study_dir):
    config = paper_config(tmp_path)
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(
        study_dir,
        "--dry-run",
        "--workflow-profile",
        str(REPO / "workflow" / "profiles" / "slurm"),
        "--configfile",
        str(tmp_path / "paper.yaml"),
    )
    jobs = planned_jobs(result)
    datasets, budgets, seeds = 3, len(config["eps"]), len(config["seeds"])
    assert (len(config["datasets"]), budgets, seeds) == (datasets, 10, 5)
    assert jobs["train"] == datasets * budgets * seeds
    filled = copy.deepcopy(config)
    study_config.fill_defaults(filled, study_config.load_schema(SCHEMA))
    budgets_attacked = config_tokens.merged_eps_tokens(
        config_tokens.eps_tokens(filled["eps"]), filled["bounds"]["extra_eps"]
    )
    assert jobs["attack"] == datasets * len(budgets_attacked)  # the imprint attack's dense curve
    assert jobs["transition"] == jobs["advise"] == datasets
    assert jobs["prepare_data"] == 2 and jobs["prepare_segmentation_data"] == 1
    assert jobs["bounds"] == datasets
    text = result.stdout + result.stderr
    blocks = text.split("\nrule ")
    for rule in ("train", "attack"):
        resources = [block for block in blocks if block.startswith(f"{rule}:")]
        assert resources and all("gpu=1" in block for block in resources), rule
