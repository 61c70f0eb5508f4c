"""Shift sets re-image the parent's test phantoms: same labels, a different image, frozen as
test-only children that the robustness view pairs with the parent case by case."""
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from sonobench.evaluator import task_sets
from sonobench.evaluator.tasks import get_task, load_task_folder
from sonobench.simulation import dataset, shifts
from sonobench.simulation.task import freeze_task

from .conftest import small_physics


@pytest.fixture
def tiny_sim_task(tmp_path, monkeypatch):
    data = tmp_path / "data"
    dataset.generate("breast-lesion", 16, data, backend="fast", seed=3, phys=small_physics(), progress=False)
    root = tmp_path / "tasks"
    task = freeze_task(data, root / "tiny-breast" / "v1", "tiny-breast")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return task, root


def test_every_condition_keeps_the_label_and_changes_the_image(tiny_sim_task):
    task, _ = tiny_sim_task
    case = shifts.source_cases(task, 1)[0]
    raw = np.asarray(Image.open(task.image_path(case)))
    for name, cond in shifts.CONDITIONS.items():
        image, label, _ = shifts.render_case(task, case, cond)
        assert np.array_equal(label, np.asarray(Image.open(task.label_path(case))))
        if not cond.reference:
            ref_image, _, _ = shifts.render_case(task, case, shifts.CONDITIONS.get("unshifted"))
            assert not np.array_equal(image, ref_image), name
    ref, _, _ = shifts.render_case(task, case, shifts.CONDITIONS.get("unshifted"))
    assert np.array_equal(ref, raw)  # today's pipeline, the parent's physics: the parent's own image


def test_make_freezes_a_resumable_test_only_child(tiny_sim_task):
    task, root = tiny_sim_task
    n = len(task.split("test"))
    folder = shifts.shift_folder(root, task, "high-noise")
    child = shifts.make_shift_set(task, "high-noise", folder, n=n)
    assert child.parent == task.ref and child.condition["name"] == "high-noise"
    assert [c.meta["source_case"] for c in child.cases] == [c.id for c in shifts.source_cases(task, n)]
    assert {c.split for c in child.cases} == {"test"}
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "data" / "images").iterdir()}
    again = shifts.make_shift_set(task, "high-noise", folder, n=n)  # resumes: nothing re-simulated
    assert again.digest == child.digest
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "data" / "images").iterdir()} == before
    parent = get_task(task.ref)
    assert [s.ref for s in task_sets.shift_sets(parent)] == [child.ref]
    spec = json.loads((folder / "task.json").read_text())
    assert spec["source"]["cpu_seconds_per_frame"] > 0 and load_task_folder(folder).digest == child.digest
    # a shift set scores like its parent: the same tolerances, a declared surface tolerance included
    assert (child.nsd_tolerance, child.surface_tolerance) == (task.nsd_tolerance, task.surface_tolerance)
    declared = dataclasses.replace(task, surface_tolerance_declared=0.33)
    assert shifts._spec(declared, shifts.CONDITIONS.get("high-noise"), folder, n, None)["surface_tolerance"] == 0.33


def test_refusals_say_what_to_do(tiny_sim_task, toy_task):
    task, root = tiny_sim_task
    with pytest.raises(shifts.ShiftError, match="at most"):
        shifts.source_cases(task, 10_000)
    with pytest.raises(shifts.ShiftError, match="not made by `sonobench simulate`"):
        shifts.render_case(toy_task, toy_task.split("test")[0], shifts.CONDITIONS.get("high-noise"))
    with pytest.raises(Exception, match="Valid choices"):
        shifts.make_shift_set(task, "blur", root / "x" / "v1")
