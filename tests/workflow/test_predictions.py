"""Prediction submissions: per-case masks scored by the same pipeline as a model, labelled as
predictions on the board, params/GFLOPs/latency n/a; a committed reference row's stored masks
score exactly that row's per-case values."""
import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.evaluator.store import Store
from sonobench.kernel import imageio


def write_masks(folder, masks: dict) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for case_id, mask in masks.items():
        Image.fromarray(mask.astype(np.uint8), mode="L").save(folder / f"{case_id}.png")
    return str(folder)


def label_masks(task, split="test") -> dict:
    return {c.id: imageio.load_label(task.label_path(c)) for c in task.split(split)}


def submit(path, task_ref, db, *extra):
    return CliRunner().invoke(cli, ["submit", str(path), "--predictions", "--task", task_ref, "--db", str(db), *extra])


def test_perfect_masks_score_one_and_show_as_predictions_with_na_complexity(toy_task, tmp_path):
    folder = write_masks(tmp_path / "preds", label_masks(toy_task))
    out = submit(folder, "toy-lesion", tmp_path / "r.db", "--name", "oracle")
    assert out.exit_code == 0, out.output
    assert "Scored: submission #1 'oracle' (predictions) on toy-lesion@1" in out.output
    assert "GFLOPs n/a  params n/a  latency n/a" in out.output
    with Store(tmp_path / "r.db") as store:
        [sub] = store.db.query("select format, status from submissions")
        res = store.result_for(1)
        n_pred = next(store.db.query("select count(*) n from predictions"))["n"]
    assert sub == {"format": "predictions", "status": "done"}
    assert res["params"] is None and res["gflops"] is None and res["latency_ms"] is None
    assert res["iou_mean"] == pytest.approx(1.0)
    assert n_pred == len(toy_task.split("test"))
    board = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", str(tmp_path / "r.db"), "--format", "json"])
    [row] = json.loads(board.output)["rows"]
    assert row["format"] == "predictions" and row["params"] is None


def test_the_same_masks_as_npz_in_a_zip_are_not_scored_twice(toy_task, tmp_path):
    masks = label_masks(toy_task)
    write_masks(tmp_path / "preds", masks)
    assert submit(tmp_path / "preds", "toy-lesion", tmp_path / "r.db").exit_code == 0
    archive = tmp_path / "preds.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for case_id, mask in masks.items():
            buf = io.BytesIO()
            np.savez(buf, mask.astype(np.int64))
            zf.writestr(f"{case_id}.npz", buf.getvalue())
    again = submit(archive, "toy-lesion", tmp_path / "r.db")
    assert again.exit_code == 0, again.output
    assert "Already scored (not scored twice): submission #1" in again.output


def test_a_wrong_mask_scores_below_a_perfect_one_on_the_same_cases(toy_task, tmp_path):
    masks = {k: np.zeros_like(v) for k, v in label_masks(toy_task).items()}
    out = submit(write_masks(tmp_path / "empty", masks), "toy-lesion", tmp_path / "r.db", "--json")
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)["result"]
    assert res["n_cases"] == len(toy_task.split("test")) and res["iou_mean"] < 0.5


def test_hidden_test_split_refuses_predictions_unless_the_operator_allows(toy_task, tmp_path, monkeypatch):
    spec_path = toy_task.folder / "task.json"
    spec = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps({**spec, "test_labels_private": True}))
    folder = write_masks(tmp_path / "preds", label_masks(toy_task))
    out = submit(folder, "toy-lesion", tmp_path / "r.db")
    assert out.exit_code == 1 and "predictions_on_hidden_split" in out.output
    assert out.output.count("Error:") == 1
    monkeypatch.setenv("SONOBENCH_PREDICTIONS_ON_HIDDEN_SPLIT", "1")
    allowed = submit(folder, "toy-lesion", tmp_path / "r.db")
    assert "predictions_on_hidden_split" not in allowed.output


def _reference_row():
    from sonobench.baselines.reference import decode_predictions, read_reference

    ref = read_reference("sim-breast-lesion", version=2)
    row = next(r for r in ref["rows"] if r.get("predictions"))
    return row, decode_predictions(row["predictions"])


