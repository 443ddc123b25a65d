"""The Study the workflow reads: built once from the validated config, frozen, and the same for the
same study written differently."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml

from rero.data.registry import expected_split_sizes
from rero.study import config as study_config
from rero.study.study import Study, explicit_options, with_float_numbers
from tests.helpers import REPO, shipped_config_text

SCHEMA = study_config.load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def study_of(config: dict) -> Study:
    """The Study of ``config`` after the workflow's validation (on a copy)."""
    config = copy.deepcopy(config)
    study_config.validate_config(config, SCHEMA, expected_split_sizes)
    return Study.from_config(config, SCHEMA)


def shipped() -> dict:
    return yaml.safe_load(shipped_config_text())


def test_the_shipped_study():
    study = study_of(shipped())
    assert study.dataset_names == ("mni152",)
    dataset = study.datasets["mni152"]
    assert (dataset.loader, dataset.task) == ("mni152", "classification")
    assert dataset.options["n_train"] == 8000 and dataset.explicit_options == {}
    assert study.eps == ("1", "8", "1e3", "1e9", "inf")
    assert study.bound_eps[:5] == study.eps and "1e4" in study.bound_eps
    assert study.audit_eps == ("8",) and study.seeds == ("0", "1")
    assert study.segmentation_datasets == ()
    assert dataset.training["model"] == "small_cnn" and dataset.privacy["delta"] == 1e-5
    assert study.audit["gradient_canaries"] == 20000 and study.bounds["kappa"] == ("1/N",)


def test_each_dataset_has_its_task_and_its_own_settings_over_the_sections():
    config = shipped()
    config["datasets"]["seg"] = {
        "loader": "mni152_seg",
        "options": {"n_train": 48, "n_val": 16, "n_test": 16},
        "training": {"model": "unet3d", "batch_size": 12},
        "privacy": {"delta": 1e-3},
        "attack": {"imprint": {"num_bins": 8, "num_batches": 2}},
    }
    config["audit"]["eps"] = []
    study = study_of(config)
    assert study.dataset_names == ("mni152", "seg")
    assert study.segmentation_datasets == ("seg",)
    seg = study.datasets["seg"]
    assert seg.task == "segmentation" and seg.training["model"] == "unet3d"
    assert seg.training["batch_size"] == 12 and seg.training["epochs"] == 8
    assert seg.attack["imprint"]["num_bins"] == 8 and seg.attack["imprint"]["batch_size"] == 16
    assert seg.privacy["delta"] == 1e-3 and seg.privacy["clip_norm"] == 1.0
    assert study.datasets["mni152"].attack["imprint"]["num_bins"] == 64
    assert study.datasets["mni152"].privacy["delta"] == 1e-5


def test_an_option_at_its_default_is_no_explicit_option():
    config = shipped()
    config["datasets"]["mni152"]["options"] = {"seed": 0, "n_train": 4000}
    dataset = study_of(config).datasets["mni152"]
    assert dataset.explicit_options == {"n_train": 4000}
    assert dataset.options == {**study_of(shipped()).datasets["mni152"].options, "n_train": 4000}
    assert explicit_options("medmnist", {"path": "x.npz", "seed": 0}) == {"path": "x.npz"}


def test_a_number_is_a_float_however_it_was_written():
    config = shipped()
    config["privacy"]["clip_norm"] = 1
    config["attack"]["prior_aware"]["sample_rate"] = 1
    config["datasets"]["mni152"]["training"] = {"learning_rate": 1}
    config["datasets"]["mni152"]["privacy"] = {"eps_tolerance": 0.01}
    dataset = study_of(config).datasets["mni152"]
    for value in (
        dataset.privacy["clip_norm"],
        dataset.attack["prior_aware"]["sample_rate"],
        dataset.training["learning_rate"],
    ):
        assert isinstance(value, float) and value == 1.0
    assert dataset.privacy == study_of(shipped()).datasets["mni152"].privacy
    # integers the schema types as integers, and booleans, stay as they are
    assert isinstance(dataset.training["epochs"], int)
    assert dataset.training["single_logit"] is False
    assert with_float_numbers([1, True], {"items": {"type": "number"}}, {}) == [1.0, True]


def test_key_order_does_not_matter():
    config = shipped()
    reordered = {key: config[key] for key in reversed(list(config))}
    reordered["attack"] = {
        "prior_aware": config["attack"]["prior_aware"],
        "imprint": dict(reversed(list(config["attack"]["imprint"].items()))),
        "seed": 0,
    }
    ours, theirs = study_of(config), study_of(reordered)
    assert ours == theirs
    assert repr(ours.datasets["mni152"].attack) == repr(theirs.datasets["mni152"].attack)


def test_the_study_is_read_only():
    study = study_of(shipped())
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.eps = ("8",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        study.datasets["mni152"].training["device"] = "cuda"  # type: ignore[index]
    with pytest.raises(TypeError):
        study.datasets["mni152"].attack["imprint"]["num_bins"] = 2  # type: ignore[index]
