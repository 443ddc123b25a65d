"""A changed config value or package file of the finished tiny study reruns exactly the jobs
that use it, and what reads their outputs; the same study written differently reruns nothing."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.helpers.workflow import TINY_CONFIG, planned_jobs, snakemake, write_config

#: the study-wide rules that read each rule's outputs (their inputs in aggregate.smk): what
#: reruns after it, besides the per-dataset rules a row names with their counts
FOLLOWERS = {
    "calibrate": ("aggregate", "report_pages"),
    "translate": ("report_pages",),
    "train": ("aggregate", "figures", "report_pages"),
    "audit": ("aggregate",),
    "bounds": ("aggregate", "figures", "report_pages"),
    "from_scratch": ("aggregate", "figures", "report_pages"),
    "attack": ("aggregate", "figures", "report_pages"),
    "transition": ("aggregate", "report_pages"),
    "advise": ("report_pages",),
    "aggregate": ("figures", "report_pages", "results_readme"),
    "figures": ("all",),
    "report_pages": ("all",),
    "results_readme": ("all",),
    "provenance": ("all",),
}


def rerun(jobs: dict[str, int]) -> dict[str, int]:
    """``jobs``, the provenance page (it records the config's values and every package file, so
    each edit of either reruns it) and, transitively, what reads their outputs (FOLLOWERS)."""
    planned = {**jobs, "provenance": 1}
    pending = list(planned)
    while pending:
        for follower in FOLLOWERS.get(pending.pop(), ()):
            if follower not in planned:
                planned[follower] = 1
                pending.append(follower)
    return planned


ConfigFile = Callable[[], str]


def edited(change: Callable[[dict], object]) -> ConfigFile:
    """The config file of TINY_CONFIG with ``change`` applied (to a copy)."""

    def text() -> str:
        config = json.loads(json.dumps(TINY_CONFIG))
        change(config)
        return yaml.safe_dump(config)

    return text


def tiny(section: str, **values) -> ConfigFile:
    """The config file of TINY_CONFIG with ``values`` set in ``section`` (a top-level key)."""
    return edited(lambda config: config.setdefault(section, {}).update(values))


def respelled(old: str, new: str) -> ConfigFile:
    """The config file of TINY_CONFIG (as the run wrote it) with the text ``old`` as ``new``."""

    def text() -> str:
        written = yaml.safe_dump(TINY_CONFIG)
        assert old in written, old
        return written.replace(old, new)

    return text


def reversed_keys(value: object) -> object:
    """``value`` with the keys of every mapping in it in reverse order."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    return value


