"""``report-pages`` (the report's table and study pages), ``provenance`` and
``results-readme``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rero.reporting.pages import write_pages
from rero.reporting.provenance import read_config_json, write_provenance
from rero.reporting.results_readme import write_readme


def dataset_values(pairs: list[str], flag: str) -> dict[str, str]:
    """``DATASET=VALUE`` flags as a mapping; ValueError naming the flag for a malformed one."""
    values = {}
    for pair in pairs:
        dataset, separator, value = pair.partition("=")
        if not separator or not dataset or not value:
            raise ValueError(f"{flag} {pair!r}: expected DATASET=VALUE")
        values[dataset] = value
    return values


def run_report_pages(args: argparse.Namespace) -> None:
    """Write every table page, the study page and the landing answer into --out-dir."""
    written = write_pages(
        Path(args.out_dir),
        summary_file=Path(args.summary),
        metric_files=[Path(file) for file in args.metrics],
        plan_files=[Path(file) for file in args.plans],
        bound_files=[Path(file) for file in args.bounds],
        membership_files=[Path(file) for file in args.membership],
        advice_files=[Path(file) for file in args.advice],
        imprint_files=[Path(file) for file in args.imprint],
        prior_aware_files=[Path(file) for file in args.prior_aware],
        transition_files=[Path(file) for file in args.transitions],
        accountants=dataset_values(args.accountant, "--accountant"),
        translation_files=[Path(file) for file in args.translations],
        from_scratch_files=[Path(file) for file in args.from_scratch],
        audit_files=[Path(file) for file in args.audits],
    )
    print("\n".join(f"wrote {file}" for file in written))


def run_provenance(args: argparse.Namespace) -> None:
    """Write the provenance page."""
    write_provenance(Path(args.out), read_config_json(args.config), args.checkout)
    print(f"wrote {args.out}")


def run_results_readme(args: argparse.Namespace) -> None:
    """Write the results folder's README."""
    write_readme(Path(args.summary), Path(args.out))
    print(f"wrote {args.out}")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report-pages``, ``provenance`` and ``results-readme`` subcommands."""
    pages = subparsers.add_parser("report-pages", help="every result table as an HTML page")
    pages.add_argument("--summary", required=True, help="summary.csv from `aggregate`")
    pages.add_argument("--metrics", nargs="+", required=True, help="training metrics.json files")
    pages.add_argument("--plans", nargs="+", required=True, help="privacy plans of trained budgets")
    pages.add_argument("--bounds", nargs="+", required=True, help="bounds .csv files")
    pages.add_argument("--membership", nargs="+", required=True, help="membership .csv files")
    pages.add_argument("--advice", nargs="+", required=True, help="advice .csv files")
    pages.add_argument("--imprint", nargs="+", required=True, help="imprint.json files")
    pages.add_argument("--prior-aware", nargs="+", required=True, help="prior_aware.json files")
    pages.add_argument("--transitions", nargs="+", required=True, help="transition.json files")
    pages.add_argument(
        "--translations",
        nargs="*",
        default=[],
        help="translation .csv files from `translate` (shown on the study page)",
    )
    pages.add_argument(
        "--from-scratch",
        nargs="*",
        default=[],
        help="from-scratch bound .csv files (the study page states their corridor)",
    )
    pages.add_argument(
        "--audits", nargs="*", default=[], help="audit .json files from `audit` (audit pages)"
    )
    pages.add_argument(
        "--accountant",
        action="append",
        default=[],
        metavar="DATASET=NAME",
        help="the configured privacy.accountant of a dataset (repeatable)",
    )
    pages.add_argument("--out-dir", required=True, help="folder for the HTML pages")
    pages.set_defaults(handler=run_report_pages)

    provenance = subparsers.add_parser("provenance", help="config, commit and package versions")
    provenance.add_argument("--config", required=True, help="the study config as a JSON object")
    provenance.add_argument("--checkout", required=True, help="commit and state of the checkout")
    provenance.add_argument("--out", required=True, help="HTML page to write")
    provenance.set_defaults(handler=run_provenance)

    readme = subparsers.add_parser("results-readme", help="results/README.md")
    readme.add_argument("--summary", required=True, help="summary.csv from `aggregate`")
    readme.add_argument("--out", required=True, help="README.md to write")
    readme.set_defaults(handler=run_results_readme)
