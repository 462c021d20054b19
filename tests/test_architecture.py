"""The layers as contracts, read from the syntax trees of vidkit/ and pipelines/ (every import counts,
function-local ones included):

- utils, errors and the package's own __init__ at the bottom; then io, models and viz, which do not
  import each other; then data,
  engine, bench; then the jobs (vidkit.pipelines); vidkit.cli on top. An import may only point down
  or stay inside its own package.
- Only vidkit.cli and vidkit.__main__ import the jobs.
- No import cycles anywhere.
- No job branches on a model's kind or imports a model family: the model's task
  (vidkit.engine.tasks) knows how it is fed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS = {
    "vidkit.utils": 0,
    "vidkit.errors": 0,
    "vidkit.configs": 0,
    "vidkit.io": 1,
    "vidkit.models": 1,
    "vidkit.viz": 1,  # drawing on frames: numpy and Pillow only
    "vidkit.data": 2,
    "vidkit.engine": 3,
    "vidkit.bench": 4,
    "vidkit.features": 4,  # the extract output's loader: reads the engine's feature files
    "vidkit.ray": 4,  # tagging and extraction on Ray Data (the optional extra): the engine's parts in Ray stages
    "vidkit.pipelines": 5,
    "vidkit.cli": 6,
    "vidkit.__main__": 7,
    "vidkit": 0,  # the package's __init__: the version and the base errors
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] in ("pipelines", "configs"):  # shipped as vidkit.pipelines, vidkit.configs
        parts = ["vidkit", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in ("vidkit", "pipelines") for p in (ROOT / top).rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    """Module -> the vidkit modules it imports (``from package import module`` names the module)."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(known(a.name) for a in node.names if a.name.startswith("vidkit"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                if base.split(".")[0] != "vidkit":
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in modules else known(base))
        found.discard(None)
        found.discard(name)
        graph[name] = found
    return graph


def _layer(module: str) -> tuple[str, int]:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module}: in no layer; add its package to LAYERS")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_imports_point_down_the_layers():
    wrong = []
    for module, imports in sorted(_graph().items()):
        package, level = _layer(module)
        for imported in sorted(imports):
            their_package, their_level = _layer(imported)
            if their_level > level or (their_level == level > 0 and their_package != package):
                wrong.append(f"{module} -> {imported}")
    assert wrong == []


def test_only_the_command_line_imports_the_jobs():
    wrong = [
        f"{module} -> {imported}"
        for module, imports in sorted(_graph().items())
        for imported in sorted(imports)
        if _layer(imported)[0] == "vidkit.pipelines" and _layer(module)[0] not in ("vidkit.pipelines", "vidkit.cli")
    ]
    assert wrong == []


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_jobs_ask_the_task_instead_of_branching_on_a_model():
    found = []
    for path in sorted((ROOT / "pipelines").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and node.attr in ("input_kind", "sampling", "input_channels"):
                found.append(f"{where}: .{node.attr}")
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "task" for side in (node.left, *node.comparators)
            ):
                found.append(f"{where}: a comparison with .task")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vidkit.models."):
                found.append(f"{where}: from {node.module} import ...")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vidkit.engine.tasks."):
                found.append(f"{where}: from {node.module} import ... (a task by name)")
    assert found == []
