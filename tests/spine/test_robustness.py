"""Acquisition-shift sets: declared as test-only children of a task, scored for every
submission after its main result (inline and through the queue), never charged to the
team, and tabulated as paired per-case drops with one robustness number per model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.evaluator import follow_ups, robustness, task_sets
from sonobench.evaluator.evaluate import Request, evaluate
from sonobench.evaluator.queue import enqueue, process_job
from sonobench.evaluator.sandbox import sandbox_config
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.evaluator.store import queries
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.tasks import children_of, get_task, write_task
from sonobench.kernel.errors import InvalidTaskSpec, SonoBenchError
from sonobench.kernel.settings import Settings


def make_shift(parent, root, name, transform, n=None, task_id=None) -> object:
    """A shift set re-imaging the parent's first `n` test cases through `transform(image)`."""
    folder = root / (task_id or f"{parent.id}-{name}") / "v1"
    data = folder / "data"
    data.mkdir(parents=True)
    cases = []
    for case in parent.split("test")[:n]:
        image = np.asarray(Image.open(parent.image_path(case)))
        Image.fromarray(transform(image)).save(data / f"{case.id}.png")
        Image.open(parent.label_path(case)).save(data / f"{case.id}_label.png")
        cases.append({"id": f"{name}-{case.id}", "split": "test", "image": f"{case.id}.png",
                      "label": f"{case.id}_label.png", "meta": {"source_case": case.id}})
    spec = {"id": folder.parent.name, "version": 1, "classes": list(parent.classes),
            "input_size": list(parent.input_size), "native_size": list(parent.native_size),
            "spacing_mm": list(parent.spacing_mm), "primary_metric": parent.primary_metric, "data_root": "data",
            "parent": parent.ref, "condition": {"name": name, "description": f"toy {name}"}}
    return write_task(folder, spec, cases)


def brighter(image):
    return np.clip(image.astype(np.int32) + 60, 0, 255).astype(np.uint8)


def noisier(image):
    rng = np.random.default_rng(0)
    return np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def shifted_toy(toy_task, tmp_path):
    root = tmp_path / "tasks"  # the toy task's search-path root
    make_shift(toy_task, root, "gain", brighter)
    make_shift(toy_task, root, "noise", noisier, n=4)
    return get_task(toy_task.ref)


def test_children_are_found_and_must_re_image_parent_test_cases(shifted_toy, tmp_path):
    sets = task_sets.shift_sets(shifted_toy)
    assert [s.condition["name"] for s in sets] == ["gain", "noise"]
    assert all(s.parent == shifted_toy.ref and {c.split for c in s.cases} == {"test"} for s in sets)
    assert task_sets.shift_sets(sets[0]) == []  # a shift set has none of its own
    bad = tmp_path / "tasks" / "toy-lesion-bad" / "v1"
    bad.mkdir(parents=True)
    spec = json.loads((sets[0].folder / "task.json").read_text())
    man = json.loads((sets[0].folder / "manifest.json").read_text())
    man["cases"][0]["meta"]["source_case"] = "toy0000"  # a train case of the parent
    from sonobench.evaluator.tasks import Case, manifest_digest

    man["digest"] = manifest_digest(spec["id"], 1, [Case(**c) for c in man["cases"]])
    spec["id"] = "toy-lesion-bad"
    spec["data_root"] = str(sets[0].data_root)
    man["digest"] = manifest_digest("toy-lesion-bad", 1, [Case(**c) for c in man["cases"]])
    (bad / "task.json").write_text(json.dumps(spec))
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(InvalidTaskSpec, match="not test cases of toy-lesion@1: toy0000"):
        children_of(shifted_toy)


def test_a_shift_set_must_be_test_only_with_source_cases(toy_task, tmp_path):
    with pytest.raises(InvalidTaskSpec, match="test cases only"):
        write_task(tmp_path / "t" / "v1", {"id": "t", "version": 1, "classes": ["background", "lesion"],
                                           "input_size": [64, 64], "parent": toy_task.ref,
                                           "condition": {"name": "x"}},
                   [{"id": "a", "split": "train", "image": toy_task.split("test")[0].image,
                     "label": toy_task.split("test")[0].label}], data_root=toy_task.data_root)


