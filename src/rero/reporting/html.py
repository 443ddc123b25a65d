"""Self-contained HTML pages (inline style, no scripts, no external files) for the report.

The Snakemake report shows an HTML result in a frame of its own page; a CSV it can only offer as
a download, which browsers refuse from a ``data:`` link. Tables therefore go into the report as
these pages. Numbers show three significant digits (:mod:`rero.reporting.numbers`; a rounded
cell's tooltip holds the full value), a missing value an empty cell. A table's key columns, the
ones that name a row, stay at its left edge when the page scrolls sideways.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from rero.reporting.numbers import cell_text, is_rounded

if TYPE_CHECKING:  # planning imports this module (via the provenance page): no pandas then
    import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: separate; border-spacing: 0; font-size: 0.85em; margin-bottom: 1em; }
th, td { border: solid #ccc; border-width: 0 1px 1px 0; padding: 0.25em 0.5em;
  text-align: right; white-space: nowrap; background: #fff; }
tr > :first-child { border-left-width: 1px; }
thead th { white-space: normal; border-top-width: 1px; background: #f0f0f0; position: sticky;
  top: 0; z-index: 1; }
th.key { position: sticky; z-index: 2; background: #f7f7f7; text-align: left; }
th.key > div { overflow: hidden; text-overflow: ellipsis; }
thead th.key { z-index: 3; background: #e8e8e8; }
td.text { text-align: left; }
dt { font-family: monospace; font-weight: bold; margin-top: 0.4em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
details { margin: 0.8em 0; } summary { cursor: pointer; font-weight: 600; }
"""
#: a character's width (em of the cell's font) assumed for a key column's width, bold included
CHARACTER_EM = 0.65
#: a cell's horizontal padding and border (em): 2 × 0.5em padding, and 1px of border
CELL_EXTRA_EM = 1.1


def key_widths(frame: pd.DataFrame, keys: Sequence[str]) -> list[float]:
    """Each key column's text width (em): room for its longest text, header included."""
    return [
        CHARACTER_EM
        * max([len(str(key)), *(len(cell_text(value)) for value in frame[key])], default=1)
        for key in keys
    ]


def breakable(name: str) -> str:
    """A column name, escaped, that a narrow header may wrap after each underscore."""
    return html.escape(name).replace("_", "_<wbr>")


def cell_html(
    tag: str, value: object, width: float | None = None, left: float = 0.0, tooltip: str = ""
) -> str:
    """One ``<td>``/``<th>``: its text, a tooltip (``tooltip``, else the full value where
    rounded); a key column's cell (``width`` given, em) sticks at ``left`` em, its text clipped
    to ``width``."""
    classes = [] if width is None else ["key"]
    if not isinstance(value, numbers.Number):
        classes.append("text")
    attributes = f' class="{" ".join(classes)}"' if classes else ""
    if tooltip:
        attributes += f' title="{html.escape(tooltip)}"'
    elif is_rounded(value):
        attributes += f' title="{float(value):.12g}"'  # type: ignore[arg-type]
    text = html.escape(cell_text(value))
    if width is not None:
        attributes += f' style="left: {left:.2f}em"'
        text = f'<div style="width: {width:.2f}em">{text}</div>'
    return f"<{tag}{attributes}>{text}</{tag}>"


def table_html(
    frame: pd.DataFrame,
    descriptions: Mapping[str, str] | None = None,
    keys: Sequence[str] = (),
) -> str:
    """``frame`` as an HTML table, its ``keys`` columns first and kept at the left edge (sticky);
    a column's description (if given) is its header's tooltip."""
    descriptions = descriptions or {}
    keys = [str(key) for key in keys]
    columns = [*keys, *(str(column) for column in frame.columns if str(column) not in keys)]
    frame = frame[columns]
    widths = dict(zip(keys, key_widths(frame, keys), strict=True))
    lefts, left = {}, 0.0
    for key, width in widths.items():
        lefts[key] = left
        left += width + CELL_EXTRA_EM
    header = "".join(
        cell_html("th", column, widths[column], lefts[column], descriptions.get(column, ""))
        if column in widths
        else f'<th title="{html.escape(descriptions.get(column, ""))}">{breakable(column)}</th>'
        for column in columns
    )
    rows = []
    for record in frame.itertuples(index=False, name=None):
        cells = [
            cell_html("th", value, widths[column], lefts[column])
            if column in widths
            else cell_html("td", value)
            for column, value in zip(columns, record, strict=True)
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr>{header}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>"
    )


def sections_html(
    frame: pd.DataFrame,
    groups: Iterable[tuple[str, Sequence[str]]],
    keys: Sequence[str],
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """``frame`` split into one table per (title, columns) group, each headed by its title and
    led by the ``keys`` columns (groups without columns are left out)."""
    return "\n".join(
        f"<h2>{html.escape(title)}</h2>\n"
        + table_html(frame[[*keys, *columns]], descriptions, keys)
        for title, columns in groups
        if columns
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


def details_html(summary: str, body: str) -> str:
    """``body`` (HTML) folded away under the plain-text ``summary``."""
    return f"<details><summary>{html.escape(summary)}</summary>\n{body}\n</details>"


def page(title: str, intro: str, body: str) -> str:
    """A complete HTML document: heading ``title``, the plain-text ``intro``, then ``body``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>"
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(intro)}</p>\n{body}\n</body></html>\n"
    )