# One change per config section, and exactly the jobs it must rerun: 6 calibrate jobs are the 3
# budgets and the 3 extra ones of the bounds; train runs at ε = 8, 1e9 and inf, the attacks at
# all 6 budgets (the imprint attack's dense curve). The advice reads the from-scratch table: what
# reruns from_scratch reruns advise.
EVERYTHING_BUT_DATA = {
    "calibrate": 6,
    "train": 3,
    "bounds": 1,
    "from_scratch": 1,
    "attack": 6,
    "transition": 1,
    "advise": 1,
    "audit": 1,
    "translate": 1,
}
#: a change of the config's values that no job uses: what reruns is only what every edit reruns
#: (:func:`rerun`): the provenance page records the config as given, an option written at its
#: default included, and `all` collects it
NO_JOB: dict[str, int] = {}
RERUNS: dict[str, tuple[ConfigFile, dict[str, int]]] = {
    "privacy.clip_norm": (
        tiny("privacy", clip_norm=0.5),
        {"train": 2, "from_scratch": 1, "attack": 5, "transition": 1, "advise": 1, "audit": 1},
    ),
    "privacy.delta": (tiny("privacy", delta=5e-5), EVERYTHING_BUT_DATA),
    "privacy.accountant": (
        tiny("privacy", accountant="rdp"),
        {"calibrate": 5, "train": 2, "bounds": 1, "attack": 5, "transition": 1, "advise": 1}
        | {"audit": 1, "from_scratch": 1},
    ),
    "privacy.eps_tolerance": (
        tiny("privacy", eps_tolerance=0.05),
        {"calibrate": 5, "train": 2, "bounds": 1, "attack": 5, "transition": 1, "advise": 1}
        | {"audit": 1, "from_scratch": 1},
    ),
    "training.learning_rate": (
        tiny("training", learning_rate=1e-3),
        {"train": 3, "advise": 1, "audit": 1},
    ),
    "training.epochs": (tiny("training", epochs=2), EVERYTHING_BUT_DATA),
    "seeds": (edited(lambda config: config.update(seeds=[0, 1])), {"train": 3, "advise": 1}),
    "eps": (
        edited(lambda config: config.update(eps=[8, "1e9", "inf", 1])),
        {"calibrate": 1, "train": 1, "bounds": 1, "attack": 1, "transition": 1, "advise": 1}
        | {"translate": 1, "from_scratch": 1},
    ),
    "bounds.methods": (tiny("bounds", methods=["rigorous"]), {"bounds": 1}),
    "bounds.extra_eps": (
        tiny("bounds", extra_eps=[2, 512]),
        {"calibrate": 1, "bounds": 1, "from_scratch": 1, "advise": 1, "attack": 1}
        | {"transition": 1},
    ),
    "bounds.kappa": (tiny("bounds", kappa=["1/N", "1/8"]), {"bounds": 1}),
    "bounds.from_scratch": (
        tiny("bounds", from_scratch=[{"metric": "mse", "threshold": 0.01}]),
        {"from_scratch": 1, "advise": 1},
    ),
    "advice.max_risk": (tiny("advice", max_risk=[0.05]), {"advise": 1}),
    "audit": (tiny("audit", guesses=[10]), {"audit": 1}),
    "attack.imprint": (
        edited(lambda config: config["attack"]["imprint"].update(ssim_threshold=0.7)),
        {"attack": 6, "transition": 1},
    ),
    "attack.prior_aware": (
        edited(lambda config: config["attack"]["prior_aware"].update(trials=9)),
        {"attack": 6, "transition": 1},  # the attack job rewrites the imprint results too
    ),
    "attack.transition": (
        edited(
            lambda config: config["attack"].update(
                transition={"levels": [0.25], "criterion": "raw_psnr:30"}
            )
        ),
        {"transition": 1},
    ),
    "datasets.options": (
        edited(lambda config: config["datasets"]["tiny"]["options"].update(n_train=200)),
        {"prepare_data": 1, **EVERYTHING_BUT_DATA},
    ),
    # The same study written differently. A loader option at its default is the same data.
    "datasets.options at a default": (
        edited(lambda config: config["datasets"]["tiny"]["options"].update(seed=0)),
        NO_JOB,
    ),
    # A number the schema types as a number is a float however written: 1 is the clip norm 1.0.
    "privacy.clip_norm 1 for 1.0": (tiny("privacy", clip_norm=1), NO_JOB),
    # Where a job runs does not change its numbers (rero.training.config.RUNTIME_FIELDS).
    "training.device": (tiny("training", device="cpu"), NO_JOB),
}
#: the same config values, so not even the provenance page reruns: YAML reads both spellings as
#: one float (1e-4 without a dot would be text, which the config check refuses), and key order
#: is no value (every param is written in an order of its own)
UNCHANGED: dict[str, ConfigFile] = {
    "1.0e-4 for 0.0001": respelled("delta: 0.0001", "delta: 1.0e-4"),
    "key order": lambda: yaml.safe_dump(reversed_keys(TINY_CONFIG), sort_keys=False),
}


def planned_for(workdir: Path, config_text: str) -> dict[str, int]:
    """The jobs a dry run in ``workdir`` plans with ``config_text`` as its config file; the
    config of TINY_CONFIG is written back afterwards."""
    (workdir / "config.yaml").write_text(config_text)
    try:
        return planned_jobs(snakemake(workdir, "--dry-run"))
    finally:
        write_config(workdir, TINY_CONFIG)


@pytest.mark.slow
@pytest.mark.parametrize(("config", "expected"), RERUNS.values(), ids=RERUNS.keys())
def test_a_changed_value_reruns_exactly_its_jobs(tiny_run, config, expected):
    assert planned_for(tiny_run, config()) == rerun(expected)