def test_submit_scores_the_shift_sets_after_the_main_result_and_does_not_charge(shifted_toy, toy_onnx, tmp_path):
    db = str(tmp_path / "r.db")
    r = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db, "--team", "A",
                                 "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert [s["condition"] for s in out["shifts"]] == ["gain", "noise"]
    assert all(s["error"] is None and s["primary"] is not None for s in out["shifts"])
    from sonobench.evaluator.store import Store

    store = Store(db)
    rows = list(store.db.query("select id, task_id, charged, meta from submissions order by id"))
    assert [r["task_id"] for r in rows] == ["toy-lesion", "toy-lesion-gain", "toy-lesion-noise"]
    assert [r["charged"] for r in rows] == [1, 0, 0]
    assert all(json.loads(r["meta"])["follow_up_of"] == rows[0]["id"] for r in rows[1:])
    # submitting again scores nothing twice, main or shifted
    again = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db, "--json"])
    assert again.exit_code == 0 and all(s["already"] for s in json.loads(again.output[again.output.index("{"):])["shifts"])
    assert store.counts()["submissions"] == 3


def test_the_drop_is_paired_per_case_and_the_mean_drop_is_its_mean(shifted_toy, toy_onnx, file_store):
    sub = prepare(toy_onnx, name="thr")
    main = evaluate(file_store, shifted_toy, sub, settings=Settings())
    outcomes = follow_ups.score_shifts(file_store, shifted_toy, sub, Request.for_task(shifted_toy), Settings(),
                                       main.submission_id)
    assert all(o.error is None for o in outcomes)
    conditions, rows = robustness.robustness_rows(file_store, shifted_toy)
    assert conditions == ["gain", "noise"] and len(rows) == 1
    base = queries.case_values(file_store, [main.submission_id], "dice")[main.submission_id]
    drops = []
    for o, child in zip(outcomes, task_sets.shift_sets(shifted_toy)):
        shifted = queries.case_values(file_store, [o.submission_id], "dice")[o.submission_id]
        # paired on the applicable cases: those whose reference has the lesion (the same in both sets)
        applicable = [c for c in child.cases if c.meta["source_case"] in base]
        assert [c.id for c in applicable] == sorted(shifted) and 0 < len(applicable) < len(child.cases)
        expected = np.mean([base[c.meta["source_case"]] - shifted[c.id] for c in applicable])
        got = rows[0].conditions[o.condition]
        assert got.n == len(applicable) and got.drop == pytest.approx(expected)
        assert got.drop_ci_low <= got.drop <= got.drop_ci_high
        drops.append(expected)
    assert rows[0].mean_drop == pytest.approx(np.mean(drops))
    assert rows[0].robustness is None and "no floor" in rows[0].why_none  # retained skill needs a floor
    assert rows[0].conditions["gain"].unshifted == pytest.approx(np.mean(list(base.values())))


def test_one_failing_shift_set_does_not_stop_the_others_or_touch_the_main_result(shifted_toy, toy_onnx, file_store):
    gain, noise = task_sets.shift_sets(shifted_toy)
    tampered = gain.image_path(gain.cases[0])
    tampered.write_bytes(tampered.read_bytes() + b"x")  # the gain set no longer matches its manifest
    sub = prepare(toy_onnx, name="thr")
    main = evaluate(file_store, shifted_toy, sub, settings=Settings())
    before = file_store.result_for(main.submission_id)
    outcomes = follow_ups.score_shifts(file_store, shifted_toy, sub, Request.for_task(shifted_toy), Settings(),
                                       main.submission_id)
    by_name = {o.condition: o for o in outcomes}
    assert by_name["gain"].error and gain.cases[0].id in by_name["gain"].error
    assert by_name["noise"].error is None and by_name["noise"].primary is not None  # scored after the failure
    assert file_store.result_for(main.submission_id) == before
    _, rows = robustness.robustness_rows(file_store, shifted_toy)
    assert set(rows[0].conditions) == {"noise"} and rows[0].robustness is None and rows[0].mean_drop is None


def test_a_model_missing_a_condition_has_no_robustness_number(shifted_toy, toy_onnx, file_store):
    sub = prepare(toy_onnx, name="thr")
    evaluate(file_store, shifted_toy, sub, settings=Settings())  # main only, no shift scores
    _, rows = robustness.robustness_rows(file_store, shifted_toy)
    assert rows[0].conditions == {} and rows[0].robustness is None
    assert robustness.table(["gain", "noise"], rows)[0]["gain"] == "not scored"


