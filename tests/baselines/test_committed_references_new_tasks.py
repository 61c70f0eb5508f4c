"""The committed references of the neck (multi-class) and bone-surface tasks, and the shift-set
results carried by the default task's rows: each matches the frozen split it claims, the
required models have their quick row, and parameters are counted as papers count them."""
import pytest

from sonobench.baselines.reference import read_reference, row_sha256
from sonobench.evaluator import task_sets
from sonobench.evaluator.tasks import DEFAULT_TASK, get_task

NEW_TASKS = ("sim-neck-thyroid", "sim-bone-surface")
REQUIRED = ("unext", "cmunext", "segformer-b0", "fpn-r34", "unet")
ROWS = [(t, r) for t in NEW_TASKS for r in read_reference(t)["rows"]]


@pytest.mark.parametrize("task_id", NEW_TASKS)
def test_reference_file_matches_the_frozen_task_and_has_every_required_quick_row(task_id):
    ref, task = read_reference(task_id), get_task(task_id)
    assert (ref["task_version"], ref["manifest_digest"]) == (task.version, task.digest)
    assert {r["model"] for r in ref["rows"] if r["profile"] == "quick"} >= set(REQUIRED)
    for row in ref["rows"]:
        assert row["provenance"]["manifest_digest"] == task.digest
        assert len(row["cases"]["rows"]) == len(task.split("test")) * (task.num_classes - 1)
        assert row["scores"]["primary_metric"] == task.primary_metric
        assert row["predictions"] and len(row["predictions"]["cases"]) == len(task.split("test"))


@pytest.mark.parametrize("task_id,row", ROWS, ids=lambda x: x if isinstance(x, str) else f"{x['model']}@{x['profile']}")
def test_params_are_the_pytorch_modules_count(task_id, row):
    from sonobench.zoo import build_from_config

    task = get_task(task_id)
    kwargs = row["architecture"]["kwargs"]
    assert (kwargs["in_channels"], kwargs["num_classes"]) == (task.input_channels, 1 if task.num_classes == 2 else task.num_classes)
    assert row["complexity"]["params"] == sum(p.numel() for p in build_from_config(row["architecture"]).parameters())


def test_shift_results_of_the_default_task_match_its_shift_sets():
    task = get_task(DEFAULT_TASK)
    children = {c.ref: c for c in task_sets.shift_sets(task)}
    assert len(children) >= 4
    carrying = [r for r in read_reference(DEFAULT_TASK)["rows"] if r.get("shifts")]
    assert carrying, "no committed reference row carries its shift-set results"
    for row in carrying:
        assert set(row["shifts"]) == set(children), row["model"]
        for ref, block in row["shifts"].items():
            assert block["manifest_digest"] == children[ref].digest
            assert len(block["cases"]["rows"]) == len(children[ref].cases)
        assert row_sha256(row) == row_sha256({k: v for k, v in row.items() if k != "shifts"})
