"""No-skill floors (baselines/floors.py, evaluator/floors.py): built from the train split only,
constant whatever the input, scored through the sandboxed pipeline as kind "floor", committed
per task version, and the mark on references that are not significantly above the best floor."""
from __future__ import annotations

import base64
import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

from sonobench.baselines import floors
from sonobench.baselines.reference import read_json
from sonobench.cli import cli
from sonobench.cli.toy import build_toy_task
from sonobench.evaluator import floors as board_floors
from sonobench.evaluator.evaluate import Request, evaluate
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.tasks import get_task
from sonobench.kernel import imageio


@pytest.fixture
def toy96(tmp_path, monkeypatch):
    """A 96-case toy task (24 test cases, 6 of them lesion-free) on the task search path."""
    root = tmp_path / "tasks"
    task = build_toy_task(root / "toy-lesion" / "v1", n=96, size=48)
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return task


def _run(path, image):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": image})[0]


def test_the_prior_is_the_share_of_train_labels_and_nothing_else(toy96):
    freq = floors.train_frequencies(toy96)
    labels = np.stack([imageio.load_label(toy96.label_path(c)) for c in toy96.split("train")])
    assert np.allclose(freq[1], labels.mean(axis=0)) and np.allclose(freq.sum(axis=0), 1.0)


def test_the_binary_prior_threshold_is_the_best_candidate_on_val(toy96):
    background, prior = floors.build_floors(toy96)
    assert background.key == "floor-all-background" and not background.label_map.any()
    freq = floors.train_frequencies(toy96)[1]
    assert np.array_equal(prior.label_map, (freq > prior.threshold).astype(np.uint8))
    val = toy96.split("val")
    tried = [t for t in np.linspace(0, 0.95, 20) if (freq > t).any()]  # the empty map is the background floor
    assert len(tried) > 5
    for t in tried:  # no other threshold scores better on val
        assert floors._primary_on(toy96, val, (freq > t).astype(np.uint8)) <= prior.val_score + 1e-12
    assert prior.name == "floor: train prior" and f"thresholded at {prior.threshold:.4f}" in prior.description


def test_a_floor_model_outputs_the_same_map_whatever_the_input(toy96, tmp_path):
    _, prior = floors.build_floors(toy96)
    path = floors.floor_onnx(prior, toy96, tmp_path / "prior.onnx")
    h, w = toy96.input_size
    rng = np.random.default_rng(0)
    a, b = (_run(path, rng.random((n, 1, h, w), dtype=np.float32)) for n in (1, 3))
    assert a.shape == (1, 1, h, w) and b.shape == (3, 1, h, w)
    assert np.array_equal(a[0], b[2]) and np.array_equal(_run(path, np.zeros((1, 1, h, w), np.float32)), a)
    assert np.array_equal(imageio.to_labels(a[0], (h, w)), prior.label_map)


def test_a_multi_class_floor_is_the_train_majority_label():
    task = get_task("sim-neck-thyroid@1")
    _, majority = floors.build_floors(task)
    freq = floors.train_frequencies(task)
    assert majority.key == "floor-train-majority" and majority.name == "floor: train prior"
    assert np.array_equal(majority.label_map, freq.argmax(axis=0))
    assert len(np.unique(majority.label_map)) > 2  # several anatomical classes hold a majority somewhere
    logits = floors.logits(majority.label_map, task.num_classes)
    assert logits.shape == (task.num_classes, *task.input_size)
    assert np.array_equal(imageio.to_labels(logits, tuple(task.native_size)), majority.label_map)


def test_make_floors_scores_them_through_the_evaluator_and_the_file_loads_as_floors(toy96, tmp_path, file_store):
    out = tmp_path / "floors"
    res = CliRunner().invoke(cli, ["baselines", "floors", "toy-lesion@1", "--floors-dir", str(out)])
    assert res.exit_code == 0, res.output
    ref = read_json(out / "toy-lesion@1.json.gz")
    assert ref["manifest_digest"] == toy96.digest and [r["kind"] for r in ref["rows"]] == ["floor", "floor"]
    background = ref["rows"][0]
    assert background["scores"]["split"] == "test" and background["scores"]["n_cases"] == 24
    assert floors.load_floors(file_store, toy96, folder=out) == 2
    assert floors.load_floors(file_store, toy96, folder=out) == 0  # loading twice changes nothing
    rows = file_store.leaderboard_rows("toy-lesion", 1)
    assert {r["kind"] for r in rows} == {"floor"} and {r["name"] for r in rows} == {r["name"] for r in ref["rows"]}
    # the stored per-case scores of the all-background floor are those of an empty mask on each test case
    from sonobench.evaluator.scoring import score_prediction

    sid = next(r["submission_id"] for r in rows if r["name"] == "floor: all background")
    stored = {c["case_id"]: c["dice"] for c in file_store.case_results(sid) if c["class_index"] == 1}
    for case in toy96.split("test"):
        empty = np.zeros(toy96.native_size, np.uint8)
        assert stored[case.id] == score_prediction(toy96, case, empty)[1]["dice"]


