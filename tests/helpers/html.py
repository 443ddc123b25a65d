"""Reading the report's HTML pages in tests."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser


class TableCells(HTMLParser):
    """The text of every header and data cell of an HTML document, row by row (``rows``) and
    table by table (``tables``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.rows.append([])
            self.tables[-1].append(self.rows[-1])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table_rows(document: str) -> list[list[str]]:
    parser = TableCells()
    parser.feed(document)
    return parser.rows


def tables(document: str) -> list[list[list[str]]]:
    """Each table of ``document``: its rows of cell texts, the header first."""
    parser = TableCells()
    parser.feed(document)
    return parser.tables


SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
POWER = re.compile(r"(?:(?P<mantissa>-?[0-9.]+)·)?10(?P<power>[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)")


def parse_number(text: str) -> float:
    """The number a table cell shows (rero.reporting.numbers): 0.333, 8,000, 3.16·10⁷, 10⁻⁵, ∞;
    NaN for an empty cell."""
    if text == "":
        return math.nan
    if text in ("∞", "-∞"):
        return -math.inf if text.startswith("-") else math.inf
    if match := POWER.fullmatch(text):
        power = int(match["power"].translate(SUPERSCRIPT_DIGITS))
        return float(match["mantissa"] or 1) * 10.0**power
    return float(text.replace(",", ""))
