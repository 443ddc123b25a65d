"""``python -m rero calibrate``: both flag forms, the written plan, and clear errors."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from rero.cli import main
from rero.privacy.plan import PrivacyPlan, read_plan
from rero.runtime.io import read_json, write_json
from tests.helpers import prepare_toy_dataset

PLAN_KEYS = {field.name for field in dataclasses.fields(PrivacyPlan)}


@pytest.fixture
def data_dir(tmp_path):
    """A prepared dataset of 1000 training images."""
    return prepare_toy_dataset(tmp_path / "data" / "toy", n_train=1000, n_eval=30)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["calibrate", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_standalone_prints_plan(capsys):
    status, out, _ = run_cli(
        capsys, "--eps", "8", "--sample-rate", "0.005", "--steps", "1000", "--delta", "1e-5"
    )
    assert status == 0
    plan = json.loads(out)
    assert set(plan) == PLAN_KEYS
    assert (plan["sample_rate"], plan["steps"], plan["delta"]) == (0.005, 1000, 1e-5)
    assert plan["accountant"] == "pld" and plan["epsilon_lower"] <= plan["epsilon"]
    assert 0.99 * 8 <= plan["epsilon"] <= 8
    assert plan["sigma"] == pytest.approx(0.499, rel=0.01)  # Opacus' PRV calibration: 0.4990


def test_workflow_form_writes_plan(capsys, data_dir, tmp_path):
    out_path = tmp_path / "privacy" / "toy" / "eps_1e3.json"
    status, out, _ = run_cli(
        capsys,
        "--eps", "1e3",
        "--data-dir", str(data_dir),
        "--batch-size", "50",
        "--epochs", "2",
        "--delta", "1e-4",
        "--accountant", "rdp",
        "--out", str(out_path),
    )  # fmt: skip
    assert status == 0
    written = read_json(out_path)
    assert written == json.loads(out)
    plan = PrivacyPlan.from_dict(written)
    assert (plan.sample_rate, plan.steps) == (0.05, 40)  # q = 50/1000, T = 2 * ceil(1000/50)
    assert (plan.dataset, plan.dataset_size, plan.batch_size, plan.epochs) == ("toy", 1000, 50, 2)
    assert plan.accountant == "rdp"
    assert 990 <= plan.epsilon <= 1000


def test_non_private_plan(capsys, data_dir, tmp_path):
    out_path = tmp_path / "eps_inf.json"
    status, _, _ = run_cli(
        capsys,
        "--eps", "inf",
        "--data-dir", str(data_dir),
        "--batch-size", "100",
        "--epochs", "3",
        "--delta", "1e-4",
        "--out", str(out_path),
    )  # fmt: skip
    assert status == 0
    assert read_json(out_path)["target_epsilon"] == "inf"  # strict JSON: inf as a string
    plan = read_plan(out_path)
    assert math.isinf(plan.epsilon) and math.isinf(plan.target_epsilon) and not plan.private
    assert (plan.sigma, plan.accountant) == (0, "none")
    assert (plan.sample_rate, plan.steps) == (0.1, 30)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--eps", "8", "--delta", "1e-5"], "--sample-rate and --steps"),
        (["--eps", "8", "--delta", "1e-5", "--sample-rate", "0.01"], "--sample-rate and --steps"),
        (["--eps", "0", "--delta", "1e-5", "--sample-rate", "0.01", "--steps", "10"], "eps"),
        (["--eps", "8", "--delta", "1", "--sample-rate", "0.01", "--steps", "10"], "delta"),
    ],
)
def test_bad_flags_give_clear_errors(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert message in err


def test_workflow_errors_name_the_problem(capsys, data_dir, tmp_path):
    common = ["--eps", "8", "--batch-size", "50", "--epochs", "1"]
    status, _, err = run_cli(capsys, *common, "--data-dir", str(data_dir), "--delta", "1e-3")
    assert status == 2 and "delta" in err and "1/N" in err
    status, _, err = run_cli(
        capsys, *common, "--data-dir", str(data_dir), "--delta", "1e-5", "--sample-rate", "0.1"
    )
    assert status == 2 and "--data-dir with --batch-size and --epochs" in err
    broken = tmp_path / "broken"
    write_json(broken / "meta.json", {"dataset": "toy"})
    status, _, err = run_cli(capsys, *common, "--data-dir", str(broken), "--delta", "1e-5")
    assert status == 2 and "num_train" in err and str(broken / "meta.json") in err
    status, _, err = run_cli(
        capsys, *common, "--data-dir", str(tmp_path / "none"), "--delta", "1e-5"
    )
    assert status == 2 and "none/meta.json" in err
    big_batch = ["--eps", "8", "--batch-size", "5000", "--epochs", "1", "--delta", "1e-5"]
    status, _, err = run_cli(capsys, *big_batch, "--data-dir", str(data_dir))
    assert status == 2 and "batch_size" in err


@pytest.mark.slow
def test_python_dash_m_rero_calibrate():
    result = subprocess.run(
        [sys.executable, "-m", "rero", "calibrate", "--eps", "1e6", "--sample-rate", "0.005",
         "--steps", "1000", "--delta", "1e-5"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["accountant"] == "inclusions"
    assert 0.99e6 <= plan["epsilon"] <= 1e6


def test_translate_writes_the_table(capsys, data_dir, tmp_path):
    out_path = tmp_path / "translation.csv"
    status = main(
        ["translate", "--eps", "8", "1e9", "inf", "--data-dir", str(data_dir),
         "--batch-size", "50", "--epochs", "2", "--delta", "1e-4", "--out", str(out_path)]
    )  # fmt: skip
    assert status == 0
    table = pd.read_csv(out_path)
    assert table["target_epsilon"].tolist() == [8, 1e9]  # inf has no σ to translate
    assert (table["tight_epsilon"] <= table["rdp_epsilon"]).all()
    assert (table["tight_epsilon_lower"] <= table["tight_epsilon"]).all()
    assert (table["rdp_overstatement"] >= 1).all()
    assert set(table["dataset"]) == {"toy"} and (table["steps"] == 40).all()
    assert "rdp_overstatement" in capsys.readouterr().out


def test_translate_refuses_a_grid_without_a_finite_budget(capsys):
    status = main(
        ["translate", "--eps", "inf", "--sample-rate", "0.01", "--steps", "10", "--delta", "1e-5"]
    )
    assert status == 2 and "no finite target" in capsys.readouterr().err
