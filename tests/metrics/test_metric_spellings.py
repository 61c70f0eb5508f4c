"""Guard: a single metric is named in code only by the registry (evaluator/metrics/info.py, its
entries; evaluator/metrics/defaults.py, the default primary metric and the named boards) and by
the places declared below, each with the names it may spell and why.

Checked on the syntax tree of every module of the packages: a string literal (not a docstring,
not an `__all__` entry naming a function) that is a registered metric's name ("dice", "hd95") or
one of its result columns ("dice_mean", "specificity_n"). Code reaches a metric through the
registry (`METRICS`, `per_case_metrics()`, a task's `primary_metric`, `DEFAULT_PRIMARY_METRIC`),
so a new metric needs no edit here, and "dice" as the default is written once. The companion
check of whole lists of metrics is tests/spine/test_metric_registry_drives.py."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sonobench.evaluator.metrics import METRICS, metric_names

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("evaluator", "leaderboard_app", "baselines", "simulation", "adapters", "splits", "scripts")
REGISTRY = {"evaluator/metrics/info.py", "evaluator/metrics/defaults.py"}
# path -> (the metric names or columns it may spell, why). A listed name that a file no longer
# spells fails too (`test_the_allow_list_is_not_stale`): the list only shrinks.
ALLOWED = {
    "evaluator/store/migrations.py": (
        {"dice", "iou", "hd95", "nsd", "assd", "surface_precision", "surface_recall", "surface_f1",
         "mean_dist_pred_to_ref", "mean_dist_ref_to_pred", "sensitivity", "specificity", "sweep_accuracy",
         "sweep_accuracy_p95", "sweep_completeness", "sweep_fscore", "dice_mean", "dice_std", "dice_ci_low",
         "dice_ci_high", "iou_mean", "iou_std", "iou_ci_low", "iou_ci_high", "hd95_mean", "hd95_std",
         "hd95_ci_low", "hd95_ci_high"},
        "frozen history: a migration states the schema as it was when it ran"),
    "simulation/presets.py": ({"dice", "surface_f1"},
                              "task definitions are data: a preset declares its primary metric"),
    "evaluator/summary.py": ({"hd95"}, "the result's distance unit column is still named after HD95 (hd95_unit)"),
    "leaderboard_app/views/leaderboard.py": ({"hd95"}, "the HD95 definition note (medpy vs MONAI) is about HD95"),
    "leaderboard_app/views/submission.py": ({"hd95"}, "the HD95 definition note (medpy vs MONAI) is about HD95"),
}
NAMES = set(metric_names())
COLUMNS = {c for m in NAMES for c in METRICS.get(m).columns()} - NAMES


def _skipped(tree: ast.AST) -> set[int]:
    """ids of the string constants that are prose or Python names: docstrings and `__all__` entries."""
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            skip.add(id(first.value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            skip.update(id(n) for n in ast.walk(node.value))
    return skip


def spellings(source: str, filename: str = "<probe>") -> list[tuple[int, str]]:
    """(line, literal) of every metric name or metric column spelled as a string literal in `source`."""
    tree = ast.parse(source, filename=filename)
    skip = _skipped(tree)
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
            and (n.value in NAMES or n.value in COLUMNS)]


def _sources():
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel not in REGISTRY:
                yield rel, path


def test_no_module_outside_the_registry_spells_a_metric():
    offences = []
    for rel, path in _sources():
        allowed = ALLOWED.get(rel, (set(), ""))[0]
        offences += [f"{rel}:{line}: {value!r}" for line, value in spellings(path.read_text(), rel)
                     if value not in allowed]
    assert not offences, ("name the metric through the registry (METRICS, per_case_metrics(), the task's "
                          "primary_metric, DEFAULT_PRIMARY_METRIC) instead of spelling it:\n" + "\n".join(offences))


def test_the_allow_list_is_not_stale():
    stale = []
    for rel, (names, _why) in ALLOWED.items():
        path = REPO / rel
        spelled = {v for _, v in spellings(path.read_text(), rel)} if path.exists() else set()
        stale += [f"{rel}: {n!r}" for n in sorted(names - spelled)]
    assert not stale, "remove from ALLOWED what the file no longer spells:\n" + "\n".join(stale)


def test_the_default_primary_metric_is_written_once():
    from sonobench.evaluator.metrics.defaults import DEFAULT_PRIMARY_METRIC

    assert DEFAULT_PRIMARY_METRIC in METRICS
    where = [rel for rel, path in _sources()
             if any(v == DEFAULT_PRIMARY_METRIC for _, v in spellings(path.read_text()))]
    assert set(where) <= set(ALLOWED), where


@pytest.mark.parametrize("source, expected", [
    ('primary = spec.get("primary_metric") or "dice"', ["dice"]),
    ('unit = METRICS.get("hd95").unit', ["hd95"]),
    ('value = row["specificity_n"]', ["specificity_n"]),
    ('if metric == "surface_f1":\n    pass', ["surface_f1"]),
])
def test_the_check_catches_one_metric_spelled(source, expected):
    assert [v for _, v in spellings(source)] == expected


@pytest.mark.parametrize("source", [
    '"""The Dice metric: "dice" in the registry."""\nx = 1',
    'def f():\n    """Scores dice and hd95."""\n    return 1',
    '__all__ = ["dice", "hd95", "score_case"]',
    'unit = row["hd95_unit"]',  # a column that is not one of a metric's own
    'name = info.name\nx = f"{name}_mean"',
])
def test_prose_names_and_computed_names_are_not_spellings(source):
    assert spellings(source) == []
