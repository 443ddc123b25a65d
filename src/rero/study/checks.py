"""The study's checks across keys, which a JSON schema cannot express: budgets, κ and criteria
each once, dataset names against the names the DAG derives, the settings each dataset's size,
task, classes and image shape allow. :func:`study_errors` is the pass; ``rero.study.config``
runs it after the schema.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

from rero.data.registry import LOADERS, dataset_shape
from rero.data.shapes import DatasetShape
from rero.privacy.accounting.rdp_conversion import rdp_epsilon_floor
from rero.study.engines import (
    SSIM_WINDOW,
    VIEW_AVERAGING_MODES,
    setting_conflicts,
    shape_conflicts,
    task_conflicts,
)
from rero.study.tokens import (
    ConfigError,
    eps_token,
    eps_tokens,
    parse_eps_token,
    parse_kappa,
)


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it key by key, nested mappings merged the same way."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def dataset_settings(config: dict[str, Any], dataset: str, section: str) -> dict[str, Any]:
    """The ``training``, ``privacy`` or ``attack`` settings that apply to ``dataset``: the top-level
    section with the dataset's own entry (``datasets.<name>.<section>``) merged over it."""
    return merged(config[section], config["datasets"][dataset].get(section, {}))


def _setting_key(name: str, dataset: dict[str, Any], section: str, key: str) -> str:
    """Where a setting of a dataset was given: its own override, else the top-level section."""
    if key in dataset.get(section, {}):
        return f"datasets.{name}.{section}.{key}"
    return f"{section}.{key}"


def shape_errors(
    name: str,
    dataset: dict[str, Any],
    training: dict[str, Any],
    shape: DatasetShape,
    conflicts: list[tuple[str, str]],
) -> list[str]:
    """The training settings of dataset ``name`` that its task, classes and image ``shape``
    cannot take (``conflicts``: settings already refused, not reported twice), and images
    smaller than the imprint attack's SSIM window."""
    options = dataset.get("options", {})
    described = f"dataset {name!r} ({dataset['loader']} with options {options})"
    errors = [
        f"{_setting_key(name, dataset, 'training', key)}: {problem}"
        for key, problem in shape_conflicts(training, shape, described)
        if key not in {reported for reported, _ in conflicts}
    ]
    if min(shape.spatial[-2:]) < SSIM_WINDOW:
        errors.append(
            f"datasets.{name}.options: {described} has {shape.sides_text} images, smaller "
            f"than the {SSIM_WINDOW}x{SSIM_WINDOW} window of the imprint attack's SSIM "
            f"(expected options giving images of at least {SSIM_WINDOW} px a side)"
        )
    return errors


