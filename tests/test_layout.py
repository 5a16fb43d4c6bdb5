"""The package layout is the architecture: every import of every module under pipeline/,
read with `ast` (lazy imports inside functions included, `if TYPE_CHECKING:` blocks not),
must keep the direction docs/architecture.md draws.

- no import cycle, between modules or between the packages that hold them;
- the core (pipeline.core) imports neither dagger nor click nor any other pipeline package;
- the container scripts (pipeline.container_scripts) import the standard library only (integration.py
  also PyYAML, when importable: the checker installs it only for a source without a JSON spec);
- nothing outside pipeline.cli imports the CLI;
- each package imports only the packages listed before it (ORDER, as the docs list them).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "pipeline"
CORE, SCRIPTS, CLI = "pipeline.core", "pipeline.container_scripts", "pipeline.cli"
ENGINE_OR_CLI = ("dagger", "click")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(name: str) -> set[str]:
    """Every module `name` imports: ours resolved to the module (not its package), others by top-level name."""
    tree = ast.parse(MODULES[name].read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    out: set[str] = set()
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "__future__":
                continue
            out.add(target if target.startswith("pipeline") else target.split(".")[0])
    return out


GRAPH = {name: imports_of(name) for name in MODULES}


def part(name: str) -> str:
    """The package a module belongs to: pipeline.core, pipeline.cli, ... (pipeline itself for its __init__)."""
    return ".".join(name.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member, or with a self-import (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def ours(deps: set[str]) -> set[str]:
    return {d for d in deps if d in MODULES}


def test_the_walk_sees_the_package():
    """The checks below are only as good as the walk: it finds every part and their imports."""
    assert {part(m) for m in MODULES} >= {"pipeline", CORE, SCRIPTS, "pipeline.dagger_lane", "pipeline.docker_lane",
                                          "pipeline.reports", "pipeline.ci", CLI}
    assert "pipeline.core.spec" in GRAPH["pipeline.docker_lane.dockerfile"]
    assert "dagger" in GRAPH["pipeline.dagger_lane.main"]
    assert "pipeline.dagger_lane.farm" in GRAPH["pipeline.dagger_lane.main"]  # `from pipeline.dagger_lane import farm`
    assert "pipeline.core.validate" in GRAPH["pipeline.cli.common"]  # an import inside a function counts


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_import_cycle():
    assert cycles({m: ours(d) for m, d in GRAPH.items()}) == []


def test_no_package_import_cycle():
    parts: dict[str, set[str]] = {}
    for m, deps in GRAPH.items():
        parts.setdefault(part(m), set()).update(part(d) for d in ours(deps) if part(d) != part(m))
    assert cycles(parts) == []


@pytest.mark.parametrize("name", sorted(m for m in MODULES if part(m) == CORE))
def test_core_imports_no_engine_cli_or_lane(name):
    deps = GRAPH[name]
    assert not deps & set(ENGINE_OR_CLI), f"{name} imports {sorted(deps & set(ENGINE_OR_CLI))}"
    outside = sorted(d for d in ours(deps) if part(d) not in (CORE, "pipeline"))
    assert not outside, f"{name} imports {outside}: the core depends on no lane, output or the CLI"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if part(m) == SCRIPTS))
def test_container_scripts_import_the_standard_library_only(name):
    """They are copied into containers as single files: nothing of ours is there to import."""
    optional = {"yaml"} if name == f"{SCRIPTS}.integration" else set()
    assert {d for d in GRAPH[name] if d not in sys.stdlib_module_names} - optional == set()


#: The packages lowest first, as docs/architecture.md's tree and pipeline/__init__.py list them.
ORDER = ["pipeline", CORE, SCRIPTS, "pipeline.docker_lane", "pipeline.reports", "pipeline.ci", "pipeline.dagger_lane", CLI]


def test_packages_import_only_those_above_them():
    assert sorted({part(m) for m in MODULES}) == sorted(ORDER)
    upward = sorted((m, d) for m, deps in GRAPH.items() for d in ours(deps)
                    if ORDER.index(part(d)) > ORDER.index(part(m)))
    assert upward == []


def test_the_docs_list_the_packages_in_that_order():
    tree = (ROOT / "docs" / "architecture.md").read_text()
    listed = [line.split("── ")[1].split("/")[0] for line in tree.splitlines() if line.startswith(("├── ", "└── "))]
    assert ["pipeline." + name for name in listed] == ORDER[1:]
    init = MODULES["pipeline"].read_text()
    assert sorted(ORDER[1:], key=lambda p: init.index(f"``{p}``")) == ORDER[1:]


def test_nothing_imports_the_cli():
    users = sorted(m for m, deps in GRAPH.items() if part(m) != CLI and any(part(d) == CLI for d in ours(deps)))
    assert users == []


def test_the_dagger_package_only_re_exports_the_main_object():
    """As the Dagger Python SDK's own dev module: `__init__.py` re-exports the main object, nothing else."""
    tree = ast.parse(MODULES["pipeline.dagger_lane"].read_text())
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    assert len(body) == 1 and isinstance(body[0], ast.ImportFrom)
    assert [(a.name, a.asname) for a in body[0].names] == [("FlamencoPipeline", "FlamencoPipeline")]


def _loaded_after_import(modules: list[str]) -> dict[str, list[str]]:
    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "    out[m] = sorted(k for k in sys.modules if k.split('.')[0] in ('dagger', 'click'))\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120)
    return json.loads(r.stdout)


def test_importing_the_spec_loads_no_dagger_or_click():
    assert _loaded_after_import(["pipeline.core.spec"]) == {"pipeline.core.spec": []}


def test_importing_the_whole_core_loads_no_dagger_or_click():
    core = sorted(m for m in MODULES if part(m) == CORE)
    assert _loaded_after_import(core) == {m: [] for m in core}
