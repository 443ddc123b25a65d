"""The docs rendered: each template of ``docs/templates/`` with its ``{{ fact }}`` placeholders
filled from the snapshot's facts (:mod:`.facts`), written to ``docs/<name>`` (``README.md`` to
the repository's own), and the configuration reference generated from the schema
(:mod:`.config_reference`). The committed pages are what rendering the committed snapshot gives."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from rero.reporting.docs.config_reference import reference_page
from rero.reporting.docs.facts import all_facts
from rero.runtime.io import atomic_path
from rero.study.config import load_schema

TEMPLATES = "docs/templates"
SNAPSHOT = "docs/snapshot"
SCHEMA = "workflow/schemas/config.schema.yaml"
REFERENCE = "docs/config-reference.md"
#: a placeholder of a template: ``{{ dataset.fact }}``
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def fill(template: str, facts: Mapping[str, str], name: str) -> str:
    """``template`` with each placeholder replaced by its fact; ValueError naming any unknown."""
    unknown = sorted({found for found in PLACEHOLDER.findall(template) if found not in facts})
    if unknown:
        raise ValueError(
            f"{name}: no fact named {', '.join(unknown)} in {SNAPSHOT}; known: {', '.join(facts)}"
        )
    return PLACEHOLDER.sub(lambda match: facts[match[1]], template)


def target(repo: Path, template: Path) -> Path:
    """Where a template's page goes: ``README.md`` to the repository's, the others to docs/."""
    return repo / template.name if template.name == "README.md" else repo / "docs" / template.name


def rendered(repo: Path) -> dict[Path, str]:
    """Every generated page of the checkout at ``repo`` and its text."""
    facts = all_facts(repo / SNAPSHOT)
    pages = {}
    for template in sorted((repo / TEMPLATES).glob("*.md")):
        source = template.relative_to(repo).as_posix()
        header = f"<!-- rendered by `make docs` from {source} and {SNAPSHOT}/: edit those -->\n"
        pages[target(repo, template)] = header + fill(template.read_text(), facts, source)
    pages[repo / REFERENCE] = reference_page(load_schema(repo / SCHEMA), SCHEMA)
    return pages


def stale_pages(repo: Path) -> list[Path]:
    """The generated pages whose committed text is not what rendering gives now."""
    return [
        path
        for path, text in rendered(repo).items()
        if not path.is_file() or path.read_text() != text
    ]


def write_pages(repo: Path) -> list[Path]:
    """Render every generated page; returns those whose text changed."""
    changed = []
    for path, text in rendered(repo).items():
        if not path.is_file() or path.read_text() != text:
            with atomic_path(path) as tmp:
                tmp.write_text(text)
            changed.append(path)
    return changed