def study_errors(
    config: dict[str, Any],
    split_sizes_of: Callable[[str, dict[str, Any]], dict[str, int] | None],
    shape_of: Callable[[str, dict[str, Any]], DatasetShape | None] = dataset_shape,
) -> list[str]:
    """Checks across keys that a schema cannot express (``config`` has its defaults filled).

    ``split_sizes_of(loader, options)`` gives the size of each split a dataset will have (None:
    unknown before preparing, so the checks that need it are skipped); ``shape_of(loader,
    options)`` its task, classes and image shape, checked against its training settings (None:
    unknown, those checks skipped)."""
    errors = non_finite_errors(config) + audit_errors(config) + dataset_name_errors(config)
    for key, values in (
        ("eps", config["eps"]),
        ("bounds.extra_eps", config["bounds"]["extra_eps"]),
        ("audit.eps", config["audit"]["eps"]),
    ):
        try:
            eps_tokens(values)
        except ConfigError as error:
            errors.append(str(error).replace("eps:", f"{key}:", 1))
    errors += kappa_errors("bounds.kappa", config["bounds"]["kappa"])
    errors += kappa_errors("advice.kappa", config["advice"]["kappa"])
    errors += from_scratch_errors(config["bounds"]["from_scratch"])
    for name, dataset in config["datasets"].items():
        delta = dataset_settings(config, name, "privacy")["delta"]
        training = dataset_settings(config, name, "training")
        batch = training["batch_size"]
        conflicts = setting_conflicts(training) + task_conflicts(
            training, LOADERS[dataset["loader"]].task
        )
        for key, problem in conflicts:
            errors.append(f"{_setting_key(name, dataset, 'training', key)}: {problem}")
        errors += unreachable_budget_errors(config, name, dataset)
        errors += transition_criterion_errors(config, name, dataset)
        errors += audit_setting_errors(config, name, dataset, training)
        try:
            sizes = split_sizes_of(dataset["loader"], dataset.get("options", {}))
        except (ValueError, FileNotFoundError) as error:
            errors.append(f"datasets.{name}: {error}")
            continue
        options = dataset.get("options", {})
        try:
            shape = shape_of(dataset["loader"], options)
        except (ValueError, FileNotFoundError) as error:
            errors.append(f"datasets.{name}: {error}")
            continue
        if shape is not None:
            errors += shape_errors(name, dataset, training, shape, conflicts)
        if sizes is None:
            continue
        num_train = sizes["train"]
        if delta >= 1.0 / num_train:
            errors.append(
                f"{_setting_key(name, dataset, 'privacy', 'delta')}: {delta:g} is not below "
                f"1/N = {1 / num_train:.3g} for dataset {name!r} (N = {num_train}); "
                "expected δ < 1/N"
            )
        if batch > num_train:
            errors.append(
                f"{_setting_key(name, dataset, 'training', 'batch_size')}: {batch} exceeds "
                f"the {num_train} training examples of dataset {name!r} (expected B ≤ N)"
            )
        errors += attack_size_errors(config, name, dataset, sizes)
        input_canaries = config["audit"]["input_canaries"]
        if config["audit"]["eps"] and input_canaries > sizes["val"]:
            errors.append(
                f"audit.input_canaries: {input_canaries} exceeds the {sizes['val']} validation "
                f"images of dataset {name!r}, from which they are drawn (expected ≤ its size)"
            )
        for spec in config["bounds"]["kappa"]:
            try:
                _, kappa = parse_kappa(str(spec))
            except ValueError:
                continue  # kappa_errors reported it
            if kappa is None and num_train < 2:
                errors.append(f"bounds.kappa: {spec!r} gives κ ≥ 1 for dataset {name!r}")
    return errors


#: what the workflow appends to a dataset's name for a second output beside the first (the bounds
#: rule writes results/bounds/{dataset}.csv and {dataset}_membership.csv, from_scratch
#: {dataset}_from_scratch.csv)
DERIVED_NAME_SUFFIXES = ("_membership", "_from_scratch")


def dataset_name_errors(config: dict[str, Any]) -> list[str]:
    """Dataset names that another's outputs would take (``x_membership`` beside ``x``)."""
    names = list(config["datasets"])
    return [
        f"datasets: {derived!r} is a name dataset {name!r} already gives its {suffix[1:]} "
        f"table (results/bounds/{derived}.csv); expected no name that is another followed by "
        f"{' or '.join(DERIVED_NAME_SUFFIXES)}"
        for name in names
        for suffix in DERIVED_NAME_SUFFIXES
        if (derived := f"{name}{suffix}") in names
    ]


def kappa_errors(key: str, specs: Iterable[Any]) -> list[str]:
    """A line for every κ spec of ``key`` that does not parse, or that gives a κ an earlier
    spec gives ("1/8" and 0.125: the same rows twice)."""
    errors = []
    seen: dict[float | None, str] = {}
    for spec in specs:
        try:
            _, kappa = parse_kappa(str(spec))
        except ValueError as error:
            errors.append(f"{key}: {error}")
            continue
        if kappa in seen:
            errors.append(
                f"{key}: {seen[kappa]!r} and {spec!r} are the same κ (expected each κ once)"
            )
        seen.setdefault(kappa, spec)
    return errors


