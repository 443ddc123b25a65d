"""Every choice the config schema offers is a registry entry in the package, and back."""

from __future__ import annotations

import dataclasses

import pytest

from rero.attacks.job import NOISE_CALIBRATIONS, REFERENCE_SPLITS
from rero.data.registry import LOADERS
from rero.models.registry import MODELS
from rero.privacy.accounting.registry import ACCOUNTANTS
from rero.privacy.rero.methods import METHODS
from rero.study import config as study_config
from rero.study.engines import GRAD_SAMPLE_MODES
from rero.training.config import DEVICES, OPTIMIZERS, TrainConfig
from tests.helpers import REPO

SCHEMA = study_config.load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")


def schema_node(*path: str) -> dict:
    """The schema of the config key at ``path`` (through datasets' entry schema)."""
    node = SCHEMA
    for key in path:
        node = node["additionalProperties"] if key == "*" else node["properties"][key]
    return node


@pytest.mark.parametrize(
    ("path", "registry"),
    [
        (("datasets", "*", "loader"), LOADERS),
        (("training", "model"), MODELS),
        (("privacy", "accountant"), ACCOUNTANTS),
        (("training", "optimizer"), OPTIMIZERS),
        (("training", "grad_sample_mode"), GRAD_SAMPLE_MODES),
        (("training", "device"), DEVICES),
        (("attack", "imprint", "noise_calibration"), NOISE_CALIBRATIONS),
        (("attack", "imprint", "reference_split"), REFERENCE_SPLITS),
    ],
)
def test_schema_enum_is_the_registry(path, registry):
    assert set(schema_node(*path)["enum"]) == set(registry), ".".join(path)


def test_bound_methods_enum_is_the_method_registry():
    node = schema_node("bounds", "methods")
    assert set(node["items"]["enum"]) == set(METHODS)
    assert node["default"] == list(METHODS)


def test_every_loader_tells_its_training_size_without_preparing():
    for name, loader in LOADERS.items():
        assert callable(loader.load) and callable(loader.split_sizes), name


def test_training_defaults_are_the_schemas():
    """TrainConfig's defaults (used by tests and the library) agree with the config schema."""
    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    for key, node in schema_node("training")["properties"].items():
        if key in defaults:
            assert defaults[key] == node["default"], key
