"""Counting the jobs of Snakemake's DAG (rero.study.planned_jobs), on DAGs written here; the
count of a real plan is tested with `check-config` (tests/study/test_config.py)."""

from __future__ import annotations

import json

import pytest

from rero.study.planned_jobs import job_table, rule_counts


def d3dag(*rules: str) -> str:
    nodes = [{"id": k, "value": {"jobid": k, "label": r, "rule": r}} for k, r in enumerate(rules)]
    return json.dumps({"nodes": nodes, "links": []})


def test_rule_counts_count_each_rule_s_jobs_sorted_by_rule():
    counts = rule_counts(d3dag("train", "all", "train", "calibrate", "train"))
    assert list(counts.items()) == [("all", 1), ("calibrate", 1), ("train", 3)]
    assert job_table(counts).splitlines() == [
        "  all           1",
        "  calibrate     1",
        "  train         3",
        "  total         5",
    ]


@pytest.mark.parametrize("printed", ["", "Building DAG of jobs...", '{"links": []}', "[1]"])
def test_output_that_is_no_dag_is_refused_with_what_was_printed(printed):
    with pytest.raises(ValueError, match="snakemake --d3dag printed no DAG"):
        rule_counts(printed)
