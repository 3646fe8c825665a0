"""The package's layout: two wings, imports running one way (issue 20).

What this is: the import graph of ``mnist_cnn``, read from the source with
:mod:`ast` (nothing is imported), and the rules of the layout in
``mnist_cnn/__init__.py`` asserted on it:

* the reader's package never imports the workshop, ``mnist_cnn.book``;
* ``reference/`` imports nothing of ``fast/`` (nor of ``train/``, ``book/``);
* no import runs back up the layers of :data:`LAYERS`;
* no cycle of files, and no cycle of units (the subpackages and the root's modules).

Every import counts, at the top of a file or inside a function. Run as a script,
``python tests/test_layout.py [ROOT]``, it prints the measurements of the closing
note of issue 20: modules, imports, imports running back up, cycles of files and
of units, lines per wing and imports inside functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The units, bottom to top: a unit may import units of its own layer or below, never above.
LAYERS = (
    ("tools", "validate", "architecture"),
    ("reference", "data"),
    ("fast", "verify"),
    ("train",),
    ("plots", "animations"),
    ("book",),
)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module of ``mnist_cnn`` (a package is its ``__init__``)."""
    out = {}
    for path in sorted((root / "mnist_cnn").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
    return False


def imports(root: Path = ROOT) -> list[tuple[str, str, bool, int]]:
    """Every import of one module of the package by another.

    Returns
    -------
    list of (importer, imported, inside_function, line)
        ``from a.b import c`` counts as an import of ``a.b.c`` if that is a module,
        else of ``a.b``.
    """
    mods = modules(root)
    edges = set()
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base
                           for alias in node.names]
            for target in targets:
                while target and target not in mods:  # import a.b.c of a package a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add((name, target, _in_function(node, parents), node.lineno))
    return sorted(edges)


def unit(module: str) -> str:
    """``mnist_cnn.reference.layers`` -> ``reference``; the root package is ``__init__``.

    The units are the folders (subpackages) and the root's single-file modules
    (``architecture``, ``validate``, ``plots``, ``animations``), each a unit of its own.
    """
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(name: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if name in names:
            return i
    return None


def upward(edges) -> list[tuple[str, str, int]]:
    """Imports from a unit to a unit of a higher layer of :data:`LAYERS`."""
    out = []
    for a, b, _, line in edges:
        la, lb = layer_of(unit(a)), layer_of(unit(b))
        if la is not None and lb is not None and lb > la:
            out.append((a, b, line))
    return out


# --------------------------------------------------------------------------- the rules

EDGES = imports()


def test_the_readers_package_never_imports_the_workshop():
    wrong = [(a, b, line) for a, b, _, line in EDGES
             if unit(a) != "book" and unit(b) == "book"]
    assert wrong == []


def test_reference_imports_nothing_of_fast_train_or_book():
    wrong = [(a, b, line) for a, b, _, line in EDGES
             if unit(a) == "reference" and unit(b) in ("fast", "train", "book")]
    assert wrong == []


def test_every_unit_has_a_layer():
    assert {unit(m) for m in modules()} - {"__init__"} <= {u for names in LAYERS for u in names}


def test_no_import_runs_back_up():
    assert upward(EDGES) == []


def test_no_cycle_of_files_or_units():
    assert cycles({(a, b) for a, b, _, _ in EDGES}) == []
    assert cycles({(unit(a), unit(b)) for a, b, _, _ in EDGES if unit(a) != unit(b)}) == []


# --------------------------------------------------------------------------- the measurements


def report(root: Path = ROOT) -> str:
    """The figures of the closing note, one per line."""
    mods = modules(root)
    edges = imports(root)
    pairs = {(a, b) for a, b, _, _ in edges}
    units = {(unit(a), unit(b)) for a, b in pairs if unit(a) != unit(b)}
    lines = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in mods.items()}
    workshop = sum(n for m, n in lines.items() if unit(m) == "book")
    inside = [(a, b, line) for a, b, f, line in edges if f]
    # every import statement inside a function, of the package or not (stdlib, numpy, torch)
    stmts = 0
    for path in mods.values():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        stmts += sum(isinstance(n, (ast.Import, ast.ImportFrom)) and _in_function(n, parents)
                     for n in ast.walk(tree))
    out = [
        f"modules: {len(mods)} in {len({unit(m) for m in mods})} units",
        f"imports between modules (distinct pairs): {len(pairs)}",
        f"layers: {len(LAYERS)} " + " < ".join("/".join(names) for names in LAYERS),
        f"imports running back up: {len(upward(edges))} "
        + "; ".join(f"{a} -> {b}:{line}" for a, b, line in upward(edges)),
        f"cycles of files: {cycles(pairs)}",
        f"cycles of units: {cycles(units)}",
        "reader's package -> book: "
        f"{sum(unit(a) != 'book' and unit(b) == 'book' for a, b in pairs)}",
        f"reference -> fast: {sum(unit(a) == 'reference' and unit(b) == 'fast' for a, b in pairs)}",
        f"lines: reader's package {sum(lines.values()) - workshop}, workshop (book/) {workshop}",
        f"import statements inside functions: {stmts} ({len(inside)} of the package's own modules)",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        ROOT = Path(sys.argv[1]).resolve()
    print(report(ROOT))
