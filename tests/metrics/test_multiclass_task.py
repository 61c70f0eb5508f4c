"""Per-class scores on the committed multi-class task (sim-neck-thyroid@1): every foreground
class is scored on its own, and a class absent from the reference is not scored (not applicable)."""
import json

import numpy as np
from PIL import Image

from sonobench.evaluator.metrics import case_mean, detection_rates, per_case_metrics
from sonobench.evaluator.scoring import score_prediction
from sonobench.evaluator.tasks import get_task


def _no_nodule_case(task):
    return next(c for c in task.split("test") if not c.meta["has_lesion"])


def test_a_perfect_prediction_scores_one_per_present_class_and_an_absent_class_is_not_scored():
    task = get_task("sim-neck-thyroid@1")
    assert task.num_classes == 6 and task.primary_metric == "dice"
    case = _no_nodule_case(task)
    gt = np.asarray(Image.open(task.label_path(case)))
    assert 2 not in np.unique(gt)
    scores = score_prediction(task, case, gt.copy())
    assert sorted(scores) == [1, 2, 3, 4, 5]
    for c in (1, 3, 4, 5):
        s = scores[c]
        assert s["dice"] == 1.0 and s["iou"] == 1.0 and s["hd95"] == 0.0
    assert scores[2]["tp"] == scores[2]["fp"] == scores[2]["fn"] == 0
    assert all(scores[2][m] is None for m in per_case_metrics())  # absent from both: excluded, not Dice 1
    assert case_mean(scores, "dice") == 1.0  # the mean over the four present classes


def test_a_false_nodule_costs_only_the_nodule_class():
    task = get_task("sim-neck-thyroid@1")
    case = _no_nodule_case(task)
    gt = np.asarray(Image.open(task.label_path(case)))
    pred = gt.copy()
    lobe = np.argwhere(gt == 1)
    r, c = lobe[len(lobe) // 2]
    pred[r - 3:r + 3, c - 3:c + 3] = 2  # a small false nodule inside the lobe
    scores = score_prediction(task, case, pred)
    assert detection_rates([scores[2]])["specificity"]["value"] == 0.0
    # the nodule is absent from the reference: no Dice / HD95 (no image-diagonal penalty), the 36
    # false-positive pixels stay in its counts, where the image-level specificity sees them
    assert scores[2]["dice"] is None and scores[2]["hd95"] is None and scores[2]["fp"] == 36
    assert 0.97 < scores[1]["dice"] < 1.0           # the lobe lost those 36 pixels
    for k in (3, 4, 5):
        assert scores[k]["dice"] == 1.0


def test_classes_are_named_and_the_task_readme_states_the_split():
    task = get_task("sim-neck-thyroid@1")
    assert list(task.classes) == ["background", "thyroid", "nodule", "carotid-artery", "jugular-vein", "trachea"]
    counts = {s: len(task.split(s)) for s in ("train", "val", "test")}
    assert counts == {"train": 133, "val": 33, "test": 84}
    readme = (task.folder / "README.md").read_text()
    assert "133 train / 33 val / 84 test" in readme
    spec = json.loads((task.folder / "task.json").read_text())
    assert spec["source"]["backend"] == "kwave" and spec["source"]["image_formation"] == 2
