"""The docs site builds offline with ``mkdocs build --strict``, without a warning."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import REPO


def test_the_site_builds_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "config-reference" / "index.html").is_file()
    assert (tmp_path / "results" / "index.html").is_file()
