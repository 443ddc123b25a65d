"""One version everywhere: pyproject.toml, CITATION.cff, ``rero.__version__`` and the newest entry
of CHANGELOG.md (Keep a Changelog: ``## [x.y.z] - YYYY-MM-DD``, newest first)."""

from __future__ import annotations

import re
import tomllib

import yaml

import rero
from tests.helpers import REPO

ENTRY = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$", re.M)


def changelog_entries() -> list[tuple[str, str | None]]:
    """(version, date) of each CHANGELOG.md entry, in the file's order."""
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    return [(match["version"], match["date"]) for match in ENTRY.finditer(text)]


def test_pyproject_citation_package_and_changelog_name_one_version():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    newest, date = changelog_entries()[0]
    assert project["version"] == str(citation["version"]) == rero.__version__ == newest
    assert date is not None, "the newest CHANGELOG entry is a release: it needs its date"


def test_changelog_versions_are_newest_first_and_distinct():
    versions = [
        tuple(int(part) for part in version.split(".")) for version, _ in changelog_entries()
    ]
    assert versions and versions == sorted(set(versions), reverse=True)
