"""The metric registry (evaluator/metrics/info.py) is the one list of metrics: no module
outside evaluator/metrics/ spells the list (or a per-metric block of columns) itself.

Checked on the syntax tree of every module: a literal tuple/list/set or dict keys naming two
or more registered metrics, an SQL/text string naming two metrics' columns, or one simple
statement whose strings name two metrics' columns (a hand-written print or row block)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sonobench.evaluator.metrics import METRICS

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("evaluator", "leaderboard_app", "baselines", "simulation", "adapters")
# Frozen history: a migration states the schema as it was when it ran; it must never follow
# the registry (a later metric would change what an old migration does).
EXEMPT = {"evaluator/store/migrations.py"}
NAMES = set(METRICS.names())
_COLUMN = re.compile(r"\b(?:(?:train|val|test)_(?:test_)?)?(" + "|".join(sorted(NAMES)) +
                     r")(?:_(?:mean|std|ci_low|ci_high|n|ema))?\b")
_SIMPLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return)


def _strings(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _metrics_named(strings) -> set[str]:
    """Registered metrics a group of strings names, as a name or one of its columns."""
    found = set()
    for s in strings:
        if s in NAMES:
            found.add(s)
        elif len(s) <= 40 and (m := _COLUMN.fullmatch(s)):
            found.add(m.group(1))
    return found


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    for node in ast.walk(tree):
        if id(node) in docstrings or (isinstance(node, ast.Expr) and id(node.value) in docstrings):
            continue  # prose (docstrings) may name metrics; the check is about code
        where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            named = _metrics_named(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
            if len(named) >= 2:
                out.append(f"{where}: literal list of {sorted(named)}")
        elif isinstance(node, ast.Dict):
            named = _metrics_named(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
            if len(named) >= 2:
                out.append(f"{where}: dict keyed by {sorted(named)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 40:
            named = {m.group(1) for m in _COLUMN.finditer(node.value) if m.group(0) != m.group(1)}
            if len(named) >= 2:
                out.append(f"{where}: text naming the columns of {sorted(named)}")
        elif isinstance(node, _SIMPLE):
            named = _metrics_named(_strings(node))
            if len(named) >= 2:
                out.append(f"{where}: one statement spelling out {sorted(named)}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A block of statements, one per metric (`res['dice_mean']`, then `res['iou_mean']`).
            named = _columns_named(s for n in node.body for s in _strings(n) if id(n) not in docstrings
                                   and not (isinstance(n, ast.Expr) and id(n.value) in docstrings))
            if len(named) >= 2:
                out.append(f"{where}: function {node.name} spells the columns of {sorted(named)}")
    return out


def _columns_named(strings) -> set[str]:
    """Registered metrics whose result/history columns (dice_mean, val_iou, ...) the strings name."""
    return {m.group(1) for s in strings if len(s) <= 40 and (m := _COLUMN.fullmatch(s)) and m.group(0) != m.group(1)}


def _modules():
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = str(path.relative_to(REPO))
            if not rel.startswith("evaluator/metrics/") and rel not in EXEMPT:
                yield path


def test_no_module_outside_the_registry_spells_the_metric_list():
    offences = [o for p in _modules() for o in _offences(p)]
    assert not offences, "\n".join(offences)


@pytest.mark.parametrize("source", [
    'COLS = ("dice", "iou", "hd95")',
    'row = {"dice": 1, "nsd": 2}',
    'SQL = "select r.dice_mean, r.iou_mean, r.hd95_mean from results r where 1"',
    'print(f"Dice {r[\'dice_mean\']:.3f} IoU {r[\'iou_mean\']:.3f}")',
    'def show(r):\n    a(r["dice_mean"])\n    b(r["iou_ci_low"])',
])
def test_the_check_catches_a_hand_written_list(tmp_path, source):
    path = REPO / "evaluator" / "_probe_for_test.py"  # must sit under REPO for relative paths
    try:
        path.write_text(source + "\n")
        assert _offences(path)
    finally:
        path.unlink()


def test_one_metric_by_name_is_not_a_list(tmp_path):
    path = REPO / "evaluator" / "_probe_for_test.py"
    try:
        path.write_text('primary = spec.get("primary_metric", "dice")\nunit = METRICS.get("hd95").unit\n')
        assert not _offences(path)
    finally:
        path.unlink()


def test_the_registry_functions_and_the_count_based_scorers_agree():
    from sonobench.evaluator.metrics import Computation, count_metrics, metric_names, summary_columns

    # the registry entry carries the scorer: every count-based metric has its counts function
    assert count_metrics() and all(METRICS.get(m).computed is Computation.COUNTS and callable(METRICS.get(m).fn)
                                   for m in count_metrics())
    assert set(metric_names()) == NAMES
    assert len(summary_columns()) == len(set(summary_columns()))
