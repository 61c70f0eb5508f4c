"""Layers point one way, checked on the source (AST) of every module.

The layers, bottom to top (a module may import its own layer's packages' modules and any layer
below; the producers are siblings and import neither each other):

    sonobench.kernel                         errors, registry, settings, environment, paths, CLI helpers
    sonobench.zoo                            the model zoo (torch modules, their registry)
    sonobench.evaluator                      tasks, submissions, sandbox, metrics, store, queue, ranking
    sonobench.simulation | sonobench.adapters | sonobench.data
                                             the task producers; the public data API and exports
    sonobench.baselines                      training and the committed references
    sonobench.leaderboard_app                the web app
    sonobench.cli                            the command table: the composition root

An import is any `import`/`from` statement (at module level or inside a function: a lazy import
is still a dependency) and any `importlib.import_module("...")` of a constant name; the command
table's "module:attribute" strings (`sonobench.cli.table`) are read as imports of the module that
loads them: LAZY_COMMANDS of `sonobench.cli` (its lazy group), LAZY_HOOKS of `sonobench.cli.table`.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = (
    ("sonobench.kernel",),
    ("sonobench.zoo",),
    ("sonobench.evaluator",),
    ("sonobench.simulation", "sonobench.adapters", "sonobench.data"),
    ("sonobench.baselines",),
    ("sonobench.leaderboard_app",),
    ("sonobench.cli",),
)
FOLDERS = {"sonobench.kernel": "sonobench/kernel", "sonobench.zoo": "sonobench/zoo", "sonobench.cli": "sonobench/cli",
           "sonobench.data": "sonobench/data",
           "sonobench.evaluator": "evaluator", "sonobench.simulation": "simulation", "sonobench.adapters": "adapters",
           "sonobench.baselines": "baselines", "sonobench.leaderboard_app": "leaderboard_app"}
LEVEL = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
def _modules() -> dict[str, Path]:
    """Every module of the namespace by its dotted name."""
    out = {}
    for pkg, folder in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = path
    out["sonobench"] = REPO / "sonobench" / "__init__.py"
    return out


MODULES = _modules()


def _package(name: str) -> str | None:
    return next((p for p in FOLDERS if name == p or name.startswith(p + ".")), None)


def _command_table(which: tuple[str, ...] = ("LAZY_COMMANDS", "LAZY_HOOKS")) -> set[str]:
    from sonobench.cli import table

    return {v.partition(":")[0] for name in which for v in getattr(table, name).values()}


def _imports(name: str, path: Path) -> set[str]:
    """The modules `name` imports (statements, import_module of a constant; relative resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    base_pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = base_pkg
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{node.module}" if node.module else pkg
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    if name == "sonobench.cli":
        found |= _command_table(("LAZY_COMMANDS",))
    if name == "sonobench.cli.table":
        found |= _command_table(("LAZY_HOOKS",))
    return found


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


GRAPH = {m: {r for n in _imports(m, p) if (r := _resolve(n)) and r != m} for m, p in MODULES.items()}


def test_every_project_import_uses_the_namespace():
    """No module imports `evaluator`, `simulation`, ... as top-level names: installed, they exist
    only as `sonobench.<package>` (a bare name would work in a checkout and fail from the wheel)."""
    bare = {"evaluator", "simulation", "adapters", "baselines", "leaderboard_app", "splits"}
    files = [*MODULES.values(), *REPO.glob("tests/**/*.py"), *REPO.glob("benchmarks/*.py"),
             *REPO.glob("examples/*.py"), *REPO.glob("scripts/*.py")]
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in bare]
    assert not offenders, offenders


def test_no_package_imports_one_above_it_or_its_sibling():
    upward = []
    for mod, targets in GRAPH.items():
        src = _package(mod)
        for t in targets:
            dst = _package(t)
            if src and dst and src != dst and LEVEL[dst] >= LEVEL[src]:
                upward.append(f"{mod} -> {t}")
    assert not upward, upward


def test_the_command_table_names_modules_that_exist_in_the_layers_it_assembles():
    names = _command_table()
    assert names and all(_resolve(n) == n for n in names), names
    assert {_package(n) for n in names} >= {"sonobench.simulation", "sonobench.adapters", "sonobench.baselines",
                                           "sonobench.leaderboard_app"}


def _circles() -> set[frozenset]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), set(), [0]
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(GRAPH[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.add(frozenset(comp))
    return out


def test_no_import_circle():
    circles = _circles()
    assert not circles, sorted(sorted(c) for c in circles)


def test_the_circle_finder_sees_a_circle_and_an_upward_import():
    saved = dict(GRAPH)
    try:
        GRAPH["sonobench.kernel.errors"] = {"sonobench.kernel.registry"}  # registry imports errors
        assert frozenset({"sonobench.kernel.errors", "sonobench.kernel.registry"}) in _circles()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
    assert _package("sonobench.evaluator.tasks") == "sonobench.evaluator"
    assert LEVEL["sonobench.cli"] > LEVEL["sonobench.leaderboard_app"] > LEVEL["sonobench.evaluator"]


def test_the_sandbox_and_the_trainer_build_models_from_the_zoo():
    assert "sonobench.zoo" in GRAPH["sonobench.evaluator.sandbox.child"] or any(
        t.startswith("sonobench.zoo") for t in GRAPH["sonobench.evaluator.sandbox.child"])
    assert any(t.startswith("sonobench.zoo") for m, ts in GRAPH.items() if m.startswith("sonobench.baselines")
               for t in ts)


def test_the_largest_package_holds_under_45_percent_of_the_source_lines():
    lines = {pkg: sum(len(p.read_text().splitlines()) for p in (REPO / folder).rglob("*.py"))
             for pkg, folder in FOLDERS.items()}
    total = sum(lines.values())
    biggest = max(lines, key=lines.get)
    assert lines[biggest] / total < 0.45, {k: f"{v} ({v / total:.0%})" for k, v in lines.items()}


def test_nobody_reaches_into_the_store_connection():
    outside = [str(p.relative_to(REPO)) for m, p in MODULES.items()
               if ".db.conn" in p.read_text() and not m.startswith("sonobench.evaluator.store")]
    assert not outside, outside


def test_no_file_refers_to_documents_outside_the_repository():
    if not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to list the tracked files")
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    needles = ("DESIGN" + ".md", "STYLE" + ".md", "../" + "shared")
    hits = []
    for name in files:
        path = REPO / name
        if path.suffix in (".py", ".md", ".toml", ".txt", ".sh", ".json", "") and path.is_file():
            text = path.read_text(errors="ignore")
            hits += [f"{name}: {n}" for n in needles if n in text]
    assert not hits, hits


@pytest.mark.parametrize("module", ["sonobench.cli.commands", "sonobench.cli.scoring_commands", "sonobench.cli.hosted"])
def test_a_command_module_imports_on_its_own(module):
    """A command module imported first (a script, a test) loads."""
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