def test_the_worker_queues_the_shift_sets_after_the_main_job(shifted_toy, toy_onnx, file_store):
    q = enqueue(file_store, shifted_toy, prepare(toy_onnx), Settings())
    job = store_jobs.claim(file_store, "w", lease_seconds=60)
    report = process_job(file_store, job, Settings(), sandbox_config(Settings()))
    assert report.status == "done" and "2 shift-set job(s) queued" in report.detail
    follow = [store_jobs.claim(file_store, "w", lease_seconds=60) for _ in range(2)]
    assert {Request.from_payload(j.payload).follow_up_of for j in follow} == {q.submission_id}
    for j in follow:
        assert process_job(file_store, j, Settings(), sandbox_config(Settings())).status == "done"
    assert store_jobs.claim(file_store, "w", lease_seconds=60) is None  # a follow-up queues nothing more
    _, rows = robustness.robustness_rows(file_store, shifted_toy)
    assert rows[0].mean_drop is not None


def test_leaderboard_robustness_view(shifted_toy, toy_onnx, tmp_path):
    db = str(tmp_path / "r.db")
    assert CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db]).exit_code == 0
    r = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--view", "robustness", "--db", db])
    assert r.exit_code == 0, r.output
    assert "gain" in r.output and "noise" in r.output and "drop" in r.output and "robustness" in r.output and "dice" in r.output
    j = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--view", "robustness", "--format", "json", "--db", db])
    body = json.loads(j.output)
    assert body["conditions"] == ["gain", "noise"] and body["rows"][0]["mean_drop"] is not None
    none = CliRunner().invoke(cli, ["leaderboard", "toy-lesion-gain", "--view", "robustness", "--db", db])
    assert none.exit_code == 1 and "has no acquisition-shift sets" in none.output


def test_require_conditions_says_what_exists(toy_task, store):
    with pytest.raises(SonoBenchError, match="sonobench tasks.*--corruptions all"):
        robustness.require_conditions(store, toy_task)


def test_a_reference_set_is_the_baseline_and_not_a_condition(toy_task, toy_onnx, file_store, tmp_path):
    root = tmp_path / "tasks"
    ref = make_shift(toy_task, root, "unshifted", lambda im: im)
    spec_path = ref.folder / "task.json"
    spec = json.loads(spec_path.read_text())
    spec["condition"]["reference"] = True
    spec_path.write_text(json.dumps(spec))
    make_shift(toy_task, root, "gain", brighter)
    task = get_task(toy_task.ref)
    sub = prepare(toy_onnx, name="thr")
    main = evaluate(file_store, task, sub, settings=Settings())
    outcomes = follow_ups.score_shifts(file_store, task, sub, Request.for_task(task), Settings(), main.submission_id)
    conditions, rows = robustness.robustness_rows(file_store, task)
    assert conditions == ["gain"]  # the reference is what drops are measured from
    by = {o.condition: o.submission_id for o in outcomes}
    base = queries.case_values(file_store, [by["unshifted"]], "dice")[by["unshifted"]]
    shifted = queries.case_values(file_store, [by["gain"]], "dice")[by["gain"]]
    expected = np.mean([base[f"unshifted-{k.split('-', 1)[1]}"] - v for k, v in shifted.items()])
    assert rows[0].conditions["gain"].drop == pytest.approx(expected)


def test_unshifted_is_the_mean_over_the_re_imaged_phantoms(toy_task, tmp_path, toy_onnx, file_store):
    make_shift(toy_task, tmp_path / "tasks", "noise", noisier, n=4)
    task = get_task(toy_task.ref)
    sub = prepare(toy_onnx, name="thr")
    main = evaluate(file_store, task, sub, settings=Settings())
    follow_ups.score_shifts(file_store, task, sub, Request.for_task(task), Settings(), main.submission_id)
    _, rows = robustness.robustness_rows(file_store, task)
    base = queries.case_values(file_store, [main.submission_id], "dice")[main.submission_id]
    (child,) = task_sets.shift_sets(task)
    phantoms = [c.meta["source_case"] for c in child.cases if c.meta["source_case"] in base]  # with a lesion
    assert len(child.cases) == 4 and 0 < len(phantoms) < 4 and len(phantoms) < len(base)
    assert rows[0].unshifted == pytest.approx(np.mean([base[c] for c in phantoms]))
    assert rows[0].unshifted == pytest.approx(rows[0].conditions["noise"].unshifted)
