"""Small result files of a study written for the figure and summary tests: plans, metrics,
bounds, attack records, reconstructions, transitions and from-scratch tables of toy datasets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rero.data.tasks import MAIN_METRIC
from rero.privacy.plan import write_plan
from rero.privacy.rero.table import bounds_table
from rero.reporting.summary import summarise
from rero.runtime.io import read_json, save_npz, write_json
from tests.helpers import toy_plan

TRAINED = [1.0, 8.0, 1e3, 1e9, math.inf]
EXTRA = [4.0, 1e6]  # budgets of the bounds and the imprint attack only
ETA = 0.95
TASKS = {"toy": "classification", "organs": "segmentation", "skin": "classification"}
SCORES = {
    "classification": {"accuracy": 0.9, "balanced_accuracy": 0.85, "auroc": 0.95, "mcc": 0.7},
    "segmentation": {"dice": 0.8, "dice_foreground": 0.6},
}


def write_results(root, datasets=("toy", "organs"), images=20):
    """Plans, metrics, bounds (every method, κ = 1/N and 0.125), attack records, recon
    archives and transitions of ``datasets``, each file named ``<dataset>...``."""
    files = {key: [] for key in ("metrics", "plans", "bounds", "imprint", "prior", "recon", "tr")}
    for dataset in datasets:
        task, plans = TASKS[dataset], []
        originals = np.random.default_rng(0).random((images, 1, 8, 8), dtype=np.float32)
        for index, target in enumerate(sorted(TRAINED + EXTRA)):
            sigma = 2.0 / (1 + index)
            plan = toy_plan(target, n=500, batch=50, epochs=2, sigma=sigma, dataset=dataset)
            plans.append(plan)
            record = {"dataset": dataset, "target_epsilon": target, "plan": plan.to_dict()}
            success = min(1.0, index / 8)
            write_json(root / f"{dataset}{index}-imprint.json", record | imprint_record(success))
            files["imprint"].append(root / f"{dataset}{index}-imprint.json")
            if target not in TRAINED:
                continue
            write_plan(root / f"{dataset}{index}-plan.json", plan)
            files["plans"].append(root / f"{dataset}{index}-plan.json")
            for seed in (0, 1):
                test = {
                    name: score * (1 - 0.5 / (1 + index)) + 0.01 * seed
                    for name, score in SCORES[task].items()
                }
                main = test[MAIN_METRIC[task]]
                interval = {"metric": MAIN_METRIC[task], "low": main - 0.03, "high": main + 0.02}
                metrics = record | {"task": task, "seed": seed, "test": test}
                metrics["test_bootstrap"] = interval
                write_json(root / f"{dataset}{index}-{seed}.json", metrics)
                files["metrics"].append(root / f"{dataset}{index}-{seed}.json")
            prior = {"success_rate": 0.2, "ci_low": 0.1, "ci_high": 0.3, "kappa": 0.125}
            write_json(root / f"{dataset}{index}-prior.json", record | prior | {"bound": 0.4})
            files["prior"].append(root / f"{dataset}{index}-prior.json")
            ssim = np.linspace(0.1, 1.0, images) * success
            save_npz(
                root / f"{dataset}{index}.npz",
                originals=originals,
                reconstructions=np.clip(originals + (1 - success) / 2, 0, 1),
                ssim=ssim,
                mse=1 - ssim,
                batch_index=np.zeros(images, int),
                dataset=np.str_(dataset),
                target_epsilon=np.float64(target),
            )
            files["recon"].append(root / f"{dataset}{index}.npz")
        table = bounds_table(plans, [("1/N", None), ("0.125", 0.125)])
        table.to_csv(root / f"{dataset}-bounds.csv", index=False)
        files["bounds"].append(root / f"{dataset}-bounds.csv")
        transition = {"criterion": "success > 0", "epsilon_low": 4.0, "epsilon_high": 8.0}
        write_json(root / f"{dataset}-tr.json", {"dataset": dataset, "transitions": [transition]})
        files["tr"].append(root / f"{dataset}-tr.json")
    return files


def of_datasets(files, datasets):
    """The result files of ``datasets`` only."""
    return {key: [f for f in paths if f.name.startswith(datasets)] for key, paths in files.items()}


def write_summary(files, path):
    """The summary table of ``files``, built by ``summarise``, as CSV at ``path``."""
    summary = summarise(
        files["metrics"],
        files["plans"],
        files["bounds"],
        files["imprint"],
        files["prior"],
        transition_files=files["tr"],
    )
    summary.to_csv(path, index=False)
    return path


def imprint_record(success: float) -> dict[str, object]:
    """An imprint record's success fields: SSIM ≥ η at ``success``, PSNR ≥ 30 dB at half."""
    psnr = {"label": "raw_psnr_ge_30", "criterion": "raw_psnr ≥ 30 dB", "metric": "raw_psnr"}
    psnr |= {"threshold": 30.0, "success_rate": success / 2, "ci_low": 0.0, "ci_high": 0.8}
    return {
        "success_rate": success,
        "ci_low": success / 2,
        "ci_high": 1.0,
        "ssim_threshold": ETA,
        "criteria": [psnr],
    }


SCRATCH_CENTRES = {"smallest": 3.0, "quantile_5": 3.5, "median": 4.5, "mean_over_images": 4.0}


def write_from_scratch(root, files):
    """A from-scratch table per dataset of ``files`` (the contract's columns): success a logistic
    curve in log10 ε, earlier for smaller norms and for the whole run."""
    written = []
    for bounds in files["bounds"]:
        dataset = bounds.name.removesuffix("-bounds.csv")
        rows = []
        for target in sorted(TRAINED + EXTRA):
            for norm, centre in SCRATCH_CENTRES.items():
                single, whole = (
                    (
                        1.0 / (1 + math.exp(-4 * (math.log10(target) - c)))
                        for c in (centre, centre - 1)
                    )
                    if math.isfinite(target)
                    else (1.0, 1.0)
                )
                rows.append(
                    {"dataset": dataset, "target_epsilon": target, "sigma": 1.0}
                    | {"sample_rate": 0.1, "steps": 20, "dimension": 64, "metric": "psnr"}
                    | {"threshold": 30.0, "criterion": "PSNR ≥ 30 dB", "norm": norm}
                    | {"data_norm": math.nan if norm == "mean_over_images" else centre}
                    | {"single_release": single, "whole_run": whole, "ncc_bound": 0.1}
                    | {"clipping_active": True, "threat_model": "no data prior"}
                )
        written.append(root / f"{dataset}_from_scratch.csv")
        pd.DataFrame(rows).to_csv(written[-1], index=False)
    return written


def renamed(value, old, new):
    """A JSON value with every ``dataset`` field ``old`` renamed ``new``."""
    if isinstance(value, dict):
        return {
            key: new if key == "dataset" and item == old else renamed(item, old, new)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [renamed(item, old, new) for item in value]
    return value


def copied_dataset(files, root, old, new):
    """``files`` with the JSON and CSV files of dataset ``old`` copied as dataset ``new``
    (named ``<new>...`` under ``root``; the recon archives are not copied)."""
    copies = {key: list(paths) for key, paths in files.items()}
    for key, paths in files.items():
        for path in paths:
            if not path.name.startswith(old) or path.suffix == ".npz":
                continue
            target = root / path.name.replace(old, new, 1)
            if path.suffix == ".csv":
                table = pd.read_csv(path)
                table.assign(dataset=table["dataset"].replace(old, new)).to_csv(target, index=False)
            else:
                write_json(target, renamed(read_json(path), old, new))
            copies[key].append(target)
    return copies
