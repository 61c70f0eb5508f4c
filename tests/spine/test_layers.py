"""Layers point down and the repository stands alone, checked at the source level."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


UPPER = ("baselines", "leaderboard_app", "simulation", "adapters")  # packages that build on the evaluator


def _modules(folder: str):
    return sorted((REPO / folder).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, by statement or by importlib.import_module("...")."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def test_the_evaluator_never_imports_baselines():
    offenders = {str(p.relative_to(REPO)): sorted(n for n in _imported(p) if n.split(".")[0] == "baselines")
                 for p in _modules("evaluator")}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_only_the_cli_names_other_packages():
    """The command table is the top layer: it is the one evaluator module that names
    `baselines`, `simulation`, `adapters` and `leaderboard_app` (as lazy "module:attribute" strings)."""
    naming = [str(p.relative_to(REPO)) for p in _modules("evaluator")
              if any(f'"{pkg}.' in p.read_text() for pkg in UPPER)]
    assert naming == ["evaluator/cli.py"], naming


def test_the_evaluator_imports_no_package_above_it():
    offenders = {str(p.relative_to(REPO)): sorted(n for n in _imported(p) if n.split(".")[0] in UPPER)
                 for p in _modules("evaluator")}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_the_task_producers_sit_beside_each_other_on_the_evaluator():
    """adapters/ and simulation/ produce tasks: they use the evaluator's task API (and nothing
    of the baselines or the app), and neither needs the other."""
    assert not (REPO / "evaluator" / "adapters").exists()
    for producer, sibling in (("adapters", "simulation"), ("simulation", "adapters")):
        names = {n for p in _modules(producer) for n in _imported(p)}
        assert "evaluator.tasks" in names, producer
        assert not any(n.split(".")[0] in ("baselines", "leaderboard_app", sibling) for n in names), (producer, names)


def test_the_sandbox_and_the_baselines_share_the_architecture_registry():
    assert "evaluator.architectures" in _imported(REPO / "evaluator" / "sandbox" / "child.py")
    users = [p for p in _modules("baselines") if any(n.startswith("evaluator.architectures") for n in _imported(p))]
    assert users, "baselines/ builds its models from evaluator.architectures"
    arch = {n for p in _modules("evaluator/architectures") for n in _imported(p)}
    assert not any(n.split(".")[0] in UPPER for n in arch), arch


def test_nobody_reaches_into_the_store_connection():
    outside = [str(p.relative_to(REPO)) for folder in ("evaluator", "leaderboard_app", "baselines")
               for p in _modules(folder) if ".db.conn" in p.read_text() and "evaluator/store/" not in str(p)]
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


@pytest.mark.parametrize("module", ["evaluator.commands", "evaluator.scoring_commands", "evaluator.hosted_cli"])
def test_a_command_module_imports_on_its_own(module):
    """No import cycle through the CLI: a command module imported first (a script, a test) loads."""
    import os
    import sys

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
