"""The committed bone-surface task (sim-bone-surface@1) is ranked by the thin-structure surface
F1 averaged over the tolerances T/4, T/2, 3T/4 and T, T = its declared 0.5 mm (the band's
thickness): known answers on the real test labels - a perfect prediction scores 1, a label moved
1 px deeper scores strictly less, 2 px strictly less again (a single 0.5 mm tolerance scored all
three 1), and one moved beyond T scores 0 while its one-sided distances say how far."""
import json

import numpy as np
from PIL import Image

from sonobench.evaluator.scoring import score_prediction
from sonobench.evaluator.tasks import get_task


def _bone_case(task):
    return next(c for c in task.split("test") if c.meta["has_lesion"])


def test_bone_task_declares_its_tolerance_and_primary_metric():
    task = get_task("sim-bone-surface@1")
    assert task.primary_metric == "surface_f1" and task.surface_tolerance == 0.5
    assert len(task.split("test")) == 80
    # split by specimen: every case of a specimen (recorded in its generation metadata) in one split
    splits_of = {}
    for split in ("train", "val", "test"):
        for c in task.split(split):
            meta = json.loads((task.image_path(c).parent.parent / "meta" / f"{c.id}.json").read_text())
            splits_of.setdefault(meta["specimen"], set()).add(split)
    assert len(splits_of) == 24 and all(len(s) == 1 for s in splits_of.values())


def _deeper(gt: np.ndarray, k: int) -> np.ndarray:
    """The label moved k px deeper (down), nothing wrapping round from the bottom."""
    out = np.zeros_like(gt)
    out[k:] = gt[:gt.shape[0] - k] if k else gt
    return out


def test_every_pixel_of_depth_error_costs_surface_f1_on_every_test_label():
    task = get_task("sim-bone-surface@1")
    bone = [c for c in task.split("test") if c.meta["has_lesion"]]
    assert len(bone) == 75
    px = task.spacing_mm[0]
    assert task.surface_tolerance / 4 < px < 2 * px < task.surface_tolerance  # T/4 below one pixel
    for case in bone:
        gt = np.asarray(Image.open(task.label_path(case)))
        f1 = [score_prediction(task, case, _deeper(gt, k))[1]["surface_f1"] for k in (0, 1, 2, 3)]
        assert f1[0] == 1.0, case.id
        assert f1[0] > f1[1] > f1[2] > f1[3], (case.id, f1)


def test_a_shift_beyond_the_tolerance_scores_zero_and_a_perfect_label_scores_one():
    task = get_task("sim-bone-surface@1")
    case = _bone_case(task)
    gt = np.asarray(Image.open(task.label_path(case)))
    px = task.spacing_mm[0]
    perfect = score_prediction(task, case, gt.copy())[1]
    assert perfect["surface_f1"] == perfect["dice"] == 1.0 and perfect["mean_dist_pred_to_ref"] == 0.0
    near, far = score_prediction(task, case, _deeper(gt, 3))[1], score_prediction(task, case, _deeper(gt, 12))[1]
    assert 0.4 < near["surface_f1"] < 0.9 and near["dice"] < 0.5          # 3 px = 0.39 mm: part credit
    assert far["surface_f1"] == 0.0 and far["dice"] == 0.0                 # 12 px = 1.58 mm > T
    assert 0 < near["mean_dist_pred_to_ref"] <= 3 * px + 1e-9


def test_a_lesion_free_image_is_not_scored_by_surface_f1():
    """An image without bone: no surface F1 whatever is predicted (the image-level specificity
    counts a predicted band there), so predicting nothing never scores 1."""
    task = get_task("sim-bone-surface@1")
    case = next(c for c in task.split("test") if not c.meta["has_lesion"])
    gt = np.asarray(Image.open(task.label_path(case)))
    assert not gt.any()
    empty, band = np.zeros_like(gt), np.zeros_like(gt)
    band[100:104, 20:200] = 1
    for pred in (empty, band):
        s = score_prediction(task, case, pred)[1]
        assert s["surface_f1"] is None and s["dice"] is None and s["fp"] == int(pred.sum())
