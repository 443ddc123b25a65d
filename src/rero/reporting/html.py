"""Self-contained HTML pages (inline style, no scripts, no external files) for the report.

The Snakemake report shows an HTML result in a frame of its own page; a CSV it can only offer as
a download, which browsers refuse from a ``data:`` link. Tables therefore go into the report as
these pages. Numbers keep six significant digits; a missing value is shown as an empty cell.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # planning imports this module (via the provenance page): no pandas then
    import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.text { text-align: left; }
dt { font-family: monospace; font-weight: bold; margin-top: 0.4em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
"""


def format_value(value: object) -> str:
    """A table cell's text: six significant digits for a float, '' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.6g}"
    return str(value)


def table_html(frame: pd.DataFrame, descriptions: Mapping[str, str] | None = None) -> str:
    """``frame`` as an HTML table; a column's description (if given) is its header's tooltip."""
    descriptions = descriptions or {}
    header = "".join(
        f'<th title="{html.escape(descriptions.get(str(column), ""))}">'
        f"{html.escape(str(column))}</th>"
        for column in frame.columns
    )
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = []
        for value in record:
            text = html.escape(format_value(value))
            kind = "" if isinstance(value, numbers.Number) else ' class="text"'
            cells.append(f"<td{kind}>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr>{header}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def definitions_html(terms: Iterable[tuple[str, str]]) -> str:
    """A definition list (``<dl>``) of (term, description) pairs."""
    items = "".join(
        f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in terms
    )
    return f"<dl>{items}</dl>"


def paragraphs_html(paragraphs: Iterable[str]) -> str:
    """Plain-text paragraphs as ``<p>`` elements."""
    return "\n".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)


def page(title: str, intro: str, body: str) -> str:
    """A complete HTML document: heading ``title``, the plain-text ``intro``, then ``body``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>"
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(intro)}</p>\n{body}\n</body></html>\n"
    )
