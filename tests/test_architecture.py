"""The package's shape: data flows top-down (no import cycle, no import from a lower layer into a higher one), the
library reaches `data_recipes` through one registry, and the size rules hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "emollm"
# Layers, lowest first: a module may import its own layer and the ones below, never one above.
LAYERS = [
    (
        "emollm.io",
        "emollm.faults",
        "emollm.precision",
        "emollm.config",
        "emollm.labels",
        "emollm.hub",
        "emollm.resources",
        "emollm.prompts",
        "emollm.parse",
        "emollm.prior_adjustment",
    ),
    ("emollm.data", "emollm.encoders", "emollm.cues", "emollm.asr", "emollm.testing"),
    ("emollm.model", "emollm.generate"),
    (
        "emollm.checkpoint",
        "emollm.run_state",
        "emollm.train",
        "emollm.train_data",
        "emollm.extract",
        "emollm.rationale",
        "emollm.export",
    ),
    ("emollm.evaluation", "emollm.baselines"),
    ("emollm.experiments", "emollm.serve"),
    ("emollm.cli", "emollm.__main__"),
]
FACADE = {"emollm"}  # `emollm.load` defers its import so `import emollm` stays light


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[bool, bool]:
    """(inside `if TYPE_CHECKING:`, inside a function)."""
    typing_only = in_function = False
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only = True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function = True
    return typing_only, in_function


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, bool, int]]:
    """(imported emollm/data_recipes module, inside a function, line) for every import that runs."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            targets = [t for t in targets if t == node.module or t in modules]
        else:
            continue
        typing_only, in_function = _guarded(node, parents)
        for target in targets:
            if not typing_only and target.split(".")[0] in ("emollm", "data_recipes"):
                found.append((target, in_function, node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    """Module -> emollm modules it runs on import (including the packages that importing a submodule runs)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target, in_function, _ in _imports(path, modules):
            if in_function or not target.startswith("emollm"):
                continue
            parts = target.split(".")
            edges |= {".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in modules}
        # a submodule's own ancestor packages are already being imported when it runs: not an edge
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = edges - {name} - ancestors
    return graph


def _layer(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in _modules() if m not in FACADE and _layer(m) is None)
    assert not missing, f"modules without a layer in tests/test_architecture.py: {missing}"


def test_no_import_cycle() -> None:
    graph, state, stack = _graph(), {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_import_from_a_higher_layer() -> None:
    modules = _modules()
    upward = []
    for name, path in modules.items():
        if name in FACADE:
            continue
        for target, _, line in _imports(path, modules):
            if target.startswith("emollm") and target not in FACADE and _layer(target) > _layer(name):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not upward, "\n".join(upward)


def test_library_reaches_recipes_and_its_own_modules_only_through_the_front_doors() -> None:
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        for target, in_function, line in _imports(path, modules):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if target.startswith("data_recipes") and name != "emollm.data.recipes":
                offenders.append(where + " (use emollm.data.recipes)")
            deferred_ok = name in FACADE or name.startswith("emollm.cli") or name == "emollm.data.recipes"
            if in_function and target.startswith("emollm") and not deferred_ok:
                offenders.append(where + " inside a function (import at the top of the module)")
    assert not offenders, "\n".join(offenders)


def test_shipped_data_is_found_through_one_lookup() -> None:
    users = [
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if "parent.parent" in p.read_text() and p.name != "resources.py"
    ]
    assert not users, f"paths relative to the source tree outside emollm/resources.py: {users}"


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        if text.count("\n") > 420:
            too_long.append(f"{path.relative_to(PACKAGE.parent)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.end_lineno - node.lineno >= 66
            ):
                too_long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not too_long, "\n".join(too_long)
