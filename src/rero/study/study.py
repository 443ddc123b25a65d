"""The study as the workflow reads it: one frozen, typed :class:`Study` built once from the
validated config, torch-free.

It holds the datasets (each with its loader, task, loader options and its own merged
``training``, ``privacy`` and ``attack`` settings), the ε path tokens and the seeds. Its values
are normalised, so that a study written differently holds the same values: every setting the
schema types as a number is a float (``1`` and ``1.0`` are one clip norm), mappings are ordered
by key, and the loader options have the loader's defaults filled in (``explicit_options`` holds
those that differ from a default).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from rero.data.registry import LOADERS, loader_options
from rero.study.checks import dataset_settings
from rero.study.tokens import audited_eps_tokens, eps_tokens, merged_eps_tokens


@dataclass(frozen=True)
class Dataset:
    """One dataset of the study: its ``loader`` and the loader's ``task``; ``options`` are the
    loader options with the loader's defaults filled in, ``explicit_options`` those of them that
    differ from a default (the required ones included); ``training``, ``privacy`` and ``attack``
    are the top-level sections with the dataset's own entries merged over them."""

    name: str
    loader: str
    task: str
    options: Mapping[str, Any]
    explicit_options: Mapping[str, Any]
    training: Mapping[str, Any]
    privacy: Mapping[str, Any]
    attack: Mapping[str, Any]


@dataclass(frozen=True)
class Study:
    """The study: ``datasets`` in the config's order; ``eps`` the trained budgets' path tokens,
    ``bound_eps`` those and the bound curve's extra budgets, ``audit_eps`` the audited ones among
    ``eps``; ``seeds`` as path tokens; the ``bounds``, ``advice`` and ``audit`` sections."""

    datasets: Mapping[str, Dataset]
    eps: tuple[str, ...]
    bound_eps: tuple[str, ...]
    audit_eps: tuple[str, ...]
    seeds: tuple[str, ...]
    bounds: Mapping[str, Any]
    advice: Mapping[str, Any]
    audit: Mapping[str, Any]

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """The datasets' names, in the config's order."""
        return tuple(self.datasets)

    @property
    def segmentation_datasets(self) -> tuple[str, ...]:
        """The names of the datasets whose loader prepares a segmentation task."""
        return tuple(
            name for name, dataset in self.datasets.items() if dataset.task == "segmentation"
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], schema: Mapping[str, Any]) -> Study:
        """The study of ``config``, validated and with its defaults filled
        (:func:`rero.study.config.validate_config`), whose number types ``schema`` gives."""
        normal = with_float_numbers(config, schema, schema)
        datasets = {
            name: Dataset(
                name=name,
                loader=entry["loader"],
                task=LOADERS[entry["loader"]].task,
                options=frozen(loader_options(entry["loader"], entry["options"])),
                explicit_options=frozen(explicit_options(entry["loader"], entry["options"])),
                training=frozen(dataset_settings(normal, name, "training")),
                privacy=frozen(dataset_settings(normal, name, "privacy")),
                attack=frozen(dataset_settings(normal, name, "attack")),
            )
            for name, entry in normal["datasets"].items()
        }
        eps = eps_tokens(normal["eps"])
        return cls(
            datasets=MappingProxyType(datasets),
            eps=tuple(eps),
            bound_eps=tuple(merged_eps_tokens(eps, normal["bounds"]["extra_eps"])),
            audit_eps=tuple(audited_eps_tokens(eps, normal["audit"]["eps"])),
            seeds=tuple(str(seed) for seed in normal["seeds"]),
            bounds=frozen(normal["bounds"]),
            advice=frozen(normal["advice"]),
            audit=frozen(normal["audit"]),
        )


def explicit_options(loader: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``options`` of ``loader`` that differ from its defaults (the required ones, which have
    none, included), by name."""
    parameters = inspect.signature(LOADERS[loader].load).parameters
    return {
        name: value
        for name, value in sorted(options.items())
        if parameters[name].default is inspect.Parameter.empty or value != parameters[name].default
    }


def with_float_numbers(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """A copy of ``value`` in which every integer that ``schema`` types as a number (not as an
    integer) is a float; ``root`` is the whole schema, against which ``$ref``s resolve."""
    if "$ref" in schema:
        schema = _resolved(root, schema["$ref"])
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        other = extra if isinstance(extra, Mapping) else {}
        return {
            key: with_float_numbers(item, properties.get(key, other), root)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [with_float_numbers(item, schema.get("items", {}), root) for item in value]
    if schema.get("type") == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _resolved(root: Mapping[str, Any], reference: str) -> Mapping[str, Any]:
    """The node of ``root`` that a local ``$ref`` ("#/properties/training") names."""
    if not reference.startswith("#/"):
        raise ValueError(f"only local schema references are followed, got {reference!r}")
    node = root
    for part in reference[2:].split("/"):
        node = node[part]
    return node


def frozen(value: Any) -> Any:
    """``value`` read-only: mappings ordered by key as read-only views, lists as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: frozen(value[key]) for key in sorted(value)})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value
