"""The configuration reference: every key of the schema and every loader option on the committed
page, and the page what the schema generates now."""

from __future__ import annotations

from typing import Any

from rero.reporting.docs.config_reference import loader_rows, reference_page
from rero.reporting.docs.render import REFERENCE, SCHEMA
from rero.study.config import load_schema
from tests.helpers import REPO

PAGE = REPO / REFERENCE


def schema_paths(node: dict[str, Any], prefix: str = "") -> list[str]:
    """Every key path of a schema node, written out here apart from the page's generator:
    properties, ``<name>`` below a map of named entries, ``[]`` below a list of objects; a
    section's ``$ref`` (``datasets.<name>.training``) is one key, its keys listed under the
    section itself."""
    paths = []
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        paths.append(path)
        if str(child.get("$ref", "")).startswith("#/properties/"):
            continue
        paths += schema_paths(child, f"{path}.")
        if isinstance(child.get("additionalProperties"), dict):
            paths += schema_paths(child["additionalProperties"], f"{path}.<name>.")
        if isinstance(child.get("items"), dict):
            paths += schema_paths(child["items"], f"{path}[].")
    return paths


def test_every_schema_key_is_on_the_committed_page():
    page = PAGE.read_text()
    paths = schema_paths(load_schema(REPO / SCHEMA))
    assert len(paths) > 50 and "audit.guesses" in paths
    assert "attack.imprint.success[].threshold" in paths
    missing = [path for path in paths if f"| `{path}` |" not in page]
    assert not missing, f"{PAGE.name} lacks {missing}: run make docs"


def test_every_loader_option_is_on_the_committed_page():
    page = PAGE.read_text()
    rows = loader_rows()
    assert {("ham10000", "root", "required"), ("msd_liver", "depth", "50")} <= set(rows)
    missing = [row for row in rows if f"| `{row[0]}` | `{row[1]}` |" not in page]
    assert not missing, f"{PAGE.name} lacks loader options {missing}: run make docs"


def test_the_committed_page_is_what_the_schema_generates():
    assert PAGE.read_text() == reference_page(load_schema(REPO / SCHEMA), SCHEMA), (
        f"{REFERENCE} is stale: run make docs"
    )


def test_a_key_shows_its_type_default_bounds_and_description():
    page = PAGE.read_text()
    row = next(line for line in page.splitlines() if line.startswith("| `training.epochs` |"))
    assert "| integer | `8` | ≥ 1; ≤ 10000 | Training epochs;" in row
    row = next(line for line in page.splitlines() if line.startswith("| `privacy.accountant` |"))
    assert "one of `auto`, `inclusions`, `pld`, `prv`, `rdp`" in row
