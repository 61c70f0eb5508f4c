"""A task's primary metric and its board metrics are checked against the metric registry when
the task loads; the committed tasks declare their boards outside the frozen manifest digest."""
import json

import pytest

from sonobench.cli.toy import build_toy_task
from sonobench.evaluator import tasks
from sonobench.evaluator.metrics.defaults import BOARDS, DEFAULT_PRIMARY_METRIC, DEFAULT_TASK_METRICS
from sonobench.kernel.errors import InvalidTaskSpec


def _edit_spec(task, **changes):
    path = task.folder / "task.json"
    spec = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            spec.pop(k, None)
        else:
            spec[k] = v
    path.write_text(json.dumps(spec))
    return tasks.load_task_folder(task.folder)


def test_an_unknown_primary_metric_names_the_valid_choices(tmp_path):
    task = build_toy_task(tmp_path / "t" / "v1")
    with pytest.raises(InvalidTaskSpec) as e:
        _edit_spec(task, primary_metric="dcie")
    assert "primary_metric 'dcie' is not a registered metric" in str(e.value)
    assert "Valid choices: dice, iou, hd95" in str(e.value) and "Did you mean 'dice'?" in str(e.value)


def test_a_detection_rate_cannot_be_the_primary_metric(tmp_path):
    task = build_toy_task(tmp_path / "t" / "v1")
    with pytest.raises(InvalidTaskSpec, match="'specificity' is a detection rate .* ranks by a per-case metric"):
        _edit_spec(task, primary_metric="specificity")


def test_declared_metrics_are_checked_and_the_primary_leads(tmp_path):
    task = build_toy_task(tmp_path / "t" / "v1")
    with pytest.raises(InvalidTaskSpec, match="unknown metric\\(s\\) 'surfce_f1'.*Did you mean 'surface_f1'"):
        _edit_spec(task, metrics=["dice", "surfce_f1"])
    edited = _edit_spec(task, primary_metric="surface_f1", metrics=["dice", "specificity"])
    assert edited.metrics == ("surface_f1", "dice", "specificity")
    assert edited.digest == task.digest  # the declaration is outside the frozen manifest
    default = _edit_spec(task, primary_metric=None, metrics=None)
    assert default.primary_metric == DEFAULT_PRIMARY_METRIC and default.metrics == DEFAULT_TASK_METRICS


@pytest.mark.parametrize("ref,board", [("sim-breast-lesion@2", "region"), ("sim-neck-thyroid@1", "region"),
                                       ("sim-bone-surface@1", "thin-structure")])
def test_the_committed_tasks_declare_their_boards(ref, board):
    task = tasks.get_task(ref)
    assert task.metrics == BOARDS[board] and task.metrics[0] == task.primary_metric
    assert task.summary()["metrics"] == list(task.metrics)
    if board == "region":
        assert not any(m.startswith(("surface_", "mean_dist")) for m in task.metrics)
        assert task.metrics[1] == "specificity"  # beside the primary metric
