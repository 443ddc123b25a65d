"""Config validation: the schema and the cross-key checks name the key and what was expected."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate as snakemake_validate

from rero import config as study_config
from tests.conftest import REPO, shipped_config_text

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"


def default_config() -> dict:
    return yaml.safe_load(shipped_config_text())


def filled(config: dict) -> dict:
    config = copy.deepcopy(config)
    study_config.fill_defaults(config, study_config.load_schema(SCHEMA_PATH))
    return config


def schema_errors(config: dict) -> list[str]:
    return study_config.schema_errors(config, study_config.load_schema(SCHEMA_PATH))


def num_train_8000(loader: str, options: dict) -> int:
    return 8000


def test_shipped_config_is_valid():
    config = default_config()
    assert schema_errors(config) == []
    assert study_config.study_errors(filled(config), num_train_8000) == []


def test_schema_fills_defaults():
    config = filled({"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0]})
    assert config["privacy"]["delta"] == 1e-5
    assert config["training"]["model"] == "small_cnn"
    assert config["attack"]["prior_aware"]["prior_size"] == 8


def test_defaults_are_filled_as_snakemake_fills_them():
    """The one validation pass fills what snakemake.utils.validate would (it is not run), except
    inside a dataset's own training/privacy/attack entries: those hold only the keys given, so
    they override nothing they do not name."""
    minimal = {"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0]}
    theirs = copy.deepcopy(minimal)
    snakemake_validate(theirs, schema=str(SCHEMA_PATH))
    ours = filled(minimal)
    for section in ("training", "privacy", "attack"):
        assert ours["datasets"]["d"].pop(section) == {}
        theirs["datasets"]["d"].pop(section)
    assert ours == theirs


def test_validate_config_fills_in_place_or_raises_with_every_problem():
    schema = study_config.load_schema(SCHEMA_PATH)
    config = {"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0]}
    study_config.validate_config(config, schema, num_train_8000)
    assert config["training"]["epochs"] == 8 and config["datasets"]["d"]["options"] == {}
    bad = {"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0], "x": 1}
    bad["privacy"] = {"delta": 2}
    with pytest.raises(study_config.ConfigError) as error:
        study_config.validate_config(bad, schema, num_train_8000)
    assert "unknown key(s) ['x']" in str(error.value) and "privacy.delta" in str(error.value)
    assert "training" not in bad  # nothing filled when invalid
    cross = {"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0]}
    cross["privacy"] = {"delta": 0.01}
    with pytest.raises(study_config.ConfigError, match=r"privacy\.delta: 0\.01 is not below 1/N"):
        study_config.validate_config(cross, schema, num_train_8000)


def test_every_schema_property_is_described_and_defaulted():
    schema = study_config.load_schema(SCHEMA_PATH)

    def walk(node: dict, where: str) -> None:
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{where}.{name} has no description"
            if name not in node.get("required", []):
                assert "default" in child, f"{where}.{name} has no default"
            walk(child, f"{where}.{name}")

    walk(schema, "config")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c.update(unknown_key=1), "unknown key(s) ['unknown_key']"),
        (lambda c: c["training"].update(epochs="ten"), "training.epochs: 'ten' is not of type"),
        (lambda c: c["training"].update(epochs=0), "training.epochs: 0 is less than the minimum"),
        (lambda c: c.update(eps=[]), "eps: [] should be non-empty"),
        (lambda c: c.update(eps=[-1]), "eps.0"),
        (lambda c: c.update(eps=["big"]), "eps.0"),
        (lambda c: c["privacy"].update(delta=1.5), "privacy.delta"),
        (lambda c: c["privacy"].update(accountant="magic"), "privacy.accountant: 'magic'"),
        (lambda c: c["training"].update(typo=1), "training: unknown key(s) ['typo']"),
        (lambda c: c["datasets"]["mni152"].update(loader="csv"), "datasets.mni152.loader"),
    ],
)
def test_schema_errors_name_the_key(change, expected):
    config = default_config()
    change(config)
    errors = schema_errors(config)
    assert any(expected in error for error in errors), errors


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["privacy"].update(delta=1e-3), "privacy.delta: 0.001 is not below 1/N"),
        (lambda c: c["training"].update(batch_size=9000), "training.batch_size: 9000 exceeds"),
        (lambda c: c.update(eps=[0]), "eps: 0 is not a valid privacy budget"),
        (lambda c: c.update(eps=[1000, "1e3"]), "are the same budget"),
        (lambda c: c["bounds"].update(kappa=["1/1"]), "bounds.kappa"),
        (
            lambda c: c["training"].update(model="resnet9", grad_sample_mode="ew"),
            "training.grad_sample_mode: 'ew' cannot differentiate model 'resnet9'",
        ),
        (
            lambda c: c["training"].update(
                grad_sample_mode="ghost", augmentation_multiplicity=2, max_shift=2
            ),
            "training.augmentation_multiplicity: 2 views need per-sample gradients",
        ),
        (
            lambda c: c["training"].update(augmentation_multiplicity=4),
            "training.augmentation_multiplicity: 4 identical views",
        ),
        (
            lambda c: c["privacy"].update(delta=float("nan")),
            "privacy.delta: nan is not a finite number",
        ),
        (lambda c: c["privacy"].update(clip_norm=float("inf")), "privacy.clip_norm: inf is not"),
        (
            lambda c: c["training"].update(learning_rate=float("nan")),
            "training.learning_rate: nan is not",
        ),
        (lambda c: c.update(eps=[1e-3]), "eps: 0.001 is at or below 0.0035"),
        (lambda c: c.update(eps=[8, 1e-300]), "eps: 1e-300 is at or below"),
        (
            lambda c: c["attack"]["prior_aware"].update(known_size=8000),
            "attack.prior_aware: prior_size 8 + known_size 8000 = 8008 images exceeds the 8000",
        ),
        (
            lambda c: c["attack"]["imprint"].update(batch_size=4000),
            "attack.imprint: batch_size 4000 x num_batches 4 = 16000 images exceeds",
        ),
    ],
)
def test_study_errors_name_the_key(change, expected):
    config = filled(default_config())
    change(config)
    errors = study_config.study_errors(config, num_train_8000)
    assert any(expected in error for error in errors), errors


def test_an_exponent_yaml_reads_as_text_is_explained():
    config = default_config()
    config["privacy"]["delta"] = yaml.safe_load("delta: 1e-4")["delta"]  # PyYAML: the string
    errors = schema_errors(config)
    assert any("privacy.delta" in e and "write it with one, e.g. 1.0e-4" in e for e in errors)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"num_classes": 9}, "option 'num_classes' must be >= 2 and <= 3, got 9"),
        ({"patch_size": 1000}, "option 'patch_size' must be >= 8 and <= 64, got 1000"),
        ({"mask_size": 27}, "option 'mask_size' must be >= 0 and <= 26, got 27"),
        ({"n_val": 1}, "option 'n_val' must be >= 3"),
    ],
)
def test_mni152_options_are_checked_before_any_job(options, expected):
    from rero.data import expected_num_train

    config = filled(default_config())
    config["datasets"]["mni152"]["options"] = options
    errors = study_config.study_errors(config, expected_num_train)
    assert any(e.startswith("datasets.mni152: ") and expected in e for e in errors), errors


def test_study_errors_report_a_bad_dataset():
    def missing(loader: str, options: dict) -> int:
        raise FileNotFoundError("/nowhere.npz: file not found")

    errors = study_config.study_errors(filled(default_config()), missing)
    assert errors == ["datasets.mni152: /nowhere.npz: file not found"]


def test_raise_if_errors_lists_all():
    with pytest.raises(study_config.ConfigError, match="a\n  b"):
        study_config.raise_if_errors(["a", "b"])
    study_config.raise_if_errors([])


@pytest.mark.parametrize(
    ("value", "token"),
    [(1, "1"), (8.0, "8"), ("1e3", "1e3"), ("inf", "inf"), (0.5, "0.5")],
)
def test_eps_token(value, token):
    assert study_config.eps_token(value) == token


def test_merged_eps_tokens_keeps_order_and_drops_equal_values():
    assert study_config.merged_eps_tokens(["1", "1e3", "inf"], [2, 1000, 4.0]) == [
        "1",
        "1e3",
        "inf",
        "2",
        "4",
    ]


def test_parse_kappa():
    assert study_config.parse_kappa("1/N") == ("1/N", None)  # 1/N: resolved per dataset
    assert study_config.parse_kappa("1/8")[1] == pytest.approx(0.125)
    assert study_config.parse_kappa(str(0.01)) == ("0.01", 0.01)


def test_dataset_settings_merge_the_datasets_own_entry_over_the_section():
    config = filled(default_config())
    entry = config["datasets"]["mni152"]
    entry["training"] = {"epochs": 3}
    entry["attack"] = {"imprint": {"num_bins": 32}}
    training = study_config.dataset_settings(config, "mni152", "training")
    assert training["epochs"] == 3 and training["batch_size"] == 256
    imprint = study_config.dataset_settings(config, "mni152", "attack")["imprint"]
    assert imprint["num_bins"] == 32 and imprint["batch_size"] == 16  # merged, not replaced
    assert config["attack"]["imprint"]["num_bins"] == 64  # the section itself is untouched


def test_a_datasets_own_settings_are_checked_and_named():
    config = filled(default_config())
    config["datasets"]["mni152"]["privacy"] = {"delta": 1e-3}
    config["datasets"]["mni152"]["training"] = {"batch_size": 9000}
    errors = study_config.study_errors(config, num_train_8000)
    assert any(error.startswith("datasets.mni152.privacy.delta: 0.001") for error in errors)
    assert any(error.startswith("datasets.mni152.training.batch_size: 9000") for error in errors)
    config["datasets"]["mni152"]["training"] = {"model": "resnet9", "grad_sample_mode": "ew"}
    errors = study_config.study_errors(config, num_train_8000)
    assert any(
        error.startswith("datasets.mni152.training.grad_sample_mode: 'ew'") for error in errors
    )
    config["datasets"]["mni152"]["training"] = {"typo": 1}
    assert any(
        "datasets.mni152.training: unknown key(s) ['typo']" in e for e in schema_errors(config)
    )


def test_a_budget_that_overflowed_to_infinity_is_not_the_non_private_run():
    config = yaml.safe_load("eps: [8, 1.0e+400]")  # YAML reads it as float inf
    with pytest.raises(study_config.ConfigError, match=r"too large for a float.*'inf'"):
        study_config.eps_tokens(config["eps"])
    errors = study_config.study_errors(
        {**filled(default_config()), "eps": config["eps"]}, num_train_8000
    )
    assert any(error.startswith("eps: inf is a number too large") for error in errors), errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eps: [8]\nseeds: [0]\neps: [1]\n", "cfg.yaml:3:1: the key 'eps' is given twice"),
        (
            "privacy:\n  delta: 1.0e-5\n  delta: 1.0e-6\n",
            "cfg.yaml:3:3: the key 'delta' is given twice",
        ),
        ("eps: [8\nseeds: [0]\n", "cfg.yaml:2:6: expected ',' or ']'"),
        ("eps:\n\t- 8\n", "cfg.yaml:2:1: found character '\\t'"),
    ],
)
def test_config_files_are_read_strictly_naming_file_line_and_column(tmp_path, text, expected):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(study_config.ConfigError) as caught:
        study_config.check_config_files([path])
    assert expected in str(caught.value)


def test_a_well_formed_config_file_passes_the_strict_read(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(shipped_config_text())
    study_config.check_config_files([path])
