"""Study configuration: validation with one clear message per problem, and defaults.

:func:`validate_config` is the workflow's one validation pass: every schema violation and every
cross-key problem in one error, then the schema's defaults filled in. The spellings of ε and κ
are :mod:`rero.study.tokens`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rero.data.registry import dataset_shape
from rero.data.shapes import DatasetShape
from rero.study.checks import merged, study_errors
from rero.study.tokens import (
    ConfigError,
)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """A one-line message for a schema violation, naming the key and what was expected."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    expected = schema.get("description", "").strip().split(". ")[0]
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(schema.get("properties", {})))
        allowed = ", ".join(sorted(schema.get("properties", {}))) or "see the schema"
        return f"{_key_path(error)}: unknown key(s) {unknown}; allowed keys: {allowed}"
    if error.context:  # a failed oneOf: the closest alternative's reason, the key's description
        # The alternative whose type matched explains best (0 fails "> 0", not "is a string").
        matched_type = [sub for sub in error.context if sub.validator != "type"]
        reason = jsonschema.exceptions.best_match(matched_type or error.context).message
        return (
            f"{_key_path(error)}: {error.instance!r} is not valid ({reason}; expected: {expected})"
        )
    message = f"{_key_path(error)}: {error.message}"
    if (
        error.validator == "type"
        and isinstance(error.instance, float)
        and error.validator_value == "integer"
        and error.instance.is_integer()
    ):
        message += f"; write {int(error.instance)}, not {error.instance!r}"
    if error.validator == "type" and isinstance(error.instance, str) and _is_float(error.instance):
        message += (
            f"; YAML reads an exponent without a decimal point ({error.instance}) as text: "
            "write it with one, e.g. 1.0e-4"
        )
    return f"{message} (expected: {expected})" if expected else message


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: JSON Schema whose "integer" is an int, not also a float with no fractional part (2.0): a
#: number written as a float is refused where the study needs a count, never run as one
StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def schema_errors(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema violation of ``config`` as a readable line (empty when valid), in the order
    of their keys."""
    errors = sorted(StrictValidator(schema).iter_errors(config), key=_key_path)
    return [_describe(error) for error in errors]


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read the YAML schema file (with LibYAML's parser where PyYAML has it: every planning call
    reads the schema, and the pure-Python parser takes about 0.3 s)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(), Loader=loader)


def fill_defaults(instance: Any, schema: dict[str, Any]) -> None:
    """Set, in place, every absent property that has a schema default, at every depth.

    Follows ``properties`` and schema-valued ``additionalProperties`` (the datasets map); a
    default is copied, then filled itself (``privacy: {}`` gets its keys' defaults).
    """
    if not isinstance(instance, dict):
        return
    properties = schema.get("properties", {})
    for name, subschema in properties.items():
        if name not in instance and "default" in subschema:
            instance[name] = copy.deepcopy(subschema["default"])
        if name in instance:
            fill_defaults(instance[name], subschema)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name, value in instance.items():
            if name not in properties:
                fill_defaults(value, extra)


def validate_config(
    config: dict[str, Any],
    schema: dict[str, Any],
    split_sizes_of: Callable[[str, dict[str, Any]], dict[str, int] | None],
    shape_of: Callable[[str, dict[str, Any]], DatasetShape | None] = dataset_shape,
) -> None:
    """Check ``config`` against the schema and across keys, then fill its defaults in place.

    Raises one :class:`ConfigError` that lists every problem; nothing is filled then.
    """
    raise_if_errors(schema_errors(config, schema))
    filled = copy.deepcopy(config)
    fill_defaults(filled, schema)
    raise_if_errors(study_errors(filled, split_sizes_of, shape_of))
    config.clear()
    config.update(filled)


#: the spellings of an unquoted number or boolean that mean what they say in every YAML version
_PLAIN_SPELLINGS = {
    "tag:yaml.org,2002:int": re.compile(r"[-+]?(0|[1-9][0-9]*)"),
    "tag:yaml.org,2002:float": re.compile(
        r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    ),
    "tag:yaml.org,2002:bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
}
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _surprising(node: yaml.ScalarNode, value: Any) -> str | None:
    """Why an unquoted scalar does not mean what its text says (YAML 1.1 reads ``010`` as the
    octal 8, ``1_000`` as 1000, ``1:30`` as 90, ``0x10`` as 16, ``yes``/``on`` as true,
    ``2024-01-01`` as a date), with what to write instead; None for a plain number, boolean or
    text."""
    if node.style is not None:
        return None
    if node.tag == "tag:yaml.org,2002:timestamp":
        read_as, expected = f"the date {value}", "a number"
    elif node.tag not in _PLAIN_SPELLINGS or _PLAIN_SPELLINGS[node.tag].fullmatch(node.value):
        return None
    elif node.tag == "tag:yaml.org,2002:bool":
        read_as, expected = f"the boolean {str(value).lower()}", "true or false"
    else:
        read_as = f"the number {value!r}"
        expected = "a decimal number without leading zeros, underscores or colons"
    quoted = f"'{node.value}'"
    return f"YAML 1.1 reads it as {read_as}; expected {expected}, or {quoted} quoted for text"


def _node_problems(
    loader: yaml.SafeLoader, node: yaml.Node, key: str, seen: set[int]
) -> list[tuple[yaml.Mark, str]]:
    """(where, problem) for each key given twice in a mapping (PyYAML would keep the last; a key
    a merge key ``<<`` brings in may be overridden) and each scalar whose text YAML 1.1 reads
    as something else, under ``node`` at config key ``key``."""
    if id(node) in seen:  # an alias: its anchor was checked where it was defined
        return []
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        reason = _surprising(node, loader.construct_object(node))
        return (
            [(node.start_mark, f"{key or '<top level>'}: {node.value} is not valid ({reason})")]
            if reason
            else []
        )
    if isinstance(node, yaml.SequenceNode):
        return [
            problem
            for index, item in enumerate(node.value)
            for problem in _node_problems(loader, item, f"{key}.{index}", seen)
        ]
    problems = []
    given: set[Any] = set()
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:  # a mapping, or a list of them, merged into this one
            merged_nodes = value_node.value if isinstance(value_node, yaml.SequenceNode) else []
            for merged_node in merged_nodes or [value_node]:
                problems += _node_problems(loader, merged_node, key, seen)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            continue  # a mapping or list as a key: the constructor refuses it, naming the line
        name = loader.construct_object(key_node)
        child = f"{key}.{key_node.value}" if key else key_node.value
        problems += _node_problems(loader, key_node, child, seen)
        if name in given:
            problems.append(
                (key_node.start_mark, f"the key {name!r} is given twice (expected each key once)")
            )
        given.add(name)
        problems += _node_problems(loader, value_node, child, seen)
    return problems


def _read_yaml(text: str) -> tuple[Any, list[tuple[yaml.Mark, str]]]:
    """The YAML document of ``text`` and the problems :func:`_node_problems` finds in it (the
    document is None when there are any)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        problems = _node_problems(loader, node, "", set())
        return (None if problems else loader.construct_document(node)), problems
    finally:
        loader.dispose()


def read_config_files(paths: Iterable[str | Path]) -> dict[str, Any]:
    """The config files read strictly and merged in order, later keys over earlier ones (as
    Snakemake merges its ``--configfile`` files). A YAML error, a key given twice, a scalar that
    YAML 1.1 reads as something other than its text says (``010``, ``1_000``, ``yes``), a file
    that is not UTF-8 text or not a mapping is one :class:`ConfigError` naming the file (and the
    line and column). Merge keys (``<<: *anchor``) are read as YAML defines them."""
    errors = []
    config: dict[str, Any] = {}
    for path in paths:
        try:
            loaded, problems = _read_yaml(Path(path).read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            errors.append(f"{where}: {error.problem}")
        except UnicodeDecodeError as error:
            errors.append(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})")
        except OSError as error:
            errors.append(f"{path}: cannot be read ({error.strerror})")
        else:
            errors += [
                f"{path}:{mark.line + 1}:{mark.column + 1}: {problem}" for mark, problem in problems
            ]
            if isinstance(loaded, dict):
                config = merged(config, loaded)
            elif loaded is not None:
                errors.append(
                    f"{path}: holds a {type(loaded).__name__}; expected a mapping of config keys "
                    "(datasets, eps, seeds, ...)"
                )
    if errors:
        raise ConfigError("invalid configuration file:\n  " + "\n  ".join(errors))
    return config


def raise_if_errors(errors: list[str]) -> None:
    """Raise one :class:`ConfigError` that lists every problem, if there is any."""
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
