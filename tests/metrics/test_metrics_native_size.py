"""Outputs are scored at each case's native size: the model's K x h x w scores are
resized bilinearly per channel to H x W, then thresholded (one channel) or argmaxed,
and only then scored. Checked on a task whose input size differs from its native size."""
import numpy as np
import pytest
from PIL import Image

from sonobench.evaluator.metrics import dice, hd95, score_case
from sonobench.kernel import imageio

from .mask_factory import disc

NATIVE = (64, 64)
INPUT = (40, 48)  # not square, so a swapped height/width would show


def _bilinear(ch: np.ndarray, shape) -> np.ndarray:
    return np.asarray(Image.fromarray(ch.astype(np.float32)).resize((shape[1], shape[0]), Image.BILINEAR))


def test_to_labels_resizes_each_channel_then_takes_the_argmax():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 24, 32)).astype(np.float32)
    labels = imageio.to_labels(scores, (48, 64))
    assert labels.shape == (48, 64) and labels.dtype == np.uint8
    expected = np.stack([_bilinear(ch, (48, 64)) for ch in scores]).argmax(axis=0)
    assert np.array_equal(labels, expected)
    # resizing the argmax instead would give a different map: the order matters
    nearest = np.asarray(Image.fromarray(scores.argmax(axis=0).astype(np.uint8)).resize((64, 48), Image.NEAREST))
    assert not np.array_equal(labels, nearest)


@pytest.mark.parametrize("output,threshold", [("logits", 0.0), ("probabilities", 0.5)])
def test_binary_output_is_resized_before_the_threshold(output, threshold):
    native = disc(NATIVE, (30, 34), 14)
    small = disc(INPUT, (30 * INPUT[0] / 64, 34 * INPUT[1] / 64), 9)
    score = np.where(small, threshold + 1.0, threshold - 1.0).astype(np.float32)[None]
    labels = imageio.to_labels(score, NATIVE, output)
    assert np.array_equal(labels, (_bilinear(score[0], NATIVE) > threshold).astype(np.uint8))
    assert dice(labels.astype(bool), native) > 0.9 and hd95(labels.astype(bool), native) <= 3.0


def test_evaluate_scores_at_native_size(tmp_path, monkeypatch, file_store, toy_onnx):
    """End to end: the stored per-case scores equal our own run of the same model at the
    input size, resized back to 64 x 64 and scored against the native labels."""
    ort = pytest.importorskip("onnxruntime")
    from sonobench.cli.toy import build_toy_task
    from sonobench.evaluator.evaluate import evaluate
    from sonobench.evaluator.submission import prepare

    root = tmp_path / "tasks"
    task = build_toy_task(root / "toy-resized" / "v1", task_id="toy-resized", input_size=INPUT)
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    assert task.input_size == INPUT and task.native_size == NATIVE
    out = evaluate(file_store, task, prepare(toy_onnx, name="thr"))
    stored = {c["case_id"]: c for c in file_store.case_results(out.submission_id)}
    session = ort.InferenceSession(str(toy_onnx), providers=["CPUExecutionProvider"])
    assert len(stored) == len(task.split("test")) > 0
    for case in task.split("test"):
        image = imageio.load_gray(task.image_path(case))
        gt = imageio.load_label(task.label_path(case))
        assert image.shape == gt.shape == NATIVE
        y = session.run(None, {"image": imageio.to_input(image, INPUT, 1)})[0][0]
        assert y.shape == (1, *INPUT)
        pred = (_bilinear(y[0], NATIVE) > 0).astype(np.uint8)
        expected = score_case(pred, gt, 2, spacing=task.spacing_mm)[1]
        for m in ("dice", "iou", "hd95"):
            assert stored[case.id][m] == pytest.approx(expected[m], abs=1e-9), (case.id, m)
