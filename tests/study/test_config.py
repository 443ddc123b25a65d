"""Config validation: the schema and the cross-key checks name the key and what was expected."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import yaml
from snakemake.utils import validate as snakemake_validate

from rero.study import config as study_config
from rero.study import tokens as config_tokens
from rero.study.checks import dataset_settings
from tests.helpers import REPO, shipped_config_text

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"


def default_config() -> dict:
    return yaml.safe_load(shipped_config_text())


def filled(config: dict) -> dict:
    config = copy.deepcopy(config)
    study_config.fill_defaults(config, study_config.load_schema(SCHEMA_PATH))
    return config


def schema_errors(config: dict) -> list[str]:
    return study_config.schema_errors(config, study_config.load_schema(SCHEMA_PATH))


def sizes_8000(loader: str, options: dict) -> dict[str, int]:
    return {"train": 8000, "val": 1000, "test": 2000}


def test_shipped_config_is_valid():
    config = default_config()
    assert schema_errors(config) == []
    assert study_config.study_errors(filled(config), sizes_8000) == []


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
    study_config.validate_config(config, schema, sizes_8000)
    assert config["training"]["epochs"] == 8 and config["datasets"]["d"]["options"] == {}
    bad = {"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0], "x": 1}
    bad["privacy"] = {"delta": 2}
    with pytest.raises(study_config.ConfigError) as error:
        study_config.validate_config(bad, schema, sizes_8000)
    assert "unknown key(s) ['x']" in str(error.value) and "privacy.delta" in str(error.value)
    assert "training" not in bad  # nothing filled when invalid
    cross = {"datasets": {"d": {"loader": "mni152"}}, "eps": [8], "seeds": [0]}
    cross["privacy"] = {"delta": 0.01}
    with pytest.raises(study_config.ConfigError, match=r"privacy\.delta: 0\.01 is not below 1/N"):
        study_config.validate_config(cross, schema, sizes_8000)


def test_every_schema_property_is_described_and_defaulted():
    schema = study_config.load_schema(SCHEMA_PATH)

    def walk(node: dict, where: str) -> None:
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{where}.{name} has no description"
            if name not in node.get("required", []):
                assert "default" in child, f"{where}.{name} has no default"
            walk(child, f"{where}.{name}")

    walk(schema, "config")


def dataset(config: dict) -> dict:
    return config["datasets"]["mni152"]


# Each malformed config: one change to the shipped config, and the start of the one line that
# names its key. All go through validate_config with the real split sizes, as the workflow does.
MALFORMED: dict[str, tuple[Callable[[dict], object], str]] = {
    # schema: types, ranges, names
    "unknown top-level key": (
        lambda c: c.update(unknown_key=1),
        "<top level>: unknown key(s) ['unknown_key']",
    ),
    "unknown training key": (lambda c: c["training"].update(typo=1), "training: unknown key(s)"),
    "no datasets": (lambda c: c.update(datasets={}), "datasets: {} should be non-empty"),
    "bad dataset name": (
        lambda c: c.update(datasets={"a b": {"loader": "mni152"}}),
        "datasets: 'a b' does not match '^[A-Za-z0-9][A-Za-z0-9_-]*$' (expected: A dataset's name",
    ),
    "dataset without loader": (lambda c: dataset(c).pop("loader"), "datasets.mni152: 'loader'"),
    "unknown loader": (lambda c: dataset(c).update(loader="csv"), "datasets.mni152.loader: 'csv'"),
    "no budgets": (lambda c: c.update(eps=[]), "eps: [] should be non-empty"),
    "negative budget": (lambda c: c.update(eps=[-1]), "eps.0: -1"),
    "budget as a word": (lambda c: c.update(eps=["big"]), "eps.0: 'big'"),
    "budget twice": (lambda c: c.update(eps=[8, 8]), "eps: [8, 8] has non-unique elements"),
    "no seeds": (lambda c: c.update(seeds=[]), "seeds: [] should be non-empty"),
    "seed as an integral float": (
        lambda c: c.update(seeds=[1.0]),
        "seeds.0: 1.0 is not of type 'integer'; write 1, not 1.0",
    ),
    "epochs as an integral float": (
        lambda c: c["training"].update(epochs=2.0),
        "training.epochs: 2.0 is not of type 'integer'; write 2, not 2.0 (expected: Training",
    ),
    "a dataset's own batch as an integral float": (
        lambda c: dataset(c).update(training={"batch_size": 64.0}),
        "datasets.mni152.training.batch_size: 64.0 is not of type 'integer'; write 64, not 64.0",
    ),
    "imprint bins as an integral float": (
        lambda c: c["attack"]["imprint"].update(num_bins=32.0),
        "attack.imprint.num_bins: 32.0 is not of type 'integer'; write 32, not 32.0",
    ),
    "audit guesses as integral floats": (
        lambda c: c["audit"].update(guesses=[25.0]),
        "audit.guesses.0: 25.0 is not of type 'integer'; write 25, not 25.0",
    ),
    "a fractional epoch count": (
        lambda c: c["training"].update(epochs=2.5),
        "training.epochs: 2.5 is not of type 'integer' (expected: Training epochs",
    ),
    "a boolean as a count": (
        lambda c: c["training"].update(epochs=True),
        "training.epochs: True is not of type 'integer'",
    ),
    "negative seed": (lambda c: c.update(seeds=[-1]), "seeds.0: -1 is less than the minimum"),
    "seed twice": (lambda c: c.update(seeds=[0, 0]), "seeds: [0, 0] has non-unique elements"),
    "delta above 1": (lambda c: c["privacy"].update(delta=1.5), "privacy.delta: 1.5"),
    "zero clip norm": (lambda c: c["privacy"].update(clip_norm=0), "privacy.clip_norm: 0"),
    "clip norm beyond float32's noise": (
        lambda c: c["privacy"].update(clip_norm=1e308),
        "privacy.clip_norm: 1e+308 is greater than the maximum",
    ),
    "unknown accountant": (
        lambda c: c["privacy"].update(accountant="magic"),
        "privacy.accountant: 'magic'",
    ),
    "loose tolerance": (
        lambda c: c["privacy"].update(eps_tolerance=0.9),
        "privacy.eps_tolerance: 0.9 is greater than the maximum",
    ),
    "epochs as a word": (
        lambda c: c["training"].update(epochs="ten"),
        "training.epochs: 'ten' is not of type",
    ),
    "zero epochs": (
        lambda c: c["training"].update(epochs=0),
        "training.epochs: 0 is less than the minimum",
    ),
    "zero physical batch": (
        lambda c: c["training"].update(physical_batch_size=0),
        "training.physical_batch_size: 0 is less than the minimum",
    ),
    "unknown optimizer": (
        lambda c: c["training"].update(optimizer="rmsprop"),
        "training.optimizer: 'rmsprop'",
    ),
    "huge learning rate": (
        lambda c: c["training"].update(learning_rate=100),
        "training.learning_rate: 100 is greater than the maximum",
    ),
    "unknown device": (lambda c: c["training"].update(device="tpu"), "training.device: 'tpu'"),
    "flip probability above 1": (
        lambda c: c["training"].update(flip_probability=1.5),
        "training.flip_probability: 1.5 is greater than the maximum",
    ),
    "unknown bound method": (
        lambda c: c["bounds"].update(methods=["magic"]),
        "bounds.methods.0: 'magic'",
    ),
    "extra budget as a word": (
        lambda c: c["bounds"].update(extra_eps=["big"]),
        "bounds.extra_eps.0: 'big'",
    ),
    "one imprint bin": (
        lambda c: c["attack"]["imprint"].update(num_bins=1),
        "attack.imprint.num_bins: 1 is less than the minimum",
    ),
    "unknown noise calibration": (
        lambda c: c["attack"]["imprint"].update(noise_calibration="half"),
        "attack.imprint.noise_calibration: 'half'",
    ),
    "reference split train": (
        lambda c: c["attack"]["imprint"].update(reference_split="train"),
        "attack.imprint.reference_split: 'train'",
    ),
    "SSIM threshold above 1": (
        lambda c: c["attack"]["imprint"].update(ssim_threshold=2),
        "attack.imprint.ssim_threshold: 2 is greater than the maximum",
    ),
    "success metric that is not a raw metric": (
        lambda c: c["attack"]["imprint"].update(success=[{"metric": "psnr", "threshold": 30}]),
        "attack.imprint.success.0.metric: 'psnr' is not one of ['raw_mse', 'raw_psnr',",
    ),
    "success NCC threshold above 1": (
        lambda c: c["attack"]["imprint"].update(success=[{"metric": "raw_ncc", "threshold": 2}]),
        "attack.imprint.success.0.threshold: 2 is greater than the maximum of 1",
    ),
    "success MSE threshold of zero": (
        lambda c: c["attack"]["imprint"].update(success=[{"metric": "raw_mse", "threshold": 0}]),
        "attack.imprint.success.0.threshold: 0 is less than or equal to the minimum of 0",
    ),
    "success criterion without a threshold": (
        lambda c: c["attack"]["imprint"].update(success=[{"metric": "raw_psnr"}]),
        "attack.imprint.success.0: 'threshold' is a required property",
    ),
    "success criterion as a mapping": (
        lambda c: c["attack"]["imprint"].update(success={"metric": "raw_psnr", "threshold": 30}),
        "attack.imprint.success: {'metric': 'raw_psnr', 'threshold': 30} is not of type 'array'",
    ),
    "from-scratch metric that is a raw metric": (
        lambda c: c["bounds"].update(from_scratch=[{"metric": "raw_psnr", "threshold": 30}]),
        "bounds.from_scratch.0.metric: 'raw_psnr' is not one of ['psnr', 'mse']",
    ),
    "from-scratch threshold of zero": (
        lambda c: c["bounds"].update(from_scratch=[{"metric": "mse", "threshold": 0}]),
        "bounds.from_scratch.0.threshold: 0 is less than or equal to the minimum of 0",
    ),
    "no from-scratch criterion": (
        lambda c: c["bounds"].update(from_scratch=[]),
        "bounds.from_scratch: [] should be non-empty",
    ),
    "from-scratch criterion twice": (
        lambda c: c["bounds"].update(from_scratch=[{"metric": "psnr", "threshold": 30}] * 2),
        "bounds.from_scratch: [{'metric': 'psnr', 'threshold': 30}, {'metric': 'psnr', "
        "'threshold': 30}] has non-unique elements",
    ),
    "one from-scratch criterion in PSNR and MSE": (
        lambda c: c["bounds"].update(
            from_scratch=[{"metric": "psnr", "threshold": 30}, {"metric": "mse", "threshold": 1e-3}]
        ),
        "bounds.from_scratch: {'metric': 'psnr', 'threshold': 30} and {'metric': 'mse', "
        "'threshold': 0.001} are one criterion (MSE ≤ 0.001); expected each once",
    ),
    "prior of one": (
        lambda c: c["attack"]["prior_aware"].update(prior_size=1),
        "attack.prior_aware.prior_size: 1 is less than the minimum",
    ),
    # across keys and against the data
    "delta not below 1/N": (
        lambda c: c["privacy"].update(delta=1e-3),
        "privacy.delta: 0.001 is not below 1/N",
    ),
    "batch above N": (
        lambda c: c["training"].update(batch_size=9000),
        "training.batch_size: 9000 exceeds",
    ),
    "zero budget": (lambda c: c.update(eps=[0]), "eps.0: 0 is not valid"),
    "one budget twice": (
        lambda c: c.update(eps=[1000, "1e3"]),
        "eps: '1000' and '1e3' are the same budget",
    ),
    "kappa of one": (lambda c: c["bounds"].update(kappa=["1/1"]), "bounds.kappa: "),
    "kappa twice": (
        lambda c: c["bounds"].update(kappa=["1/N", "1/N"]),
        "bounds.kappa: ['1/N', '1/N'] has non-unique elements (expected: Baseline success κ",
    ),
    "one kappa in two spellings": (
        lambda c: c["bounds"].update(kappa=["1/8", 0.125]),
        "bounds.kappa: '1/8' and 0.125 are the same κ (expected each κ once)",
    ),
    "one advice kappa in two spellings": (
        lambda c: c.update(advice={"kappa": [0.25, "1/4"]}),
        "advice.kappa: 0.25 and '1/4' are the same κ (expected each κ once)",
    ),
    "advice kappa twice": (
        lambda c: c.update(advice={"kappa": ["1/N", "1/N"]}),
        "advice.kappa: ['1/N', '1/N'] has non-unique elements (expected: Priors κ",
    ),
    "one audited budget in two spellings": (
        lambda c: c["audit"].update(eps=[8, "8"]),
        "audit.eps: '8' and '8' are the same budget",
    ),
    "one extra budget in two spellings": (
        lambda c: c["bounds"].update(extra_eps=[2, "2.0"]),
        "bounds.extra_eps: '2' and '2.0' are the same budget",
    ),
    "an integer dataset name": (
        lambda c: c["datasets"].update({1: {"loader": "mni152"}}),
        "datasets: 1 is not of type 'string' (expected: A dataset's name",
    ),
    "a dataset named as another's membership table": (
        lambda c: c["datasets"].update(mni152_membership={"loader": "mni152"}),
        "datasets: 'mni152_membership' is a name dataset 'mni152' already gives its membership "
        "table (results/bounds/mni152_membership.csv); expected no name that is another",
    ),
    "a dataset named as another's from-scratch table": (
        lambda c: c["datasets"].update(mni152_from_scratch={"loader": "mni152"}),
        "datasets: 'mni152_from_scratch' is a name dataset 'mni152' already gives its "
        "from_scratch table (results/bounds/mni152_from_scratch.csv)",
    ),
    "engine cannot differentiate the model": (
        lambda c: c["training"].update(model="resnet9", grad_sample_mode="ew"),
        "training.grad_sample_mode: 'ew' cannot differentiate model 'resnet9'",
    ),
    "views without per-sample gradients": (
        lambda c: c["training"].update(
            grad_sample_mode="ghost", augmentation_multiplicity=2, max_shift=2
        ),
        "training.augmentation_multiplicity: 2 views need per-sample gradients",
    ),
    "identical views": (
        lambda c: c["training"].update(augmentation_multiplicity=4),
        "training.augmentation_multiplicity: 4 identical views",
    ),
    "NaN delta": (
        lambda c: c["privacy"].update(delta=float("nan")),
        "privacy.delta: nan is not a finite number",
    ),
    "infinite clip norm": (
        lambda c: c["privacy"].update(clip_norm=float("inf")),
        "privacy.clip_norm: inf is greater than the maximum",
    ),
    "NaN learning rate": (
        lambda c: c["training"].update(learning_rate=float("nan")),
        "training.learning_rate: nan is not",
    ),
    "budget no accountant reaches": (
        lambda c: c.update(eps=[1e-3]),
        "eps: 0.001 is at or below 0.0035",
    ),
    "tiny budget": (lambda c: c.update(eps=[8, 1e-300]), "eps: 1e-300 is at or below"),
    "prior and known above N": (
        lambda c: c["attack"]["prior_aware"].update(known_size=8000),
        "attack.prior_aware: prior_size 8 + known_size 8000 = 8008 images exceeds the 8000",
    ),
    "imprint batches above N": (
        lambda c: c["attack"]["imprint"].update(batch_size=4000),
        "attack.imprint: batch_size 4000 x num_batches 4 = 16000 images exceeds",
    ),
    "more imprint bins than reference images": (
        lambda c: c["attack"]["imprint"].update(num_bins=1001),
        "attack.imprint: num_bins 1001 exceeds the 1000 images of the val split",
    ),
    "a dataset's own delta": (
        lambda c: dataset(c).update(privacy={"delta": 1e-3}),
        "datasets.mni152.privacy.delta: 0.001 is not below 1/N",
    ),
    "a dataset's own bins against its test split": (
        lambda c: dataset(c).update(
            attack={"imprint": {"reference_split": "test", "num_bins": 2001}}
        ),
        "datasets.mni152.attack.imprint: num_bins 2001 exceeds the 2000 images of the test split",
    ),
    # training settings against the dataset's shape and classes, before any job
    "single logit on 3 classes": (
        lambda c: c["training"].update(single_logit=True),
        "training.single_logit: true needs a dataset of 2 classes; dataset 'mni152' (mni152 "
        "with options {}) has 3 (expected false)",
    ),
    "a dataset's own single logit": (
        lambda c: dataset(c).update(training={"single_logit": True}),
        "datasets.mni152.training.single_logit: true needs a dataset of 2 classes; dataset "
        "'mni152' (mni152 with options {}) has 3 (expected false)",
    ),
    "shift as large as the image": (
        lambda c: c["training"].update(max_shift=28),
        "training.max_shift: 28 px needs images larger than that (reflected borders); dataset "
        "'mni152' (mni152 with options {}) has 28x28 (expected max_shift < 28)",
    ),
    "a dataset's own shift beyond its own patch": (
        lambda c: dataset(c).update(options={"patch_size": 16}, training={"max_shift": 20}),
        "datasets.mni152.training.max_shift: 20 px needs images larger than that (reflected "
        "borders); dataset 'mni152' (mni152 with options {'patch_size': 16}) has 16x16 "
        "(expected max_shift < 16)",
    ),
    # loader options, checked by the loader before any job
    "too many mni152 classes": (
        lambda c: dataset(c).update(options={"num_classes": 9}),
        "datasets.mni152: option 'num_classes' must be >= 2 and <= 3, got 9",
    ),
    "mni152 patch larger than the template": (
        lambda c: dataset(c).update(options={"patch_size": 1000}),
        "datasets.mni152: option 'patch_size' must be >= 8 and <= 64, got 1000",
    ),
    "mni152 mask larger than the patch": (
        lambda c: dataset(c).update(options={"mask_size": 27}),
        "datasets.mni152: option 'mask_size' must be >= 0 and <= 26, got 27",
    ),
    "mni152 val too small": (
        lambda c: dataset(c).update(options={"n_val": 1}),
        "datasets.mni152: option 'n_val' must be >= 3",
    ),
    "unknown loader option": (
        lambda c: dataset(c).update(options={"colour": 1}),
        "datasets.mni152: loader 'mni152': unknown option",
    ),
    "medmnist without a path": (
        lambda c: dataset(c).update(loader="medmnist"),
        "datasets.mni152: loader 'medmnist': missing required option(s) path",
    ),
    "medmnist file absent": (
        lambda c: dataset(c).update(loader="medmnist", options={"path": "/nowhere/x.npz"}),
        "datasets.mni152: /nowhere/x.npz: file not found",
    ),
    "ham10000 folder absent": (
        lambda c: dataset(c).update(loader="ham10000", options={"root": "/nowhere"}),
        "datasets.mni152: /nowhere: folder not found",
    ),
    # the audit
    "unknown audit key": (lambda c: c["audit"].update(canaries=5), "audit: unknown key(s)"),
    "audited budget not trained": (
        lambda c: c["audit"].update(eps=[2]),
        "audit.eps: 2 is not among eps",
    ),
    "audit of the non-private run": (
        lambda c: c["audit"].update(eps=["inf"]),
        "audit.eps: 'inf' is the non-private run",
    ),
    "audit without canaries": (
        lambda c: c["audit"].update(gradient_canaries=0, input_canaries=0),
        "audit.gradient_canaries, audit.input_canaries: both 0",
    ),
    "more guesses than canaries": (
        lambda c: c["audit"].update(input_canaries=100),
        "audit.guesses: [200] exceed audit.input_canaries x audit.runs = 100",
    ),
    "audit confidence of 1": (
        lambda c: c["audit"].update(confidence=1),
        "audit.confidence: 1 is greater than or equal to the maximum",
    ),
    "no audit guesses": (lambda c: c["audit"].update(guesses=[]), "audit.guesses: []"),
    "more input canaries than validation images": (
        lambda c: c["audit"].update(input_canaries=1001),
        "audit.input_canaries: 1001 exceeds the 1000 validation images",
    ),
    "transition criterion the attack does not measure": (
        lambda c: c["attack"].update(transition={"criterion": "raw_psnr:35"}),
        "attack.transition.criterion: 'raw_psnr:35' is not a criterion the attack measures; "
        "expected ssim or one of attack.imprint.success as METRIC:THRESHOLD (raw_psnr:30)",
    ),
    "transition criterion with a threshold that is no number": (
        lambda c: c["attack"].update(transition={"criterion": "raw_psnr:high"}),
        "attack.transition.criterion: 'raw_psnr:high' is not a criterion the attack measures",
    ),
    "transition criterion of an unknown metric": (
        lambda c: c["attack"].update(transition={"criterion": "psnr:30"}),
        "attack.transition.criterion: 'psnr:30' does not match",
    ),
    "gradient canaries under ghost clipping": (
        lambda c: c["training"].update(grad_sample_mode="ghost"),
        "audit.gradient_canaries: need stored per-sample gradients",
    ),
}


@pytest.mark.parametrize(("change", "expected"), MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_config_is_refused_naming_its_key(change, expected):
    from rero.data.registry import expected_split_sizes

    config = default_config()
    change(config)
    with pytest.raises(study_config.ConfigError) as caught:
        study_config.validate_config(
            config, study_config.load_schema(SCHEMA_PATH), expected_split_sizes
        )
    lines = str(caught.value).splitlines()[1:]
    assert any(line.strip().startswith(expected) for line in lines), lines


@pytest.mark.parametrize("criterion", ["ssim", "raw_psnr:30", "raw_psnr:30.0"])
def test_a_transition_criterion_the_attack_measures_is_accepted(criterion):
    config = default_config()
    config["attack"]["transition"] = {"criterion": criterion}
    assert schema_errors(config) == []
    study_config.validate_config(config, study_config.load_schema(SCHEMA_PATH), sizes_8000)


def test_an_exponent_yaml_reads_as_text_is_explained():
    config = default_config()
    config["privacy"]["delta"] = yaml.safe_load("delta: 1e-4")["delta"]  # PyYAML: the string
    errors = schema_errors(config)
    assert any("privacy.delta" in e and "write it with one, e.g. 1.0e-4" in e for e in errors)


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
    [
        (1, "1"),
        (8.0, "8"),
        ("1e3", "1e3"),
        ("inf", "inf"),
        (0.5, "0.5"),
        (1e4, "10000"),
        (8.123456789, "8.123456789"),  # not 8.12346, above the budget asked for
        (2.5000001, "2.5000001"),
        (1.23456789e20, "1.23456789e+20"),
        (2.5e-5, "2.5e-05"),
        ("8.123456789", "8.123456789"),
        (10**20, "100000000000000000000"),
    ],
)
def test_eps_token_is_the_budget_exactly(value, token):
    assert config_tokens.eps_token(value) == token
    if token != "inf":
        assert float(token) == float(value)


def test_budgets_are_the_same_only_when_equal_as_floats():
    assert config_tokens.eps_tokens([2.5, 2.5000001]) == ["2.5", "2.5000001"]
    with pytest.raises(config_tokens.ConfigError, match=r"'2\.5' and '2\.50' are the same budget"):
        config_tokens.eps_tokens([2.5, "2.50"])


def test_kappa_specs_with_adds_a_kappa_only_once():
    assert config_tokens.kappa_specs_with(["1/N"], "1/8") == ["1/N", "1/8"]
    assert config_tokens.kappa_specs_with(["1/N", 0.125], "1/8") == ["1/N", "0.125"]
    assert config_tokens.kappa_specs_with(["1/8"], "1/8") == ["1/8"]


def test_merged_eps_tokens_keeps_order_and_drops_equal_values():
    assert config_tokens.merged_eps_tokens(["1", "1e3", "inf"], [2, 1000, 4.0]) == [
        "1",
        "1e3",
        "inf",
        "2",
        "4",
    ]


def test_parse_kappa():
    assert config_tokens.parse_kappa("1/N") == ("1/N", None)  # 1/N: resolved per dataset
    assert config_tokens.parse_kappa("1/8")[1] == pytest.approx(0.125)
    assert config_tokens.parse_kappa(str(0.01)) == ("0.01", 0.01)


def test_dataset_settings_merge_the_datasets_own_entry_over_the_section():
    config = filled(default_config())
    entry = config["datasets"]["mni152"]
    entry["training"] = {"epochs": 3}
    entry["attack"] = {"imprint": {"num_bins": 32}}
    training = dataset_settings(config, "mni152", "training")
    assert training["epochs"] == 3 and training["batch_size"] == 256
    imprint = dataset_settings(config, "mni152", "attack")["imprint"]
    assert imprint["num_bins"] == 32 and imprint["batch_size"] == 16  # merged, not replaced
    assert config["attack"]["imprint"]["num_bins"] == 64  # the section itself is untouched


def test_a_datasets_own_settings_are_checked_and_named():
    config = filled(default_config())
    config["datasets"]["mni152"]["privacy"] = {"delta": 1e-3}
    config["datasets"]["mni152"]["training"] = {"batch_size": 9000}
    errors = study_config.study_errors(config, sizes_8000)
    assert any(error.startswith("datasets.mni152.privacy.delta: 0.001") for error in errors)
    assert any(error.startswith("datasets.mni152.training.batch_size: 9000") for error in errors)
    config["datasets"]["mni152"]["training"] = {"model": "resnet9", "grad_sample_mode": "ew"}
    errors = study_config.study_errors(config, sizes_8000)
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
        config_tokens.eps_tokens(config["eps"])
    errors = study_config.study_errors(
        {**filled(default_config()), "eps": config["eps"]}, sizes_8000
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
        study_config.read_config_files([path])
    assert expected in str(caught.value)


# Each scalar YAML 1.1 reads as something other than its text: the file's line and column, the
# key, the text as written, what YAML makes of it and what to write instead.
SURPRISING_SCALARS = {
    "octal budget": (
        "eps: [8, 010]\n",
        "1:10: eps.1: 010 is not valid (YAML 1.1 reads it as the number 8; expected a decimal "
        "number without leading zeros, underscores or colons, or '010' quoted for text)",
    ),
    "octal seed": (
        "seeds: [0, 07]\n",
        "1:12: seeds.1: 07 is not valid (YAML 1.1 reads it as the number 7;",
    ),
    "underscores": (
        "training:\n  batch_size: 1_000\n",
        "2:15: training.batch_size: 1_000 is not valid (YAML 1.1 reads it as the number 1000;",
    ),
    "sexagesimal": (
        "training:\n  epochs: 1:30\n",
        "2:11: training.epochs: 1:30 is not valid (YAML 1.1 reads it as the number 90;",
    ),
    "sexagesimal float": (
        "privacy:\n  clip_norm: 1:30.5\n",
        "2:14: privacy.clip_norm: 1:30.5 is not valid (YAML 1.1 reads it as the number 90.5;",
    ),
    "hexadecimal": (
        "attack:\n  seed: 0x10\n",
        "2:9: attack.seed: 0x10 is not valid (YAML 1.1 reads it as the number 16;",
    ),
    "binary": (
        "audit:\n  runs: 0b11\n",
        "2:9: audit.runs: 0b11 is not valid (YAML 1.1 reads it as the number 3;",
    ),
    "yes as text": (
        "privacy:\n  accountant: yes\n",
        "2:15: privacy.accountant: yes is not valid (YAML 1.1 reads it as the boolean true; "
        "expected true or false, or 'yes' quoted for text)",
    ),
    "off as text": (
        "datasets:\n  d:\n    loader: mni152\n    options:\n      on_unreadable: off\n",
        "5:22: datasets.d.options.on_unreadable: off is not valid (YAML 1.1 reads it as the "
        "boolean false;",
    ),
    "on as a dataset name": (
        "datasets:\n  on:\n    loader: mni152\n",
        "2:3: datasets.on: on is not valid (YAML 1.1 reads it as the boolean true;",
    ),
    "a date": (
        "attack:\n  seed: 2024-01-01\n",
        "2:9: attack.seed: 2024-01-01 is not valid (YAML 1.1 reads it as the date 2024-01-01;",
    ),
    "inside a merged mapping": (
        "base: &b\n  epochs: 010\ntraining:\n  <<: *b\n",
        "2:11: base.epochs: 010 is not valid (YAML 1.1 reads it as the number 8;",
    ),
}


@pytest.mark.parametrize(
    ("text", "expected"), SURPRISING_SCALARS.values(), ids=SURPRISING_SCALARS.keys()
)
def test_a_scalar_yaml_reads_as_something_else_is_refused_as_written(tmp_path, text, expected):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(study_config.ConfigError) as caught:
        study_config.read_config_files([path])
    assert f"{path}:{expected}" in str(caught.value)


def test_quoted_and_plain_spellings_read_as_written(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "eps: [1, 8.5, 1e3, 1.0e+3, .5, -0, +2, inf, .inf, '010']\nflag: [true, False]\n"
        "name: 'yes'\nwhen: \"2024-01-01\"\n"
    )
    assert study_config.read_config_files([path]) == {
        "eps": [1, 8.5, "1e3", 1000.0, 0.5, 0, 2, "inf", float("inf"), "010"],
        "flag": [True, False],
        "name": "yes",
        "when": "2024-01-01",
    }


def test_merge_keys_are_read_and_a_key_given_twice_beside_them_is_refused(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "training: &shared\n  epochs: 3\n  batch_size: 64\n"
        "datasets:\n  d:\n    loader: mni152\n    training:\n      <<: *shared\n"
        "      epochs: 5\n"
        "attack:\n  imprint:\n    <<: [{num_bins: 8}, {batch_size: 4}]\n"
    )
    config = study_config.read_config_files([path])
    assert config["datasets"]["d"]["training"] == {"epochs": 5, "batch_size": 64}
    assert config["training"] == {"epochs": 3, "batch_size": 64}
    assert config["attack"]["imprint"] == {"num_bins": 8, "batch_size": 4}
    path.write_text("base: &b {epochs: 3}\ntraining:\n  <<: *b\n  epochs: 4\n  epochs: 5\n")
    with pytest.raises(study_config.ConfigError, match=r"cfg.yaml:5:3: the key 'epochs' is given"):
        study_config.read_config_files([path])


def test_a_file_without_budgets_or_seeds_gets_the_schema_defaults(tmp_path, capsys, monkeypatch):
    from rero.cli import main
    from rero.commands import check

    # the jobs Snakemake plans are counted by the one Snakemake run of the slow test below
    monkeypatch.setattr(check, "planned_jobs", lambda configfiles: {"all": 1})

    config = {"datasets": {"d": {"loader": "mni152"}}}
    study_config.validate_config(config, study_config.load_schema(SCHEMA_PATH), sizes_8000)
    assert config["eps"] == [1, 8, "1e3", "1e9", "inf"] and config["seeds"] == [0, 1]
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets:\n  d:\n    loader: mni152\n")
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out.startswith("valid: d (mni152, N = 8000); 5 budgets x 2 seeds")


def test_a_well_formed_config_file_passes_the_strict_read(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(shipped_config_text())
    study_config.read_config_files([path])


@pytest.mark.slow
def test_check_config_reports_what_snakemake_cannot(tmp_path, capsys, monkeypatch):
    """Snakemake reads a --configfile before the workflow's checks: `check-config` names the
    file, line and column of a YAML error, and the key of a bad value; for a valid study it
    prints the jobs of Snakemake's own plan, per rule (the only dry run of this module)."""
    from rero.cli import main

    monkeypatch.chdir(tmp_path)  # planned where a run of this study would be, not the checkout
    shipped = tmp_path / "config.yaml"
    shipped.write_text(shipped_config_text())
    assert main(["check-config", str(shipped)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid: mni152 (mni152, N = 8000); 5 budgets x 2 seeds\n")
    table = out.split("by rule:\n", 1)[1].splitlines()
    planned = {rule: int(jobs) for rule, jobs in map(str.split, table)}
    # the shipped study: one dataset, 5 budgets x 2 seeds trainings; a σ plan and an attack at
    # each of the 5 budgets and the 9 of bounds.extra_eps; one audit (audit.eps [8]); one job of
    # every other rule; and the total
    per_dataset = ["advise", "bounds", "from_scratch", "prepare_data", "transition", "translate"]
    study = ["aggregate", "all", "figures", "provenance", "report_pages", "results_readme"]
    expected = {"train": 10, "calibrate": 14, "attack": 14, "audit": 1}
    expected |= {rule: 1 for rule in per_dataset + study}
    assert planned == {**expected, "total": sum(expected.values())}
    broken = tmp_path / "broken.yaml"
    broken.write_text("eps: [8\nseeds: [0]\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 8\n- 16\n")
    assert main(["check-config", str(broken), str(binary), str(listed)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}:2:6: expected ',' or ']'" in err
    assert f"{binary}: not UTF-8 text" in err
    assert f"{listed}: holds a list; expected a mapping" in err
    override = tmp_path / "override.yaml"
    override.write_text("privacy:\n  delta: 0.5\n")
    assert main(["check-config", str(shipped), str(override)]) == 2  # merged over the first
    assert "privacy.delta: 0.5 is not below 1/N" in capsys.readouterr().err
