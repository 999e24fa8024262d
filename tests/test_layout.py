"""The package's layout: no import circles (function-level imports counted), and heavy imports only behind their verb."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from posenet_cls.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "posenet_cls"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file (top level or inside functions)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for target in targets:
                while target and target not in modules and "." in target:
                    target = target.rpartition(".")[0]
                if target in modules and target != name:
                    deps.add(target)
        graph[name] = deps
    # The CLI loads every verb by name (importlib): an edge like any other.
    graph.setdefault("posenet_cls.cli", set()).update(m for m in modules if m.startswith("posenet_cls.commands."))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), and modules that import themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_module_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "posenet_cls"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from posenet_cls.sub.b import f\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .a import g\n")
    assert cycles(import_graph(pkg)) == [["posenet_cls.sub.a", "posenet_cls.sub.b"]]


HEAVY = ("torch", "pytorch_lightning", "onnxruntime", "mediapipe", "sklearn", "matplotlib")


def _loaded(code: str) -> set[str]:
    """Which heavy libraries a fresh interpreter has in sys.modules after running ``code``."""
    probe = (f"import sys\n{code}\n"
             f"print('loaded:', *sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    return set(out.stderr.strip().splitlines()[-1].split()[1:])


@pytest.mark.parametrize("code, allowed", [
    ("import posenet_cls.runtime", {"onnxruntime"}),  # the runtime: numpy and onnxruntime alone
    ("import posenet_cls.features", set()),  # the numpy features
    ("import posenet_cls.training.novelty, posenet_cls.coaching.hints, posenet_cls.coaching.exercises", set()),
    ("from posenet_cls.cli import build_parser; build_parser()", set()),
    ("from posenet_cls.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass", set()),
    ("from posenet_cls.cli import main\ntry:\n    main(['predict', '--help'])\nexcept SystemExit:\n    pass", set()),
])
def test_import_cost_follows_the_verb(code, allowed):
    assert _loaded(code) <= allowed