def from_scratch_errors(criteria: Iterable[dict[str, Any]]) -> list[str]:
    """A line for every criterion of ``bounds.from_scratch`` whose MSE threshold an earlier one
    gives (PSNR ≥ τ dB at data range 1 is MSE ≤ 10^(-τ/10): psnr 30 and mse 0.001 are one)."""
    errors = []
    seen: list[tuple[float, dict[str, Any]]] = []
    for item in criteria:
        threshold = float(item["threshold"])
        mse = threshold if item["metric"] == "mse" else 10 ** (-threshold / 10)
        same = [other for value, other in seen if math.isclose(value, mse, rel_tol=1e-12)]
        if same:
            errors.append(
                f"bounds.from_scratch: {same[0]} and {item} are one criterion (MSE ≤ {mse:g}); "
                "expected each once"
            )
        seen.append((mse, item))
    return errors


def non_finite_errors(value: Any, key: str = "") -> list[str]:
    """A line for every NaN or infinite number in ``value`` (YAML reads .nan, .inf and 1e400 as
    floats that pass a schema's bounds); ε lists are left to :func:`eps_token`, which explains."""
    if isinstance(value, dict):
        return [
            error
            for name, item in value.items()
            if f"{key}{name}" not in ("eps", "bounds.extra_eps")
            for error in non_finite_errors(item, f"{key}{name}.")
        ]
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in non_finite_errors(item, f"{key}{i}.")]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{key.rstrip('.')}: {value!r} is not a finite number (expected a real value)"]
    return []


def unreachable_budget_errors(
    config: dict[str, Any], name: str, dataset: dict[str, Any]
) -> list[str]:
    """Target budgets of ``eps`` that no σ reaches at the dataset's δ: σ calibration starts from
    RDP, whose ε never falls below its (ε, δ) conversion term (``rdp_epsilon_floor``)."""
    delta = dataset_settings(config, name, "privacy")["delta"]
    if not (isinstance(delta, float | int) and 0 < delta < 1):
        return []  # the schema reported it
    floor = rdp_epsilon_floor(delta)
    errors = []
    for token in _valid_tokens(config["eps"]):
        if parse_eps_token(token) <= floor:
            errors.append(
                f"eps: {token} is at or below {floor:.3g}, the smallest ε the RDP accountant "
                f"certifies at {_setting_key(name, dataset, 'privacy', 'delta')} = {delta:g} for "
                f"dataset {name!r} however large σ is; expected ε > {floor:.3g} (a larger δ "
                "lowers this floor)"
            )
    return errors


def _valid_tokens(values: Iterable[Any]) -> list[str]:
    """The ε tokens of ``values`` that parse (the others are reported by :func:`eps_tokens`)."""
    tokens = []
    for value in values:
        try:
            tokens.append(eps_token(value))
        except ConfigError:
            continue
    return tokens


def attack_size_errors(
    config: dict[str, Any], name: str, dataset: dict[str, Any], sizes: dict[str, int]
) -> list[str]:
    """Attack settings that need more images than a split of the dataset has."""
    attack = dataset_settings(config, name, "attack")
    imprint, prior = attack["imprint"], attack["prior_aware"]
    num_train = sizes["train"]
    errors = []
    needed = imprint["batch_size"] * imprint["num_batches"]
    if needed > num_train:
        errors.append(
            f"{_setting_key(name, dataset, 'attack', 'imprint')}: batch_size "
            f"{imprint['batch_size']} x num_batches {imprint['num_batches']} = {needed} images "
            f"exceeds the {num_train} training examples of dataset {name!r} (expected ≤ N)"
        )
    reference = imprint["reference_split"]
    if imprint["num_bins"] > sizes[reference]:
        errors.append(
            f"{_setting_key(name, dataset, 'attack', 'imprint')}: num_bins {imprint['num_bins']} "
            f"exceeds the {sizes[reference]} images of the {reference} split of dataset "
            f"{name!r}, whose quantiles place the bins (expected num_bins ≤ its size)"
        )
    needed = prior["prior_size"] + prior["known_size"]
    if needed > num_train:
        errors.append(
            f"{_setting_key(name, dataset, 'attack', 'prior_aware')}: prior_size "
            f"{prior['prior_size']} + known_size {prior['known_size']} = {needed} images exceeds "
            f"the {num_train} training examples of dataset {name!r} (expected ≤ N)"
        )
    return errors


