"""The two tasks a dataset can pose and the test metrics each is scored by (torch-free).

Classification is scored as in Ziller et al. 2024 by MCC (beside accuracy, balanced accuracy and
AUROC); segmentation by the mean soft Dice over the classes (and without the background).
"""

from __future__ import annotations

TASKS = ("classification", "segmentation")
#: the test metrics of every run of a task, in the order tables and figures show them
TASK_METRICS = {
    "classification": ("accuracy", "balanced_accuracy", "auroc", "mcc"),
    "segmentation": ("dice", "dice_foreground"),
}
#: the one metric that stands for a run's utility
MAIN_METRIC = {"classification": "mcc", "segmentation": "dice"}
METRIC_LABELS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "auroc": "AUROC",
    "mcc": "MCC",
    "dice": "mean soft Dice",
    "dice_foreground": "mean soft Dice (no background)",
}
