"""The code inputs of each rule: exactly the package files its subcommand executes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rero.data.registry import LOADERS, loader_module
from rero.models.registry import MODELS, model_module
from rero.runtime.sources import command_sources, imported_modules, module_closure
from rero.runtime.subcommands import SUBCOMMANDS
from tests.helpers import REPO

PACKAGE = REPO / "src" / "rero"

# What `python -m rero <subcommand>` imports, and what using one registry entry imports (the
# modules of the entry, not those of its siblings), recorded by the interpreter itself: one
# interpreter loads the third-party packages the commands use, then forks a child per probe that
# imports as the command would and reports the rero modules it loaded (third-party imports load
# no rero module, so preloading them changes no answer; it saves a torch import per probe).
PROBE = """
import importlib, json, os, sys
for name in ("numpy", "scipy.stats", "pandas", "torch", "opacus", "matplotlib.pyplot"):
    importlib.import_module(name)
assert not any(key == "rero" or key.startswith("rero.") for key in sys.modules)

def probe(kind, name):
    if kind == "subcommand":
        import rero.cli
        import rero.runtime.subcommands
        importlib.import_module(rero.runtime.subcommands.SUBCOMMANDS[name])
    elif kind == "loader":
        from rero.data.registry import LOADERS
        LOADERS[name].load
    else:
        from rero.models.registry import build_model
        build_model(name, 1, 2, 16)
    return sorted(
        module.__file__ for key, module in sys.modules.items()
        if (key == "rero" or key.startswith("rero.")) and getattr(module, "__file__", None)
    )

found = {}
for kind, name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        with os.fdopen(write, "w") as out:
            out.write(json.dumps(probe(kind, name)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise SystemExit(f"the probe of {kind} {name} failed (wait status {status})")
    found[f"{kind}:{name}"] = json.loads(text)
print(json.dumps(found))
"""
PROBES = [("subcommand", name) for name in sorted(SUBCOMMANDS)]
PROBES += [("loader", name) for name in sorted(LOADERS)]
PROBES += [("model", name) for name in sorted(MODELS)]


@pytest.fixture(scope="module")
def interpreter_imports() -> dict[str, set[Path]]:
    """The files of the rero modules each probe of :data:`PROBES` loaded, by "<kind>:<name>"."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(PROBES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return {
        key: {Path(file).resolve() for file in files}
        for key, files in json.loads(result.stdout).items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("subcommand", sorted(SUBCOMMANDS))
def test_static_closure_is_what_the_interpreter_imports(interpreter_imports, subcommand):
    imported = interpreter_imports[f"subcommand:{subcommand}"]
    listed = {file.resolve() for file in command_sources(subcommand, PACKAGE)}
    # __main__ runs the command rather than being imported by it; nothing else may differ.
    assert listed - imported == {(PACKAGE / "__main__.py").resolve()}
    assert imported <= listed


def test_each_rule_lists_its_own_stage():
    train = {file.relative_to(PACKAGE).as_posix() for file in command_sources("train", PACKAGE)}
    assert {"commands/train.py", "cli.py", "runtime/io.py", "privacy/plan.py"} <= train
    assert "models/registry.py" in train and "models/classifiers.py" not in train
    assert any(name.startswith("training/") for name in train)
    assert any(name.startswith("data/") for name in train)
    attack = {file.relative_to(PACKAGE).as_posix() for file in command_sources("attack", PACKAGE)}
    assert {"commands/attack.py", "attacks/job.py", "privacy/calibration.py"} <= attack
    assert not any(name.startswith("training/") for name in attack)


def test_relative_and_from_imports_are_followed(tmp_path):
    root = tmp_path / "rero"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from . import leaf\n")
    (root / "sub" / "leaf.py").write_text("def f():\n    from rero import other\n")
    (root / "other.py").write_text("import json\n")
    (root / "unused.py").write_text("")
    assert imported_modules(root / "sub" / "__init__.py", "rero.sub") == {
        "rero.sub",
        "rero.sub.leaf",
    }
    files = {file.relative_to(root).as_posix() for file in module_closure(root, ["rero.sub"])}
    assert files == {"__init__.py", "sub/__init__.py", "sub/leaf.py", "other.py"}


def test_unknown_subcommand_is_refused():
    with pytest.raises(ValueError, match="unknown subcommand 'fly'"):
        command_sources("fly", PACKAGE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "name"),
    [("loader", name) for name in sorted(LOADERS)] + [("model", name) for name in sorted(MODELS)],
)
def test_a_registry_imports_only_the_entry_a_job_uses(interpreter_imports, kind, name):
    """A job's code inputs add its own loader's or model's module (and what that imports); the
    other entries' modules are neither imported nor listed, so editing one reruns nothing."""
    imported = interpreter_imports[f"{kind}:{name}"]
    module = loader_module(name) if kind == "loader" else model_module(name)
    registry = "rero.data.registry" if kind == "loader" else "rero.models.registry"
    listed = {file.resolve() for file in module_closure(PACKAGE, [registry, module])}
    assert imported <= listed
    entries = LOADERS.values() if kind == "loader" else MODELS.values()
    others = {entry.module for entry in entries} - {module}
    closure_names = {
        file.relative_to(PACKAGE.resolve()).with_suffix("").as_posix().replace("/", ".")
        for file in listed
    }
    assert not {other.removeprefix("rero.") for other in others} & closure_names or (
        # the 3-D task's loader builds on the 2-D one's template volumes
        name == "mni152_seg"
    )


@pytest.fixture
def fresh_import_state(monkeypatch):
    """The parse caches of rero.runtime.sources emptied for one test."""
    from rero.runtime import sources

    for name, value in (("_IMPORTS_SEEN", {}), ("_PARSED", {}), ("_CURRENT", {})):
        monkeypatch.setattr(sources, name, value)
    return sources


def test_parsed_imports_are_kept_by_content_between_calls(tmp_path, fresh_import_state):
    sources, cache = fresh_import_state, tmp_path / "imports.json"
    module = tmp_path / "rero" / "a.py"
    module.parent.mkdir()
    module.write_text("from rero import b\n")
    first = hashlib.sha256(module.read_bytes()).hexdigest()
    assert imported_modules(module, "rero.a") == {"rero", "rero.b"}
    sources.save_imports_cache(cache)
    assert json.loads(cache.read_text()) == {f"rero.a:{first}": ["rero", "rero.b"]}

    # a later call reads the cache: an entry for the file's bytes is used without parsing
    module.write_text("from rero import c\n")
    second = hashlib.sha256(module.read_bytes()).hexdigest()
    cache.write_text(json.dumps({f"rero.a:{first}": ["rero.b"], f"rero.a:{second}": ["rero.x"]}))
    sources.load_imports_cache(cache)
    assert imported_modules(module, "rero.a") == {"rero.x"}
    # the module's other versions are dropped when it is saved
    sources.save_imports_cache(cache)
    assert json.loads(cache.read_text()) == {f"rero.a:{second}": ["rero.x"]}


def test_an_unreadable_imports_cache_is_ignored(tmp_path, fresh_import_state):
    cache = tmp_path / "imports.json"
    cache.write_text("{not json")
    fresh_import_state.load_imports_cache(cache)
    fresh_import_state.load_imports_cache(tmp_path / "missing.json")
    cache.write_text(json.dumps({"rero.a:0": "not a list"}))
    fresh_import_state.load_imports_cache(cache)
    assert fresh_import_state._PARSED == {}
