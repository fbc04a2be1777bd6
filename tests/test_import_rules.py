"""The import map of the package follows the rules of issue 14.

Every ``liberation/**/*.py`` is parsed with :mod:`ast`; each ``import`` / ``from ... import``
anywhere in a module (top level, inside functions, under ``TYPE_CHECKING``) that names a
``liberation`` module is an arrow of the static import graph. Imports by string
(``importlib.import_module("...")``, the deprecated aliases of :mod:`liberation._lazy`) are
deliberately not arrows. The rules are data, at the top, for the lead to adjust:

(a) no cycle between units (a unit is a subpackage, or ``base``);
(b) layering: entry -> cli -> workflows -> deploy -> science core -> base, no arrow upwards;
    nothing but the entry point imports cli; the core never imports workflows;
(c) the core never imports liberation.deploy (part of (b), reported separately);
(d) the science-core packages do not import one another, except CORE_ALLOWED.

KNOWN_VIOLATIONS lists the arrows that break a rule today and are being removed by other
branches of issue 14; the test fails on any new violation *and* on a listed one that is gone,
so the list only shrinks (the lead empties it after the merge).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "liberation"

#: The science core: packages that do one job each and do not know about one another.
CORE = ("io", "labels", "registration", "segmentation", "stats", "report", "synthetic")

#: Modules below the core, importable from anywhere (they import only other base modules).
BASE = (
    "liberation",  # the package __init__ (lazy: it imports only _lazy, errors, minerals)
    "liberation.errors",
    "liberation.minerals",
    "liberation.metrics",
    "liberation._json",
    "liberation._atomic",
    "liberation._progress",
    "liberation._validation",
    "liberation._lazy",
    "liberation._onnx",
    "liberation.io.images",
    "liberation.model_folder",
)

#: Unit -> layer; an arrow may only go to a lower layer (or stay inside its unit).
LAYER = {"entry": 5, "cli": 4, "workflows": 3, "viewer": 3, "deploy": 2, **dict.fromkeys(CORE, 1), "base": 0}

#: Arrows allowed between two science-core packages (importer, imported).
CORE_ALLOWED = {
    ("report", "stats"),  # report.tables builds its tables from stats.composition / stats.particles
    ("synthetic", "registration"),  # synthetic.face places a section plane with registration.geometry
}

#: Arrows that break a rule today, (importer module, imported module); being removed by
#: other branches of issue 14 (io -> labels: minerals tables; synthetic.fragments -> deploy:
#: the fragment images move into deploy). The lead empties this after the merge.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _modules() -> dict[str, tuple[Path, bool]]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest liberation module that ``name`` (a module or module.attribute) names."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> set[tuple[str, str]]:
    """Arrows (importer, imported) between liberation modules."""
    edges = set()
    for module, (path, is_package) in MODULES.items():
        package = module if is_package else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] != "liberation":
                    continue
                resolved = _resolve(target)
                if resolved is not None and resolved != module:
                    edges.add((module, resolved))
    return edges


def unit(module: str) -> str:
    """The unit of a module: entry, base, or its subpackage under liberation."""
    if module == "liberation.__main__":
        return "entry"
    if module in BASE:
        return "base"
    # a subpackage; a top-level module not listed in BASE becomes a unit of its own, without a layer
    return module.split(".")[1]


EDGES = import_graph()


def _violations() -> dict[tuple[str, str], str]:
    found = {}
    for importer, imported in sorted(EDGES):
        a, b = unit(importer), unit(imported)
        if a == b:
            continue
        if a not in LAYER or b not in LAYER:
            found[(importer, imported)] = f"unit {a if a not in LAYER else b!r} has no layer (add it to LAYER)"
        elif b == "cli" and a != "entry":
            found[(importer, imported)] = "(b) only the entry point imports cli"
        elif b == "deploy" and a in CORE + ("base",):
            found[(importer, imported)] = "(c) the core imports liberation.deploy"
        elif b == "workflows" and a in CORE + ("base",):
            found[(importer, imported)] = "(b) the core imports workflows"
        elif LAYER[b] > LAYER[a]:
            found[(importer, imported)] = f"(b) arrow upwards: {a} (layer {LAYER[a]}) -> {b} (layer {LAYER[b]})"
        elif a in CORE and b in CORE and (a, b) not in CORE_ALLOWED:
            found[(importer, imported)] = f"(d) core package {a} imports core package {b}"
    return found


def test_graph_is_not_empty():
    # guards against a parser that silently finds nothing
    assert ("liberation.__main__", "liberation.cli") in EDGES
    assert any(unit(a) == "report" and unit(b) == "stats" for a, b in EDGES)


def test_every_unit_has_a_layer():
    units = {unit(m) for m in MODULES}
    assert units <= set(LAYER), f"units without a layer: {units - set(LAYER)}"


def test_no_cycles_between_units():
    graph: dict[str, set[str]] = {}
    for importer, imported in EDGES:
        a, b = unit(importer), unit(imported)
        if a != b and (importer, imported) not in KNOWN_VIOLATIONS:
            graph.setdefault(a, set()).add(b)
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, path + [nxt])

    seen: set[str] = set()
    for start in sorted(graph):
        if start not in seen:
            seen.add(start)
            visit(start, [start])
    assert not cycles, "import cycles between units: " + "; ".join(" -> ".join(c) for c in cycles)


def test_layering_and_core_rules():
    found = _violations()
    new = {edge: why for edge, why in found.items() if edge not in KNOWN_VIOLATIONS}
    assert not new, "import rules broken:\n" + "\n".join(f"  {a} -> {b}: {why}" for (a, b), why in sorted(new.items()))


def test_known_violations_still_exist():
    """A fixed violation must leave KNOWN_VIOLATIONS, so the list only shrinks."""
    gone = KNOWN_VIOLATIONS - set(_violations())
    assert not gone, f"fixed, remove from KNOWN_VIOLATIONS: {sorted(gone)}"


@pytest.mark.parametrize("module", [m for m in BASE if m in MODULES])
def test_base_imports_only_base(module):
    bad = sorted(b for a, b in EDGES if a == module and unit(b) != "base")
    assert not bad, f"{module} is a base module but imports {bad}"