@pytest.mark.slow
@pytest.mark.parametrize("config", UNCHANGED.values(), ids=UNCHANGED.keys())
def test_a_study_written_differently_reruns_nothing(tiny_run, config):
    """Nothing reruns but what the config as the run wrote it would rerun: nothing, unless the
    checkout changed since (the provenance page records its state)."""
    assert planned_for(tiny_run, config()) == planned_for(tiny_run, yaml.safe_dump(TINY_CONFIG))


# An edit of a package file, and exactly the jobs that run it (Snakemake's code inputs:
# rero.runtime.sources.command_sources) with what follows. Each rule's own command module first,
# then one file of each package.
CODE_CHANGES = {
    "commands/data.py": {"prepare_data": 1, **EVERYTHING_BUT_DATA},
    # calibrate's command only; translate has its own (the translation reads no plan)
    "commands/privacy.py": {k: v for k, v in EVERYTHING_BUT_DATA.items() if k != "translate"},
    "commands/translate.py": {"translate": 1},
    # its help text: the audit trains with the shared flags (commands/training_flags.py), not it
    "commands/train.py": {"train": 3, "advise": 1},
    "commands/audit.py": {"audit": 1},
    "commands/advise.py": {"advise": 1},
    "commands/bounds.py": {"bounds": 1},
    "commands/from_scratch.py": {"from_scratch": 1, "advise": 1},
    "commands/attack.py": {"attack": 6, "transition": 1},
    "commands/aggregate.py": {"aggregate": 1},
    "commands/figures.py": {"figures": 1},
    "commands/publish.py": {"report_pages": 1, "results_readme": 1},
    # the workflow reads the config with it; no job runs it
    "study/config.py": {},
    # the engine rules of train and audit
    "study/engines.py": {"train": 3, "advise": 1, "audit": 1},
    # the device choice of the jobs that run torch
    "runtime/device.py": {"train": 3, "advise": 1, "audit": 1, "attack": 6, "transition": 1},
    # the loader the tiny study uses: its data, and everything after them
    "data/mni152.py": {"prepare_data": 1, **EVERYTHING_BUT_DATA},
    # a loader it does not use
    "data/msd_liver.py": {},
    # the model it trains (train and audit build it), and one it does not
    "models/classifiers.py": {"train": 3, "advise": 1, "audit": 1},
    "models/unet3d.py": {},
    # σ calibration: the plans (and so train, audit, bounds), the attacks' noise, the
    # translation and the advice
    "privacy/calibration.py": EVERYTHING_BUT_DATA,
    "training/job.py": {"train": 3, "advise": 1, "audit": 1},
    "attacks/imprint.py": {"attack": 6, "transition": 1},
    "audit/fdp.py": {"audit": 1},
    # a figure: the figures, never the summary
    "reporting/figures/risk.py": {"figures": 1},
    # the from-scratch table: its job, and the advice and summary that read its rows
    "privacy/rero/from_scratch_table.py": {"from_scratch": 1, "advise": 1, "aggregate": 1},
}
#: how a row edits its file (else a comment is appended)
EDITS = {
    "commands/train.py": (
        'help="train one model under a privacy plan"',
        'help="train a model under its privacy plan"',
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(CODE_CHANGES))
def test_editing_a_file_reruns_exactly_the_jobs_that_run_it(tiny_run, module):
    """An edit of a package file reruns the jobs that run it and what depends on them.

    The edit changes the content (Snakemake compares checksums of small inputs, so a mere
    touch reruns nothing); the file's bytes and times are restored afterwards.
    """
    source = tiny_run / "src" / "rero" / module
    before, text = source.stat(), source.read_bytes()
    old, new = EDITS.get(module, ("", "# an edit\n"))
    edited_text = text.replace(old.encode(), new.encode(), 1) if old else text + new.encode()
    assert edited_text != text
    try:
        source.write_bytes(edited_text)
        jobs = planned_jobs(snakemake(tiny_run, "--dry-run"))
    finally:  # leave the copy as it was
        source.write_bytes(text)
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert jobs == rerun(CODE_CHANGES[module])
