"""The package's shape: no import cycles among rlscaling modules, no upward imports between its layers,
and a workflow that passes `snakemake --lint`.

Imports are read with `ast` from src/rlscaling (function-level imports included: they still tie two
modules together, they only defer the cost), and so are imports by name: `importlib.import_module("...")`
(or `import_module` imported from importlib) and `__import__("...")` with a literal module name. An
edge goes to the module imported, not to the packages around it, so `from rlscaling.fit.data import X`
is an edge to rlscaling.fit.data only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from rlscaling.paths import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"

# Layers, lowest first: a module may import its own layer and those below, never one above.
# Top-level names (a module or a package with everything under it).
LAYERS: dict[str, tuple[str, ...]] = {
    "foundation": (
        "errors",
        "paths",
        "io",
        "compute",
        "passk",
        "schema",
        "curves_table",
        "rows",
        "checkpoint",
        "environments",
        "lifecycle",
        "tracking",
    ),
    "domain": (
        "rewards",
        "data",
        "models",
        "sampling",
        "tokenizer",
        "fit",
        "resources",
        "base_cache",
        "verdicts",
        "training_health",
    ),
    "stages": (
        "tokenizer_cli",
        "pretrain",
        "pretrain_cli",
        "train",
        "evaluate",
        "curves",
        "curves_import",
        "curves_cli",
    ),
    "outputs": ("figures", "report", "robustness", "robustness_cli", "identify_power", "identify_power_cli"),
    "entry": ("config", "config_checks", "config_cli", "segment_cli", "cli", "__main__"),
}
# Rooms of one layer that must stay apart (importer -> imported), beyond the layer order.
APART: tuple[tuple[str, str], ...] = (
    ("fit", "data"), ("fit", "rewards"), ("fit", "models"), ("data", "fit"), ("rewards", "fit"),
    ("rewards", "data"),
    ("train", "evaluate"), ("evaluate", "train"), ("figures", "report"), ("report", "figures"),
)  # fmt: skip
# Cycles the tree has today, each with its reason and owner. An entry is an expected failure: when its
# cycle is gone, test_every_known_cycle_still_exists says so, and the entry must go.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def modules(src: Path = SRC) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package __init__) of every module under src/rlscaling."""
    out = {}
    for path in sorted((src / "rlscaling").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the rlscaling modules it imports anywhere in its code."""
    mods = modules(src)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        package = name if is_pkg else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            by_name = imported_by_name(node)
            if by_name is not None:
                if by_name.split(".")[0] == "rlscaling":
                    targets.add(known(by_name))
            elif isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names if a.name.split(".")[0] == "rlscaling")
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from .x import y
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                if base.split(".")[0] != "rlscaling":
                    continue
                for alias in node.names:  # `from pkg import submodule` imports the submodule
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in mods else known(base))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def imported_by_name(node: ast.AST) -> str | None:
    """The module a call imports by name, `importlib.import_module("a.b")`, `import_module("a.b")` or
    `__import__("a.b")`, when its first argument is a literal; else None."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    first = node.args[0]
    if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
        return first.value if isinstance(first.value, str) else None
    return None


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def room(module: str) -> str:
    """The top-level name under rlscaling: rlscaling.fit.kn -> fit (the package itself: '')."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> int:
    name = room(module)
    for rank, members in enumerate(LAYERS.values()):
        if name in members:
            return rank
    raise AssertionError(f"{module}: its room {name!r} is in no layer of tests/test_architecture.py LAYERS")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_function_level_relative_and_submodule_imports(tmp_path):
    pkg = tmp_path / "rlscaling"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__", "a", "b", "c", "sub/__init__", "sub/d"):
        (pkg / f"{name}.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from rlscaling import b\n")  # function level, a submodule
    (pkg / "sub" / "d.py").write_text("from ..c import X\nfrom . import e\n")  # relative; e is no module
    (pkg / "c.py").write_text("import rlscaling.sub.d\nfrom rlscaling.sub.d import Y\n")
    graph = import_graph(tmp_path)
    assert graph["rlscaling.a"] == {"rlscaling.b"}
    assert graph["rlscaling.sub.d"] == {"rlscaling.c", "rlscaling.sub"}
    assert graph["rlscaling.c"] == {"rlscaling.sub.d"}
    assert cycles(graph) == {frozenset({"rlscaling.c", "rlscaling.sub.d"})}


def test_the_graph_sees_imports_by_name(tmp_path):
    pkg = tmp_path / "rlscaling"
    pkg.mkdir()
    for name in ("__init__", "a", "b", "c", "d"):
        (pkg / f"{name}.py").write_text("")
    (pkg / "a.py").write_text(
        "import importlib\n\ndef f():\n    return importlib.import_module('rlscaling.b')\n"
    )
    (pkg / "b.py").write_text("from importlib import import_module\n\nM = import_module('rlscaling.c')\n")
    (pkg / "c.py").write_text("M = __import__('rlscaling.a')\nN = __import__('json')\n")
    (pkg / "d.py").write_text("import importlib\n\ndef f(name):\n    return importlib.import_module(name)\n")
    graph = import_graph(tmp_path)
    assert graph["rlscaling.a"] == {"rlscaling.b"}
    assert graph["rlscaling.b"] == {"rlscaling.c"}
    assert graph["rlscaling.c"] == {"rlscaling.a"}
    assert graph["rlscaling.d"] == set()  # a name known only at run time is no edge
    assert cycles(graph) == {frozenset({"rlscaling.a", "rlscaling.b", "rlscaling.c"})}


def test_cycles_are_found_through_function_level_imports():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_no_import_cycles(graph):
    new = cycles(graph) - set(KNOWN_CYCLES)
    assert not new, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in new)


def test_every_known_cycle_still_exists(graph):
    gone = set(KNOWN_CYCLES) - cycles(graph)
    assert not gone, "no longer a cycle, remove from KNOWN_CYCLES: " + "; ".join(
        " <-> ".join(sorted(c)) for c in gone
    )


def test_every_room_is_in_a_layer(graph):
    for module in graph:
        if room(module):
            layer_of(module)


def test_no_upward_imports(graph):
    upward = [
        f"{m} -> {t}"
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if room(m) and room(t) and layer_of(t) > layer_of(m)
    ]
    assert not upward, "imports of a higher layer: " + ", ".join(upward)


def test_rooms_that_stay_apart_do(graph):
    crossing = [
        f"{m} -> {t}"
        for m, targets in sorted(graph.items())
        for t in sorted(targets)
        if (room(m), room(t)) in APART
    ]
    assert not crossing, ", ".join(crossing)


def test_nothing_under_fit_imports_training_or_evaluation(graph):
    """The analysis side reads tables; it never needs the engines."""
    for m, targets in graph.items():
        if room(m) in ("fit", "figures", "report", "curves"):
            assert not {t for t in targets if room(t) in ("train", "evaluate", "pretrain")}, m


@pytest.mark.slow
def test_the_workflow_passes_snakemake_lint():
    snakemake = str(Path(sys.executable).parent / "snakemake")
    proc = subprocess.run(
        [snakemake, "--lint"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
