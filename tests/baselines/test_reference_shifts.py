"""A baseline is scored on its task's acquisition-shift sets like any submission; its
reference row carries those results (`shifts`) without changing the row's identity, and
loading the row puts them in the store under that identity, so the Robustness view shows
the committed references next to new submissions."""
import json

import pytest

from sonobench.baselines import reference
from sonobench.baselines.training import TaskData, run_baseline
from sonobench.evaluator import robustness, task_sets
from sonobench.evaluator.store import Store
from sonobench.evaluator.tasks import get_task
from sonobench.kernel import imageio
from tests.spine.test_robustness import brighter, make_shift

from .test_training import TINY

pytestmark = pytest.mark.slow


@pytest.fixture
def shifted(toy_task, tmp_path):
    make_shift(toy_task, tmp_path / "tasks", "gain", brighter)
    return get_task(toy_task.ref)


def test_a_reference_row_carries_and_loads_its_shift_set_results(shifted, tmp_path):
    store = Store(memory=True)
    rec = run_baseline(TaskData.load(shifted), "unext", TINY, store=store, out_dir=tmp_path / "out", log=lambda s: None)
    (child,) = task_sets.shift_sets(shifted)
    assert list(rec["shifts"]) == [child.ref]
    shifted_result = rec["shifts"][child.ref]["result"]
    assert shifted_result["n_cases"] == len(child.cases) and shifted_result["manifest_digest"] == child.digest

    row = reference.row_from_record(rec)
    assert row["shifts"][child.ref]["manifest_digest"] == child.digest
    bare = {k: v for k, v in row.items() if k != "shifts"}
    assert reference.row_sha256(row) == reference.row_sha256(bare)  # adding shifts keeps the identity

    folder = tmp_path / "ref"
    reference.write_row(shifted, bare, folder=folder)   # an old row, loaded before shifts existed
    db = Store(tmp_path / "results.db")
    assert reference.load_into_store(db, shifted, log=print, folder=folder) == 1
    assert db.leaderboard_rows(child.id) == []
    reference.write_row(shifted, row, folder=folder)    # the same row, now with its shift results
    assert reference.load_into_store(db, shifted, log=print, folder=folder) == 0  # no second model
    assert len(db.leaderboard_rows(shifted.id)) == 1
    (loaded,) = db.leaderboard_rows(child.id)
    assert loaded["file_sha256"] == db.leaderboard_rows(shifted.id)[0]["file_sha256"]
    assert loaded["dice_mean"] == shifted_result["dice_mean"]
    assert reference.load_into_store(db, shifted, log=print, folder=folder) == 0
    assert len(db.leaderboard_rows(child.id)) == 1      # idempotent

    conditions, rows = robustness.robustness_rows(db, shifted)
    assert conditions == ["gain"] and rows[0].kind == "baseline" and "gain" in rows[0].conditions
    # paired on the applicable cases: those whose reference has the lesion (the others have no Dice)
    with_lesion = [c for c in child.cases if imageio.load_label(child.label_path(c)).any()]
    assert 0 < len(with_lesion) < len(child.cases)
    assert rows[0].conditions["gain"].n == len(with_lesion)


def test_a_shift_result_for_another_manifest_is_not_loaded(shifted, tmp_path):
    store = Store(memory=True)
    rec = run_baseline(TaskData.load(shifted), "unext", TINY, store=store, out_dir=tmp_path / "out", log=lambda s: None)
    row = reference.row_from_record(rec)
    (ref,) = row["shifts"]
    row["shifts"][ref]["manifest_digest"] = "0" * 64
    reference.write_row(shifted, row, folder=tmp_path / "ref")
    db, messages = Store(memory=True), []
    assert reference.load_into_store(db, shifted, log=messages.append, folder=tmp_path / "ref") == 1
    assert db.leaderboard_rows(task_sets.shift_sets(shifted)[0].id) == []
    assert any("not loaded" in m for m in messages)
    json.dumps(row)  # the row stays plain JSON


@pytest.mark.parametrize("primary", ["surface_f1", "dice"])
def test_a_reference_gets_every_metric_its_predictions_give_on_load(toy_task, tmp_path, primary):
    """A reference row holds the always-stored metrics (Dice, IoU, HD95); the others (NSD, ASSD,
    the bone task's surface_f1 it ranks by) are filled from the row's own predictions when the row
    loads, whatever the task ranks by, so no reference shows them as 'missing'."""
    from sonobench.evaluator.metrics import per_case_metrics

    spec_path = toy_task.folder / "task.json"
    spec = json.loads(spec_path.read_text())
    spec["primary_metric"] = primary
    spec_path.write_text(json.dumps(spec))
    task = get_task(toy_task.ref)
    assert task.primary_metric == primary
    rec = run_baseline(TaskData.load(task), "unext", TINY, store=Store(memory=True), out_dir=tmp_path / "out",
                       log=lambda s: None)
    row = reference.row_from_record(rec)
    assert "surface_f1_mean" not in row["scores"]
    reference.write_row(task, row, folder=tmp_path / "ref")
    db = Store(tmp_path / "results.db")
    assert reference.load_into_store(db, task, log=print, folder=tmp_path / "ref") == 1
    (loaded,) = db.leaderboard_rows(task.id)
    assert loaded["surface_f1_mean"] == pytest.approx(rec["result"]["surface_f1_mean"], abs=1e-12)
    cases = db.case_results(loaded["submission_id"])
    assert all((c["surface_f1"] is not None) == (c["tp"] + c["fn"] > 0) for c in cases)  # NULL: not applicable
    assert all(loaded[f"{m}_mean"] is not None for m in per_case_metrics())  # NSD, ASSD too