def test_a_committed_reference_rows_masks_score_exactly_its_per_case_values(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOBENCH_HOME", str(tmp_path / "home"))
    row, pngs = _reference_row()
    folder = tmp_path / "masks"
    folder.mkdir()
    for case_id, png in pngs.items():
        (folder / f"{case_id}.png").write_bytes(png)
    out = submit(folder, "sim-breast-lesion@2", tmp_path / "r.db")
    assert out.exit_code == 0, out.output
    cols = row["cases"]["columns"]
    expected = {(r[0], r[1]): dict(zip(cols, r)) for r in row["cases"]["rows"]}
    with Store(tmp_path / "r.db") as store:
        got = {(r["case_id"], r["class_index"]): r for r in store.case_results(1)}
    assert set(got) == set(expected)
    for key, want in expected.items():
        for col in ("tp", "fp", "fn", "dice", "iou", "hd95"):
            if want[col] is None:
                assert got[key][col] is None, (key, col)
            else:
                assert got[key][col] == pytest.approx(want[col], rel=1e-12, abs=1e-12), (key, col)


def test_the_terminal_board_and_the_apps_board_label_the_row_as_predictions(toy_task, tmp_path, monkeypatch):
    db = tmp_path / "r.db"
    assert submit(write_masks(tmp_path / "preds", label_masks(toy_task)), "toy-lesion", db, "--name", "oracle"
                  ).exit_code == 0
    table = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", str(db)])
    assert table.exit_code == 0, table.output
    [line] = [ln for ln in table.output.splitlines() if "oracle" in ln]
    assert "oracle [predictions]" in line and "n/a" in line
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    from sonobench.leaderboard_app import data

    data.st.cache_data.clear()
    _, _, shown, helps, _ = data.leaderboard_table("toy-lesion", 1, toy_task.primary_metric)
    assert list(shown["Type"]) == ["submission (predictions)"]
    assert "(predictions) = scored from uploaded per-case masks" in helps["Type"]


def test_only_a_participants_masks_are_labelled_predictions_not_floors_or_imported_baselines():
    import pandas as pd

    from sonobench.cli.board_text import BASIC
    from sonobench.leaderboard_app.columns import type_labels

    rows = [{"name": "a", "kind": "submission", "format": "predictions"},
            {"name": "b", "kind": "floor", "format": "predictions"},      # a floor's committed masks
            {"name": "c", "kind": "baseline", "format": "predictions"},   # a device-imported baseline
            {"name": "d", "kind": "submission", "format": "onnx"}]
    assert [BASIC["name"].cell(r) for r in rows] == ["a [predictions]", "b [floor]", "c", "d"]
    assert list(type_labels(pd.DataFrame(rows))) == ["submission (predictions)", "FLOOR", "BASELINE", "submission"]


def test_a_models_stored_masks_resubmitted_as_predictions_give_the_same_row(toy_task, toy_onnx, tmp_path):
    from sonobench.evaluator.metrics import per_case_metrics
    from sonobench.evaluator.summary import AGGREGATE_KEYS

    db = tmp_path / "r.db"
    model = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", str(db)])
    assert model.exit_code == 0, model.output
    folder = tmp_path / "masks"
    folder.mkdir()
    with Store(db) as store:
        for r in store.db.query("select case_id, png from predictions"):
            (folder / f"{r['case_id']}.png").write_bytes(r["png"])
    assert submit(folder, "toy-lesion", db).exit_code == 0
    with Store(db) as store:
        a, b = store.result_for(1), store.result_for(2)
        cases_a, cases_b = store.case_results(1), store.case_results(2)
    keys = [f"{m}_{k}" for m in per_case_metrics() for k in AGGREGATE_KEYS]
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert [{k: v for k, v in r.items() if k != "result_id"} for r in cases_a] == \
        [{k: v for k, v in r.items() if k != "result_id"} for r in cases_b]
    assert set(a) == set(b)  # one row builder: the same columns
    assert a["params"] is not None and b["params"] is None and b["latency_ms"] is None


def test_corruptions_need_a_model(toy_task, tmp_path):
    out = submit(write_masks(tmp_path / "preds", label_masks(toy_task)), "toy-lesion", tmp_path / "r.db",
                 "--corruptions", "all")
    assert out.exit_code == 1 and "prediction files have no model to feed" in out.output
