"""What the committed boards mean: on each task family's default version (lesion, multi-class
anatomy, bone surface), the no-skill floors loaded beside the committed references rank where a
model that ignores the image must: the all-background floor last on the task's board and on the
Overall view, the train-prior floor below every reference that is significantly better than it,
and every reference that is not carries the mark. No model runs: the committed rows' stored
per-case results are ranked."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sonobench.baselines.floors import load_references_and_floors
from sonobench.cli import cli
from sonobench.evaluator.store import Store
from sonobench.evaluator.tasks import get_task

pytestmark = pytest.mark.slow
TASKS = ("sim-breast-lesion@2", "sim-neck-thyroid@1", "sim-bone-surface@1")


@pytest.fixture(scope="module")
def committed_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("boards") / "results.db"
    store = Store(path)
    for ref in TASKS:
        load_references_and_floors(store, get_task(ref), log=lambda _m: None)
    return path


def _board(path, ref):
    run = CliRunner().invoke(cli, ["leaderboard", ref, "--format", "json", "--db", str(path)])
    assert run.exit_code == 0, run.output
    return json.loads(run.output)["rows"]


@pytest.mark.parametrize("ref", TASKS)
def test_floors_rank_where_a_model_that_ignores_the_image_must(committed_store, ref):
    rows = _board(committed_store, ref)
    by_name = {r["name"]: r for r in rows}
    background, prior = by_name["floor: all background"], by_name["floor: train prior"]
    references = [r for r in rows if r["kind"] == "baseline"]
    assert references and all(r["rank"] < background["rank"] for r in rows if r is not background)
    for r in references:
        if r.get("not_above_floor") is None:  # significantly better than the best floor
            assert r["rank"] < prior["rank"], (r["name"], r["rank"], prior["rank"])
        else:  # not: marked with the floor it could not beat (test-then-rank may still order it above
            # that floor when a third model separates them; the mark says what the rank cannot)
            assert r["not_above_floor"]["floor"] in (prior["name"], background["name"]), r["name"]


def test_converged_references_are_significantly_above_every_floor(committed_store):
    rows = _board(committed_store, "sim-breast-lesion@2")
    converged = [r for r in rows if r["kind"] == "baseline" and "(converged)" in r["name"]
                 and (json.loads(r["meta"]) if isinstance(r.get("meta"), str) else r.get("meta") or {})
                 .get("training", {}).get("convergence", {}).get("converged")]
    floors = [r for r in rows if r["kind"] == "floor"]
    assert converged and len(floors) == 2
    for r in converged:
        assert r.get("not_above_floor") is None and all(r["rank"] < f["rank"] for f in floors), r["name"]


def test_the_all_background_floor_is_last_on_the_overall_view(committed_store):
    run = CliRunner().invoke(cli, ["leaderboard", "--overall", "--format", "json", "--db", str(committed_store)])
    assert run.exit_code == 0, run.output
    rows = json.loads(run.output)["rows"]
    background = next(r for r in rows if r["name"] == "floor: all background")
    assert set(background["ranks"]) == set(TASKS)  # one floor per task, lined up by name
    assert background["consensus_rank"] == max(r["consensus_rank"] for r in rows)
    assert all(r["consensus_rank"] < background["consensus_rank"] for r in rows if r["kind"] == "baseline")
