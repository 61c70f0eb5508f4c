"""A sweep set as a task: its result rows carry the 3D aggregates, computed from the same predictions
as its frame scores, and every submission to the parent (floors included) gets them as a follow-up."""
import json

import numpy as np
import pytest

from sonobench.baselines.reference import read_json
from sonobench.evaluator import task_sets
from sonobench.evaluator.evaluate import Request
from sonobench.evaluator.sweeps import task as sweep_task
from sonobench.evaluator.sweeps.metrics import sweep_metrics
from sonobench.evaluator.tasks import Case, get_task, load_task_folder, manifest_digest
from sonobench.kernel.errors import InvalidTaskSpec

from .sweep_set_factory import make_child


@pytest.fixture
def sweep_child(toy_task, tmp_path):
    child, labels = make_child(toy_task, tmp_path / "tasks")
    return get_task(child.ref), labels


def test_label_perfect_scores_the_visible_surface_and_a_deeper_surface_scores_its_offset(sweep_child):
    child, labels = sweep_child
    perfect = sweep_task.result_columns(child, labels)
    assert {f"{m}_mean" for m in sweep_metrics()} <= perfect.keys() and perfect["sweep_tolerance"] == 1.0
    assert perfect["sweep_accuracy_mean"] < 0.15 and perfect["sweep_fscore_mean"] > 0.95  # half a 0.2 mm pixel
    deeper = {k: np.roll(v, 5, axis=0) for k, v in labels.items()}  # 5 rows = 1.0 mm deeper, along the beam
    moved = sweep_task.result_columns(child, deeper)
    # the crest's surface is tilted, so the distance to the mesh is at most (not exactly) the 1 mm offset
    assert 0.6 < moved["sweep_accuracy_mean"] <= 1.05 and moved["sweep_fscore_mean"] < perfect["sweep_fscore_mean"]


def test_no_prediction_scores_no_completeness_and_the_worst_accuracy(sweep_child):
    child, labels = sweep_child
    empty = sweep_task.result_columns(child, {k: np.zeros_like(v) for k, v in labels.items()})
    worst = sweep_task.task_sweeps(child)[0].worst_distance()
    assert empty["sweep_completeness_mean"] == 0 and empty["sweep_fscore_mean"] == 0
    assert empty["sweep_accuracy_mean"] == pytest.approx(worst) and not np.isnan(empty["sweep_accuracy_p95_mean"])


def test_predictions_as_stored_pngs_score_like_arrays(sweep_child):
    from sonobench.kernel import imageio

    child, labels = sweep_child
    pngs = {k: imageio.label_png(v) for k, v in labels.items()}
    assert sweep_task.result_columns(child, pngs) == sweep_task.result_columns(child, labels)


def test_a_task_without_sweeps_has_no_sweep_columns(toy_task):
    assert sweep_task.result_columns(toy_task, {}) == {}


def test_the_sweep_set_follows_its_parent_but_is_no_shift_set(sweep_child, toy_task):
    child, _ = sweep_child
    parent = get_task(toy_task.ref)
    assert [c.ref for c in task_sets.sweep_sets(parent)] == [child.ref]
    assert task_sets.shift_sets(parent) == []
    assert [c.ref for c in task_sets.follow_up_sets(parent, Request.for_task(parent))] == [child.ref]


def test_a_sweep_set_frame_without_its_sweep_is_refused(sweep_child):
    child, _ = sweep_child
    man = json.loads((child.folder / "manifest.json").read_text())
    del man["cases"][0]["meta"]["sweep"]
    man["digest"] = manifest_digest(child.id, child.version, [Case(**c) for c in man["cases"]])  # a valid manifest
    (child.folder / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InvalidTaskSpec, match="meta.sweep"):
        load_task_folder(child.folder)


@pytest.mark.slow
def test_floors_of_the_parent_are_scored_on_its_sweeps_and_rank_last(sweep_child, toy_task, store, tmp_path):
    from sonobench.baselines import floors

    child, labels = sweep_child
    path = floors.make_floors(toy_task, store, tmp_path / "floors", log=lambda _m: None)
    rows = read_json(path)["rows"]
    assert rows and all(child.ref in r.get("shifts", {}) for r in rows)
    scored = [store.result_for(s["id"]) for s in store.submissions(child.id)]
    assert len(scored) == len(rows) and all(r["sweep_fscore_mean"] is not None for r in scored)
    perfect = sweep_task.result_columns(child, labels)["sweep_fscore_mean"]
    assert all(r["sweep_fscore_mean"] < perfect for r in scored)


@pytest.mark.slow
def test_leaderboard_view_sweeps_shows_the_3d_scores_beside_the_frame_ranks(sweep_child, toy_task, file_store, tmp_path):
    from click.testing import CliRunner

    from sonobench.baselines import floors
    from sonobench.cli import cli

    child, _ = sweep_child
    floors.make_floors(toy_task, file_store, tmp_path / "floors", log=lambda _m: None)
    db = str(tmp_path / "results.db")
    out = CliRunner().invoke(cli, ["leaderboard", toy_task.id, "--view", "sweeps", "--db", db, "--format", "json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert body["sweep_set"] == child.ref and body["tolerance_mm"] == 1.0 and len(body["rows"]) == 2
    empty = next(r for r in body["rows"] if r["name"] == "floor: all background")
    assert empty["scores"]["sweep_completeness"]["mean"] == 0 and empty["rank"] == 2  # nothing found: last in 3D
    text = CliRunner().invoke(cli, ["leaderboard", toy_task.id, "--view", "sweeps", "--db", db]).output
    assert "Sweep F-score" in text and "frame rank" in text and "Kendall" in text
    refused = CliRunner().invoke(cli, ["leaderboard", child.ref, "--view", "sweeps", "--db", db])
    assert refused.exit_code == 1 and "Error: " in refused.output and "has no sweep set" in refused.output
