"""The committed bone-surface task (sim-bone-surface@1) is ranked by the thin-structure
surface F1 within its declared 0.5 mm tolerance: a band shifted by less than the tolerance keeps
F1 = 1 while its Dice falls, and one shifted beyond it loses both."""
import json

import numpy as np
from PIL import Image

from evaluator.scoring import score_prediction
from evaluator.tasks import get_task


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


def test_a_shift_within_the_tolerance_keeps_surface_f1_and_costs_dice():
    task = get_task("sim-bone-surface@1")
    case = _bone_case(task)
    gt = np.asarray(Image.open(task.label_path(case)))
    px = task.spacing_mm[0]
    near = np.roll(gt, 3, axis=0)          # 3 px = 0.39 mm deeper
    far = np.roll(gt, 12, axis=0)          # 12 px = 1.58 mm deeper
    s_near, s_far = score_prediction(task, case, near)[1], score_prediction(task, case, far)[1]
    assert 3 * px < task.surface_tolerance < 12 * px
    assert s_near["surface_f1"] == 1.0 and s_near["dice"] < 0.5
    assert s_far["surface_f1"] < 0.2 and s_far["dice"] == 0.0
    assert np.isclose(s_near["mean_dist_pred_to_ref"], s_near["mean_dist_ref_to_pred"], rtol=0.5)
    assert 0 < s_near["mean_dist_pred_to_ref"] <= 3 * px + 1e-9
