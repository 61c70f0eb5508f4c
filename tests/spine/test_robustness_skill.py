"""Robustness relative to skill (evaluator/robustness.py): retained skill above the task's best
floor, (shifted - floor) / (unshifted - floor), with paired bootstrap CIs; a model that ignores
the image has no skill to retain and sorts after every model that has some, the floors last."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sonobench.baselines import floors
from sonobench.cli import cli
from sonobench.evaluator import follow_ups, robustness
from sonobench.evaluator.evaluate import Request, evaluate
from sonobench.evaluator.robustness import ConditionScore, RobustnessRow
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.tasks import get_task
from sonobench.kernel.settings import Settings

from .test_robustness import make_shift, noisier


class _Child:
    corruption = None


def _row(kind="baseline"):
    return RobustnessRow(1, "m", "t", kind, 0.0)


def _score(row, pairs):
    """Fill `row` from {condition: {phantom: (unshifted, shifted)}} against a floor at 0.3."""
    floor = {n: {c: (0.3, 0.3) for c in p} for n, p in pairs.items()}
    for n, p in pairs.items():
        row.conditions[n] = ConditionScore(n, n, len(p), 0, 0, 0, 0, 0)
    robustness._retained(row, pairs, floor, {n: (_Child(),) for n in pairs}, 1.0)
    return row


def _pairs(rng, unshifted, shifted, n=40, noise=0.02):
    return {f"p{i}": (unshifted + rng.normal(0, noise), shifted + rng.normal(0, noise)) for i in range(n)}


def test_a_skilled_model_that_keeps_its_skill_scores_near_one():
    rng = np.random.default_rng(0)
    row = _score(_row(), {"a": _pairs(rng, 0.78, 0.77), "b": _pairs(rng, 0.78, 0.74)})
    a = row.conditions["a"]
    assert a.retained == pytest.approx((0.77 - 0.3) / (0.78 - 0.3), abs=0.03)
    assert a.retained_ci_low < a.retained < a.retained_ci_high and a.retained_ci_high - a.retained_ci_low < 0.1
    assert row.robustness == pytest.approx((0.755 - 0.3) / (0.78 - 0.3), abs=0.03) and row.why_none is None
    fragile = _score(_row(), {"a": _pairs(rng, 0.80, 0.40), "b": _pairs(rng, 0.80, 0.35)})
    assert fragile.robustness < 0.2 and row.robustness > 0.9  # the skilled robust model scores high


def test_a_model_at_the_floor_has_no_robustness_however_little_it_drops():
    rng = np.random.default_rng(1)
    flat = _score(_row(), {"a": _pairs(rng, 0.30, 0.30), "b": _pairs(rng, 0.305, 0.30)})  # ignores the image
    assert flat.robustness is None and "no skill above the floor" in flat.why_none
    floor = _score(_row("floor"), {"a": _pairs(rng, 0.5, 0.5)})
    assert floor.robustness is None and floor.why_none.startswith("a floor")


def test_the_bootstrap_is_reproducible():
    rng = np.random.default_rng(2)
    pairs = {"a": _pairs(rng, 0.7, 0.6, noise=0.1)}
    one, two = _score(_row(), pairs), _score(_row(), pairs)
    assert (one.robustness_ci_low, one.robustness_ci_high) == (two.robustness_ci_low, two.robustness_ci_high)


@pytest.fixture
def lesion_shifted(lesion_toy):
    """The 96-case toy's lesion images (12 test cases) as `toy-lesion@1`, with a gain and a noise shift."""
    root = lesion_toy.folder.parent.parent
    make_shift(lesion_toy, root, "gain", lambda im: np.clip(im.astype(int) + 20, 0, 255).astype(np.uint8))
    make_shift(lesion_toy, root, "noise", noisier)
    return get_task(lesion_toy.ref)


def _submit_everywhere(store, task, path, name, kind="submission"):
    sub = prepare(path, name=name)
    request = Request.for_task(task, kind=kind)
    sid = evaluate(store, task, sub, request=request).submission_id
    follow_ups.score_shifts(store, task, sub, request, Settings(), sid)
    return sid


def test_constant_models_rank_after_every_model_with_skill_and_the_floors_last(lesion_shifted, toy_onnx, tmp_path,
                                                                               file_store):
    task = lesion_shifted
    background, prior = floors.build_floors(task)
    for f in (background, prior):
        _submit_everywhere(file_store, task, floors.floor_onnx(f, task, tmp_path / f"{f.key}.onnx"), f.name, "floor")
    good = _submit_everywhere(file_store, task, toy_onnx, "threshold")
    constant = floors.Floor("c", "constant disc", "", (np.hypot(*np.mgrid[-24:24, -24:24]) < 12).astype(np.uint8))
    const = _submit_everywhere(file_store, task, floors.floor_onnx(constant, task, tmp_path / "c.onnx"), "constant disc")
    empty = floors.Floor("e", "all background, submitted", "", np.zeros(task.input_size, np.uint8))
    blank = _submit_everywhere(file_store, task, floors.floor_onnx(empty, task, tmp_path / "e.onnx"), "blank")
    conditions, rows = robustness.robustness_rows(file_store, task)
    assert conditions == ["gain", "noise"]
    order = [r.submission_id for r in rows]
    assert order[0] == good and set(order[1:3]) == {const, blank} and [r.kind for r in rows[3:]] == ["floor"] * 2
    by = {r.submission_id: r for r in rows}
    assert by[good].robustness is not None and by[good].why_none is None
    for sid in (const, blank):
        assert by[sid].robustness is None and "no skill above the floor" in by[sid].why_none
    assert by[const].primary >= by[blank].primary  # within a group, by the primary metric
    res = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--view", "robustness", "--db", str(file_store.path)])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if "SonoBench" in line or "floor" in line]
    floor_lines = [line for line in res.output.splitlines() if "[floor]" in line]
    assert len(floor_lines) == 2 and all("(n/a)" in line for line in floor_lines)
    assert lines and "dice" in res.output.splitlines()[1]
    # The same board's Leaderboard and Overall views: the models that ignore the image rank after
    # the one that looks at it, the floors with them.
    board = json.loads(CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--format", "json",
                                                "--db", str(file_store.path)]).output)
    rank = {r["submission_id"]: r["rank"] for r in board["rows"]}
    no_skill = [const, blank] + [r["submission_id"] for r in board["rows"] if r["kind"] == "floor"]
    assert all(rank[good] < rank[sid] for sid in no_skill), rank
    overall = json.loads(CliRunner().invoke(cli, ["leaderboard", "--overall", "--format", "json",
                                                  "--db", str(file_store.path)]).output)["rows"]
    consensus = {r["name"]: r["consensus_rank"] for r in overall}
    assert all(consensus["threshold"] < consensus[n] for n in consensus if n != "threshold"), consensus
