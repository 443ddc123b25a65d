"""The package files a subcommand runs: the workflow lists them as each rule's code inputs.

``python -m rero <subcommand>`` executes ``rero/__main__.py``, ``rero/cli.py``, the command
module that registers the subcommand and the modules its registries import by name (a dataset's
loader, a model); this module follows their imports of ``rero`` modules (at any
depth, in function bodies too) by reading the source, so editing any file a job runs reruns the
job, and the list cannot drift from the code. Parent packages' ``__init__.py`` count: importing
``rero.privacy.plan`` executes ``rero/privacy/__init__.py``.

Parsing the package's ~130 files is about half a second of every ``snakemake`` call; the imports
found are kept by each file's content hash in :data:`IMPORTS_CACHE` (a file's bytes decide its
imports), so a call parses only the files edited since the last.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from rero.runtime.io import write_text_if_changed
from rero.runtime.subcommands import SUBCOMMANDS

PACKAGE = "rero"
ENTRY_MODULES = ("rero", "rero.__main__", "rero.cli")


@functools.cache
def module_file(root: Path, module: str) -> Path | None:
    """The source file of ``module`` under the package folder ``root`` (``.../src/rero``);
    looked up once per process (a file added or removed while planning is not seen)."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


#: imported_modules results by (file, module, mtime, size): the workflow asks for the closure of
#: every rule's command, and most files are shared among them
_IMPORTS_SEEN: dict[tuple[Path, str, int, int], frozenset[str]] = {}
#: the imports of a module by "<module>:<sha256 of its file>", as read from and written to
#: :data:`IMPORTS_CACHE`; and the key of each module's file as this process last read it
_PARSED: dict[str, list[str]] = {}
_CURRENT: dict[str, str] = {}
#: where planning keeps the parsed imports between calls (in the working directory)
IMPORTS_CACHE = Path(".snakemake") / "rero" / "imports.json"


def imported_modules(source: Path, module: str) -> frozenset[str]:
    """Names of the ``rero`` modules that ``source`` (the file of ``module``) imports."""
    stat = source.stat()
    key = (source, module, stat.st_mtime_ns, stat.st_size)
    if key not in _IMPORTS_SEEN:
        text = source.read_bytes()
        stored = f"{module}:{hashlib.sha256(text).hexdigest()}"
        if stored not in _PARSED:
            _PARSED[stored] = sorted(_parse_imports(text, source, module))
        _CURRENT[module] = stored
        _IMPORTS_SEEN[key] = frozenset(_PARSED[stored])
    return _IMPORTS_SEEN[key]


def load_imports_cache(path: Path = IMPORTS_CACHE) -> None:
    """Take the imports parsed by earlier calls from ``path`` (none if missing or unreadable)."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if isinstance(stored, dict):
        _PARSED.update(
            (key, value)
            for key, value in stored.items()
            if isinstance(value, list) and all(isinstance(name, str) for name in value)
        )


def save_imports_cache(path: Path = IMPORTS_CACHE) -> None:
    """Keep the parsed imports at ``path``: of each module this process read, its current file's
    only; of the others, what was there. Not rewritten when that is what it holds."""
    kept = {
        key: value
        for key, value in sorted(_PARSED.items())
        if _CURRENT.get(key.partition(":")[0], key) == key
    }
    write_text_if_changed(path, json.dumps(kept, indent=0))


#: the fields of a statement that hold statements (an import is a statement, so the expressions
#: beneath, most of a module's nodes, need no visit)
STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def statements(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every statement in ``nodes`` and, at any depth, in their bodies (functions, classes,
    branches, loops, ``try`` handlers, ``match`` cases)."""
    for node in nodes:
        yield node
        for field in STATEMENT_FIELDS:
            yield from statements(getattr(node, field, ()))


def _parse_imports(text: bytes, source: Path, module: str) -> frozenset[str]:
    tree = ast.parse(text, filename=str(source))
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in statements(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in found if name == PACKAGE or name.startswith(PACKAGE + "."))


def with_parents(module: str) -> list[str]:
    """``module`` and every package above it (``rero.a.b`` -> rero, rero.a, rero.a.b)."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def module_closure(root: Path, modules: list[str]) -> list[Path]:
    """Source files of ``modules`` and of every ``rero`` module they import, transitively."""
    files: dict[str, Path] = {}
    pending = [parent for module in modules for parent in with_parents(module)]
    while pending:
        module = pending.pop()
        if module in files:
            continue
        source = module_file(root, module)
        if source is None:  # a name imported from a module, not a module itself
            continue
        files[module] = source
        for imported in imported_modules(source, module):
            pending.extend(with_parents(imported))
    return sorted(files.values())


def command_sources(subcommand: str, root: Path, registered: Sequence[str] = ()) -> list[Path]:
    """Every package file that ``python -m rero <subcommand>`` executes, under ``root``.

    ``registered`` names the modules the job imports through a registry, by name at run time
    (its dataset's loader, its model: ``rero.data.registry.loader_module``,
    ``rero.models.registry.model_module``), which no import statement shows.
    """
    if subcommand not in SUBCOMMANDS:
        raise ValueError(
            f"unknown subcommand {subcommand!r}; expected one of {', '.join(SUBCOMMANDS)}"
        )
    return module_closure(root, [*ENTRY_MODULES, SUBCOMMANDS[subcommand], *registered])