def transition_criterion_errors(
    config: dict[str, Any], name: str, dataset: dict[str, Any]
) -> list[str]:
    """A transition criterion that the attack does not measure: ssim (the paper's criterion) or
    one of attack.imprint.success."""
    attack = dataset_settings(config, name, "attack")
    criterion = attack["transition"]["criterion"]
    if criterion == "ssim":
        return []
    metric, _, threshold = criterion.partition(":")
    measured = {(item["metric"], float(item["threshold"])) for item in attack["imprint"]["success"]}
    try:
        if (metric, float(threshold)) in measured:
            return []
    except ValueError:
        pass
    options = ", ".join(f"{m}:{t:g}" for m, t in sorted(measured)) or "none configured"
    key = _setting_key(name, dataset, "attack", "transition") + ".criterion"
    return [
        f"{key}: {criterion!r} is not a criterion the attack measures; expected ssim or one of "
        f"attack.imprint.success as METRIC:THRESHOLD ({options})"
    ]


def audit_errors(config: dict[str, Any]) -> list[str]:
    """Audited budgets that are not trained private budgets, canary and guess counts that do not
    fit (dataset-independent checks of the ``audit`` section)."""
    audit = config["audit"]
    if not audit["eps"]:
        return []
    trained = {parse_eps_token(token) for token in _valid_tokens(config["eps"])}
    errors = []
    for token in _valid_tokens(audit["eps"]):
        value = parse_eps_token(token)
        if math.isinf(value):
            errors.append("audit.eps: 'inf' is the non-private run, which claims no ε to audit")
        elif value not in trained:
            errors.append(f"audit.eps: {token} is not among eps (expected a subset of eps)")
    kinds = [kind for kind in ("gradient_canaries", "input_canaries") if audit[kind]]
    if not kinds:
        errors.append(
            "audit.gradient_canaries, audit.input_canaries: both 0; expected canaries of at "
            "least one kind (or audit.eps: [] to turn the audit off)"
        )
    for kind in kinds:
        most = audit[kind] * audit["runs"]
        too_many = [guess for guess in audit["guesses"] if guess > most]
        if too_many:
            errors.append(
                f"audit.guesses: {too_many} exceed audit.{kind} x audit.runs = {most} "
                "(expected each guess count ≤ the canaries)"
            )
    return errors


def audit_setting_errors(
    config: dict[str, Any], name: str, dataset: dict[str, Any], training: dict[str, Any]
) -> list[str]:
    """Audit settings a dataset's training or task cannot run."""
    audit = config["audit"]
    if not audit["eps"]:
        return []
    errors = []
    if audit["gradient_canaries"] and training["grad_sample_mode"] not in VIEW_AVERAGING_MODES:
        errors.append(
            f"audit.gradient_canaries: need stored per-sample gradients; "
            f"{_setting_key(name, dataset, 'training', 'grad_sample_mode')} is "
            f"{training['grad_sample_mode']!r} (expected one of {', '.join(VIEW_AVERAGING_MODES)},"
            " or audit.gradient_canaries: 0)"
        )
    if audit["input_canaries"] and LOADERS[dataset["loader"]].task != "classification":
        errors.append(
            f"audit.input_canaries: mislabelled images need a classification dataset; {name!r} "
            "is a segmentation task (expected audit.input_canaries: 0)"
        )
    return errors
