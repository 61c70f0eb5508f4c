"""Strata (evaluator/strata.py): a result's metrics by lesion size, depth and the case metadata,
with bootstrap CIs; a model perfect on large lesions and blind to small ones shows it."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.evaluator import strata
from sonobench.evaluator.metrics import per_case_metrics
from sonobench.evaluator.metrics.case import score_case
from sonobench.evaluator.tasks import write_task

SIZE, SPACING = 64, 0.5  # 32 mm deep; a disc of radius 4 px is 4 mm across, of 14 px 14 mm


def _disc(cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return (((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r).astype(np.uint8)


def _breast_task(root, extra_meta=lambda i: {}, clusters=None):
    """Test cases: 6 small lesions (r 4 px), 6 large ones (r 14 px), 4 without; family 'breast'."""
    data = root / "data"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir(parents=True)
    radii = [4] * 6 + [14] * 6 + [0] * 4
    cases = []
    for i, r in enumerate(radii):
        label = _disc(20 + (i % 3) * 8, 32, r) if r else np.zeros((SIZE, SIZE), np.uint8)
        cid = f"c{i:02d}"
        Image.fromarray((label * 100 + 50).astype(np.uint8)).save(data / "images" / f"{cid}.png")
        Image.fromarray(label).save(data / "labels" / f"{cid}.png")
        cases.append({"id": cid, "split": "test", "image": f"images/{cid}.png", "label": f"labels/{cid}.png",
                      "meta": {"has_lesion": bool(r), "noise_level": ["low", "medium", "high"][i % 3],
                               "source_case": f"p{i // 6}", **extra_meta(i)}})
    spec = {"id": "toy-breast", "version": 1, "title": "t", "description": "d", "modality": "toy",
            "classes": ["background", "lesion"], "native_size": [SIZE, SIZE], "input_size": [SIZE, SIZE],
            "input_channels": 1, "spacing_mm": [SPACING, SPACING], "primary_metric": "dice",
            "metrics": ["dice", "hd95", "sensitivity", "specificity"], "family": "breast", "data_root": "data",
            **({"clusters": clusters} if clusters else {})}
    return write_task(root, spec, cases)


def _rows(task, predict) -> list[dict]:
    """Per-case rows as the store's case means give them, scored by the evaluator's own metrics."""
    from sonobench.kernel.imageio import load_label

    rows = []
    for case in task.split("test"):
        gt = load_label(task.label_path(case))
        s = score_case(predict(gt), gt, 2, spacing=task.spacing_mm)[1]
        present = bool(s["tp"] + s["fn"])
        rows.append({"case_id": case.id, **{m: s.get(m) for m in per_case_metrics()}, "applicable": int(present),
                     "tp": s["tp"], "fp": s["fp"], "fn": s["fn"]})
    return rows


def _groups(body, key):
    return {g["group"]: g for s in body["strata"] if s["key"] == key for g in s["groups"]}


def _large_only(gt):
    return gt if gt.sum() > 3.14 * 10 ** 2 else np.zeros_like(gt)


def test_perfect_on_large_lesions_and_empty_on_small_ones_shows_in_the_size_strata(tmp_path):
    task = _breast_task(tmp_path / "t")
    body = strata.breakdown(task, _rows(task, _large_only), task.metrics, n_boot=200)
    size = _groups(body, "lesion_size")
    assert list(size) == ["no lesion", "small (< 8 mm)", "large (≥ 12 mm)"]
    large, small = size["large (≥ 12 mm)"]["metrics"], size["small (< 8 mm)"]["metrics"]
    assert large["dice"] == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 6}
    assert small["dice"]["mean"] == 0.0 and small["dice"]["ci_high"] == 0.0
    assert large["sensitivity"]["value"] == 1.0 and small["sensitivity"]["value"] == 0.0
    assert size["no lesion"]["metrics"]["dice"]["n"] == 0 and size["no lesion"]["metrics"]["specificity"]["value"] == 1.0
    # the overall mean hides it: half the lesion cases are perfect
    assert np.mean([r["dice"] for r in _rows(task, _large_only) if r["applicable"]]) == pytest.approx(0.5)


def test_depth_and_noise_strata_come_in_their_natural_order(tmp_path):
    task = _breast_task(tmp_path / "t")
    body = strata.breakdown(task, _rows(task, lambda gt: gt), task.metrics, n_boot=50)
    depth = _groups(body, "lesion_depth")
    # lesion centres at rows 20, 28, 36 px: 10, 14 and 18 mm deep, four lesions each
    assert list(depth) == ["no lesion", "shallow (< 14 mm)", "middle (14–18 mm)", "deep (≥ 18 mm)"]
    assert [g["n_cases"] for g in depth.values()] == [4, 4, 4, 4]
    assert list(_groups(body, "noise_level")) == ["low", "medium", "high"]
    keys = {s["key"] for s in body["strata"]}
    assert "source_case" not in keys  # a case's name, not its physics
    assert "has_lesion" not in keys  # the size stratum's 'no lesion' group says it already


def test_new_meta_fields_are_read_generically_with_declared_or_tertile_bins(tmp_path):
    task = _breast_task(tmp_path / "t", extra_meta=lambda i: {"cnr": [0.5, 1.5, 3.0][i % 3],
                                                              "echogenicity": ["iso", "hypo"][i % 2],
                                                              "speed_of_sound": 1440.0 + 7 * i})
    body = strata.breakdown(task, _rows(task, lambda gt: gt), task.metrics, n_boot=50)
    keys = [s["key"] for s in body["strata"]]
    assert {"cnr", "echogenicity", "speed_of_sound"} <= set(keys)
    assert list(_groups(body, "cnr")) == ["low (< 1)", "medium (1–2)", "high (≥ 2)"]
    assert len(_groups(body, "speed_of_sound")) == 3  # an undeclared numeric field: its tertiles


def test_clustered_intervals_resample_whole_clusters(tmp_path):
    rng = np.random.default_rng(0)
    plain = _breast_task(tmp_path / "a")
    clustered = _breast_task(tmp_path / "b", clusters={"key": "source_case"})

    def predict(gt):  # random damage, a different amount per case
        return (gt * (rng.uniform(size=gt.shape) > rng.uniform(0, 0.8))).astype(np.uint8)

    rows = _rows(plain, predict)
    a = strata.breakdown(plain, rows, ["dice"], n_boot=500)
    b = strata.breakdown(clustered, rows, ["dice"], n_boot=500)
    ga, gb = _groups(a, "noise_level")["low"]["metrics"]["dice"], _groups(b, "noise_level")["low"]["metrics"]["dice"]
    assert ga["mean"] == gb["mean"] and (ga["ci_low"], ga["ci_high"]) != (gb["ci_low"], gb["ci_high"])
    assert b["clustered_by"] == "source_case" and a["clustered_by"] is None


def test_a_task_without_spacing_has_no_mm_strata(tmp_path):
    task = _breast_task(tmp_path / "t")
    spec = json.loads((task.folder / "task.json").read_text())
    spec["spacing_mm"] = None
    (task.folder / "task.json").write_text(json.dumps(spec))
    from sonobench.evaluator.tasks import load_task_folder

    task = load_task_folder(task.folder)
    keys = [s["key"] for s in strata.breakdown(task, _rows(task, lambda gt: gt), ["dice"], n_boot=20)["strata"]]
    assert "lesion_size" not in keys and "noise_level" in keys


def test_strata_command_on_a_scored_submission(tmp_path, toy_task, toy_onnx):
    db = str(tmp_path / "r.db")
    r = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db, "--isolation", "none"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["strata", "1", "--db", db, "--format", "json", "--resamples", "100"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    normal = _groups(body, "normal")
    assert body["submission_id"] == 1 and body["n_cases"] == 6 and set(normal) == {"False", "True"}
    assert normal["True"]["metrics"]["dice"]["n"] == 0 and normal["False"]["metrics"]["dice"]["n"] == 3
    r = CliRunner().invoke(cli, ["strata", "1", "--db", db])
    assert r.exit_code == 0 and "Normal — from the case meta (normal)" in r.output
    r = CliRunner().invoke(cli, ["strata", "7", "--db", db])
    assert r.exit_code == 1 and r.output.startswith("Error: submission #7 has no result")


def test_a_private_result_has_no_strata(store, toy_task):
    from tests.spine.test_store import CASE, _result, _sub

    store.register_task(toy_task)
    sid = _sub(store, toy_task)
    store.write_result(sid, dict(_result(toy_task), private_cases=1), [CASE])
    with pytest.raises(strata.StrataUnavailable, match="hidden test split"):
        strata.submission_strata(store, sid)


def test_the_shift_sets_scored_for_a_submission_are_its_condition_stratum(tmp_path, toy_task, toy_onnx):
    from .test_robustness import brighter, make_shift

    make_shift(toy_task, tmp_path / "tasks", "gain", brighter, n=4)
    db = str(tmp_path / "r.db")
    r = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db, "--isolation", "none"])
    assert r.exit_code == 0 and "shift 'gain'" in r.output, r.output
    body = json.loads(CliRunner().invoke(cli, ["strata", "1", "--db", db, "--format", "json"]).output)
    groups = _groups(body, "shift_condition")
    assert list(groups) == ["as acquired (the same phantoms)", "gain"]
    assert groups["gain"]["n_cases"] == groups["as acquired (the same phantoms)"]["n_cases"] == 4
    assert groups["gain"]["metrics"]["dice"]["mean"] != groups["as acquired (the same phantoms)"]["metrics"]["dice"]["mean"]


def test_without_readable_labels_the_label_strata_are_left_out_and_said_so(tmp_path):
    task = _breast_task(tmp_path / "t")
    rows = _rows(task, lambda gt: gt)
    (task.data_root / task.split("test")[0].label).unlink()
    body = strata.breakdown(task, rows, ["dice"], n_boot=20)
    assert [s["key"] for s in body["strata"]] == ["noise_level"]
    assert body["skipped"][0]["strata"] == ["lesion_size", "lesion_depth"]
    assert "c00 cannot be read" in body["skipped"][0]["why"]
