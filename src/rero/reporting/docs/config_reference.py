"""The configuration reference page, generated from the config schema: one row per key (its type,
default, bounds and description, each read from the schema), and a table of every loader's
options with their defaults, read from the loaders' own signatures."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rero.data.registry import LOADERS

#: the default shown for a key the schema gives none
NO_DEFAULT = "—"
BOUND_WORDS = {
    "minimum": "≥ {}",
    "exclusiveMinimum": "> {}",
    "maximum": "≤ {}",
    "exclusiveMaximum": "< {}",
    "minItems": "at least {} entries",
    "minProperties": "at least {} entries",
    "maxItems": "at most {} entries",
    "pattern": "matches `{}`",
}
#: a count of one said in the singular
SINGULAR = {"at least 1 entries": "at least 1 entry", "at most 1 entries": "at most 1 entry"}


@dataclass(frozen=True)
class Key:
    """One configuration key of the schema: its dotted ``path`` (``<name>`` for a key the user
    names, ``[]`` for the entries of a list) and the schema's words for it."""

    path: str
    type: str
    default: str
    bounds: str
    description: str


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` (``#/a/b``) replaced by what it points at (its own keys
    kept over the target's)."""
    if "$ref" not in node:
        return node
    target: Any = schema
    for part in node["$ref"].removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{key: value for key, value in node.items() if key != "$ref"}}


def type_text(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """The JSON type of ``node`` as a reader says it: ``integer``, ``list of number``,
    ``number or string``."""
    node = resolve(schema, node)
    if "oneOf" in node:
        return " or ".join(dict.fromkeys(type_text(schema, option) for option in node["oneOf"]))
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {type_text(schema, node.get('items', {}))}"
    return kind if isinstance(kind, str) else " or ".join(kind)


def value_text(value: Any) -> str:
    """A schema value as YAML's flow style reads it (JSON is a subset of YAML); a text on its own
    unquoted, a whole float without its ``.0``."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def bounds_text(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """The schema's constraints on ``node``: its allowed values, numeric bounds, list sizes and
    patterns; a list's constraints on each entry after ``each entry``."""
    node = resolve(schema, node)
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{value}`" for value in node["enum"]))
    for key, words in BOUND_WORDS.items():
        if key in node:
            text = words.format(node[key] if key == "pattern" else value_text(node[key]))
            parts.append(SINGULAR.get(text, text))
    if node.get("uniqueItems"):
        parts.append("each entry once")
    if "oneOf" in node:
        options = [
            f"{type_text(schema, option)} {bounds_text(schema, option)}".strip()
            for option in node["oneOf"]
        ]
        parts.append(" or ".join(options))
    if node.get("type") == "array" and "items" in node:
        items = resolve(schema, node["items"])
        if "properties" not in items:
            inner = bounds_text(schema, items)
            if inner:
                parts.append(f"each entry: {inner}")
    return "; ".join(parts)


def description_text(node: dict[str, Any]) -> str:
    """The schema's description of ``node`` on one line."""
    return " ".join(str(node.get("description", "")).split())


def keys(schema: dict[str, Any]) -> Iterator[Key]:
    """Every key of ``schema``, depth first in the schema's order."""
    yield from _walk(schema, schema, "", set(schema.get("required", [])))


def _walk(
    schema: dict[str, Any], node: dict[str, Any], prefix: str, required: set[str]
) -> Iterator[Key]:
    """The keys of ``node``'s properties, each after ``prefix`` (``required``: those without a
    default that must be given), each followed by the keys below it."""
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved = resolve(schema, child)
        default = (
            value_text(child["default"])
            if "default" in child
            else "required"
            if name in required
            else NO_DEFAULT
        )
        description = description_text(child) or description_text(resolved)
        yield Key(path, type_text(schema, child), default, bounds_text(schema, child), description)
        if "$ref" in child and str(child["$ref"]).startswith("#/properties/"):
            continue  # a section's keys, listed once under the section itself
        yield from _children(schema, resolved, path)


def _children(schema: dict[str, Any], node: dict[str, Any], path: str) -> Iterator[Key]:
    """The keys below ``node``: its properties, the entries of a map the user names
    (``<name>``) and the keys of a list's object entries (``[]``)."""
    if "properties" in node:
        yield from _walk(schema, node, f"{path}.", set(node.get("required", [])))
    entries = node.get("additionalProperties")
    if isinstance(entries, dict):
        yield from _walk(schema, entries, f"{path}.<name>.", set(entries.get("required", [])))
    items = resolve(schema, node.get("items", {})) if node.get("type") == "array" else {}
    if "properties" in items:
        yield from _walk(schema, items, f"{path}[].", set(items.get("required", [])))


def cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("|", "\\|") or " "


def default_cell(default: str) -> str:
    """A default as code, or the words for none."""
    return default if default in ("required", NO_DEFAULT) else f"`{cell(default)}`"


def loader_rows() -> list[tuple[str, str, str]]:
    """(loader, option, default or "required") for every option of every registered loader, read
    from the loader's ``load`` signature (what ``rero.data.registry.loader_options`` accepts)."""
    rows = []
    for name, loader in LOADERS.items():
        for option, parameter in inspect.signature(loader.load).parameters.items():
            empty = parameter.default is inspect.Parameter.empty
            default = "required" if empty else value_text(parameter.default)
            default = "none" if parameter.default is None else default
            rows.append((name, option, default))
    return rows


def reference_page(schema: dict[str, Any], schema_path: str) -> str:
    """The configuration reference as Markdown: one table per top-level section of ``schema``
    (read from ``schema_path``, named on the page), then the loaders' options."""
    sections: dict[str, list[Key]] = {}
    for key in keys(schema):
        sections.setdefault(re.split(r"[.\[]", key.path)[0], []).append(key)
    lines = [
        "# Configuration reference",
        "",
        f"<!-- generated by `python -m rero docs` from {schema_path}: edit the schema -->",
        "",
        f"Every key of the study's configuration, read from `{schema_path}` "
        "(the workflow validates each config against it before any job runs). "
        "`<name>` stands for a name you choose, `[]` for each entry of a list; "
        f"{NO_DEFAULT} marks a key without a default. "
        f"{description_text(schema)}",
    ]
    for section, rows in sections.items():
        lines += ["", f"## `{section}`", "", "| key | type | default | bounds | description |"]
        lines.append("|---|---|---|---|---|")
        lines += [
            f"| `{key.path}` | {cell(key.type)} | {default_cell(key.default)} | {cell(key.bounds)} "
            f"| {cell(key.description)} |"
            for key in rows
        ]
    lines += [
        "",
        "## Loader options",
        "",
        "The options each loader takes under `datasets.<name>.options`, with their defaults "
        "(read from each loader's signature; a `required` option has none).",
        "",
        "| loader | option | default |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{loader}` | `{option}` | `{default}` |" for loader, option, default in loader_rows()
    ]
    return "\n".join(lines) + "\n"
