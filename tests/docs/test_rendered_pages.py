"""The README and the docs' rendered pages: what the committed snapshot renders, every number of
a results page from the snapshot, and the facts' wording."""

from __future__ import annotations

import math
import re

import pytest

from rero.reporting.corridor import Crossing
from rero.reporting.docs.facts import STUDIES, Study, all_facts, duration, sig, spread
from rero.reporting.docs.render import PLACEHOLDER, SNAPSHOT, TEMPLATES, fill, stale_pages
from tests.helpers import REPO

#: the pages whose every number is about a shipped study's run
RESULTS_PAGES = ("README.md", "index.md", "results.md", "study-3d.md")
#: names with a digit, no number of a run
NOT_NUMBERS = ("3-D", "MNI152", "2009a", "T1", "HAM10000")
#: code, link targets and HTML comments: not prose a number could hide in
NOT_PROSE = re.compile(r"```.*?```|`[^`\n]*`|\]\([^)]*\)|<!--.*?-->", re.DOTALL)


def test_the_committed_pages_are_what_the_snapshot_renders():
    stale = [str(path.relative_to(REPO)) for path in stale_pages(REPO)]
    assert not stale, f"{stale}: not what {SNAPSHOT} renders; run make docs"


@pytest.mark.parametrize("name", RESULTS_PAGES)
def test_a_results_page_holds_no_digit_but_the_snapshot_s(name):
    template = (REPO / TEMPLATES / name).read_text()
    prose = NOT_PROSE.sub(" ", PLACEHOLDER.sub(" ", template))
    for word in NOT_NUMBERS:
        prose = prose.replace(word, " ")
    typed = re.findall(r"\S*\d\S*", prose)
    assert not typed, f"{TEMPLATES}/{name} types {typed}: name a fact of {SNAPSHOT} instead"


def test_every_shipped_study_has_its_results_fact():
    facts = all_facts(REPO / SNAPSHOT)
    assert {f"{dataset}.results" for dataset in STUDIES} <= set(facts)


def test_the_readme_opens_with_the_corridor_of_the_shipped_data():
    readme = (REPO / "README.md").read_text()
    facts = all_facts(REPO / SNAPSHOT)
    opening = readme.split("\n\n")[1]
    assert opening.startswith(facts["mni152.corridor"])
    assert "make run\nmake test\n" in readme and "make test-fast" in readme


def test_an_unknown_placeholder_is_named():
    with pytest.raises(ValueError, match=r"no fact named mni152\.nothing"):
        fill("a {{ mni152.nothing }} b", {"mni152.corridor": "x"}, "page.md")
    assert fill("ε ≤ {{ a.b }}.", {"a.b": "13.5"}, "page.md") == "ε ≤ 13.5."


def test_numbers_as_the_pages_write_them():
    assert [sig(13.4567), sig(3.16e7), sig(2.5e-4), sig(math.nan)] == [
        "13.5",
        "3.16·10⁷",
        "2.5·10⁻⁴",
        "—",
    ]
    assert [duration(42.4), duration(552), duration(3900)] == ["42 s", "9 min 12 s", "1 h 5 min"]
    assert spread(0.7, 0.0183) == "0.700 ± 0.018" and spread(0.7, math.nan) == "0.700"


def test_the_corridor_span_is_said_only_where_the_edges_do_not_overlap():
    certified = Crossing(32.0, 64.0)
    assert "from ε = 64 to 3.2·10⁷" in Study.span_clause(certified, Crossing(3.2e7, 4.9e7))
    assert Study.span_clause(certified, Crossing(16.0, 32.0)) == ""
