"""The report's provenance page: the config the study ran with, the commit and state of the
checkout, and the versions of the packages installed in the environment that ran the jobs."""

from __future__ import annotations

import html
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from rero.reporting import html as html_pages
from rero.runtime.io import PROVENANCE_PACKAGES, atomic_path, git_commit

#: a requirement's distribution name (PEP 508), before any version, extra or marker
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def declared_packages(distribution: str = "rero") -> list[str]:
    """The runtime dependencies ``distribution`` declares (not its extras), with the packages
    whose versions decide a result; the distribution itself first."""
    names = [distribution, *PROVENANCE_PACKAGES]
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        match = REQUIREMENT_NAME.match(requirement)
        if match and "extra ==" not in requirement:
            names.append(match.group(1))
    return list(dict.fromkeys(names))


def installed_versions(names: list[str]) -> dict[str, str]:
    """The installed version of each distribution ("not installed" where it is missing)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def checkout_state(directory: str | os.PathLike[str]) -> str:
    """The commit of the git checkout at ``directory`` and its changed tracked files, as text
    ("not a git checkout" without one). Untracked files do not count (results, caches)."""
    commit = git_commit(directory)
    if commit is None:
        return "not a git checkout (or git is not installed)"
    result = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    changed = sorted(line[3:] for line in result.stdout.splitlines() if line.strip())
    if not changed:
        return f"commit {commit}, no uncommitted changes"
    return f"commit {commit}, with uncommitted changes to: {', '.join(changed)}"


def provenance_page(config: dict[str, Any], checkout: str, versions: dict[str, str]) -> str:
    """The provenance page: checkout, Python and platform, package versions and the config."""
    environment = {
        "Python": sys.version.split()[0],
        "platform": platform.platform(),
        "interpreter": sys.executable,
    }
    body = (
        "<h2>Code</h2>"
        + html_pages.paragraphs_html([checkout])
        + "<h2>Environment</h2>"
        + html_pages.definitions_html(environment.items())
        + "<h2>Package versions</h2>"
        + html_pages.definitions_html(versions.items())
        + "<h2>Config</h2>"
        + f"<pre>{html.escape(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))}</pre>"
    )
    return html_pages.page(
        "Provenance",
        "The code, environment and configuration that this run of the study was built with.",
        body,
    )


def read_config_json(text: str) -> dict[str, Any]:
    """The study config given as a JSON object on the command line."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--config: not a JSON object ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"--config: expected a JSON object, got {type(config).__name__}")
    return config


def write_provenance(out: Path, config: dict[str, Any], checkout: str) -> None:
    """Write the provenance page, with the versions installed where this runs."""
    page = provenance_page(config, checkout, installed_versions(declared_packages()))
    with atomic_path(out) as tmp:
        tmp.write_text(page)