def test_the_committed_floor_files_match_their_tasks_and_rebuild_bit_identically():
    for ref_name in ("sim-breast-lesion@2", "sim-neck-thyroid@1", "sim-bone-surface@1"):
        task = get_task(ref_name)
        ref = read_json(floors.FLOORS_DIR / f"{ref_name}.json.gz")
        assert ref["manifest_digest"] == task.digest and all(r["kind"] == "floor" for r in ref["rows"])
        keys = [r["model"] for r in ref["rows"]]
        assert keys[0] == "floor-all-background" and len(keys) == 2
        for row in ref["rows"]:  # each row carries the map its model outputs; the model rebuilds from it
            label_map = imageio.decode_png(base64.b64decode(row["floor"]["label_map_png"]))
            floor = floors.Floor(row["model"], row["name"], "", label_map)
            path = floors.floor_onnx(floor, task, floors.FLOORS_DIR.parent.parent.parent / ".pytest-floor.onnx")
            try:
                assert hashlib.sha256(path.read_bytes()).hexdigest() == row["onnx"]["sha256"]
            finally:
                path.unlink()
    neck = get_task("sim-neck-thyroid@1")
    rebuilt = floors.build_floors(neck)[1]  # no threshold to choose: cheap to rebuild from the train split
    committed = read_json(floors.FLOORS_DIR / "sim-neck-thyroid@1.json.gz")["rows"][1]
    assert np.array_equal(imageio.decode_png(base64.b64decode(committed["floor"]["label_map_png"])), rebuilt.label_map)


def _submit(store, task, path, name, kind):
    return evaluate(store, task, prepare(path, name=name), request=Request.for_task(task, kind=kind)).submission_id


def test_a_reference_not_above_the_best_floor_is_marked(lesion_toy, toy_onnx, tmp_path, file_store):
    task = lesion_toy
    background, prior = floors.build_floors(task)
    for f in (background, prior):
        _submit(file_store, task, floors.floor_onnx(f, task, tmp_path / f"{f.key}.onnx"), f.name, "floor")
    good = _submit(file_store, task, toy_onnx, "threshold", "baseline")  # looks at the image
    same = floors.Floor("copy", "a reference that copies the prior", "", prior.label_map.copy())
    copy = _submit(file_store, task, floors.floor_onnx(same, task, tmp_path / "copy.onnx"), same.name, "baseline")
    rows = file_store.leaderboard_rows("toy-lesion", 1)
    best = board_floors.best_floor(rows, "dice")
    assert best["name"] == prior.name == max((r for r in rows if r["kind"] == "floor"), key=lambda r: r["dice_mean"])["name"]
    marks = board_floors.floor_marks(file_store, rows, "dice", 0.05)
    assert set(marks) == {copy} and marks[copy]["p"] == 1.0 and marks[copy]["n"] == 12  # equal on every case
    words = board_floors.mark_words(marks[copy], 0.05)
    assert words.startswith(f"not significantly better than the floor '{prior.name}'")
    res = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--wide", "--db", str(file_store.path)])
    assert res.exit_code == 0, res.output
    lines = {r["name"]: next(line for line in res.output.splitlines() if r["name"] in line) for r in rows}
    assert "[≤ floor]" in lines[same.name] and "floor]" not in lines["threshold"]
    assert "[floor]" in lines[background.name] and "[≤ floor]: a reference not significantly better" in res.output
    assert good not in marks


def test_the_paired_test_is_scipys_one_sided_wilcoxon():
    from scipy import stats

    a = {f"c{i}": v for i, v in enumerate([0.5, 0.7, 0.2, 0.9, 0.4, 0.8, 0.6])}
    f = {f"c{i}": v for i, v in enumerate([0.4, 0.5, 0.3, 0.5, 0.1, 0.6, 0.6])}
    p, n = board_floors.paired_p(a, {**f, "extra": 0.0}, "dice")
    d = np.array([a[k] - f[k] for k in a])
    assert n == 7 and p == pytest.approx(stats.wilcoxon(d, alternative="greater").pvalue)
    p_lower, _ = board_floors.paired_p(a, f, "hd95")  # lower is better: the direction flips
    assert p_lower == pytest.approx(stats.wilcoxon(-d, alternative="greater").pvalue)
