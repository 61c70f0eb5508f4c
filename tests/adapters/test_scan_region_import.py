"""Adapters declare the scan region of convex-probe datasets: an imported AbdomenUS copy is
scored inside each image's fan (the convex hull of its non-black pixels), so what a model
predicts on the black background outside the fan does not change its score."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sonobench.adapters.catalog import get_adapter
from sonobench.adapters.importer import ImportOptionError
from sonobench.evaluator.scan_region import RegionMethod
from sonobench.evaluator.scoring import score_prediction
from sonobench.evaluator.tasks import get_task

from .replicas import make_abdomenus


def _fan_replica(root):
    """The AbdomenUS replica with every image blacked out outside a convex-probe sector."""
    path = make_abdomenus(root)
    arrays = dict(np.load(path))
    rr, cc = np.mgrid[0:32, 0:32]
    inside = (np.hypot(rr + 8, cc - 16) <= 40) & (np.abs(np.degrees(np.arctan2(cc - 16, rr + 8))) <= 40)
    for key in [k for k in arrays if k.endswith("_images")]:
        arrays[key] = np.where(inside, np.maximum(arrays[key], 1), 0).astype(np.uint8)
    for key in [k for k in arrays if k.endswith("_label")]:
        arrays[key] = np.where(inside, arrays[key], 0).astype(np.uint8)  # annotations lie inside the fan
    np.savez(path, **arrays)
    return path, inside


def test_the_convex_probe_adapter_declares_a_convex_hull_region():
    assert get_adapter("abdomenus").scan_region == {"method": "convex-hull", "threshold": 0}
    assert get_adapter("busi").scan_region is None  # a linear probe: the whole image


def test_an_imported_fan_is_scored_only_inside_it(tmp_path, run_import):
    path, inside = _fan_replica(tmp_path / "abdomenus")
    run_import("abdomenus", path)
    task = get_task("abdomenus")
    assert task.scan_region is not None and task.scan_region.method is RegionMethod.CONVEX_HULL
    case = task.split("test")[0]
    gt = np.asarray(Image.open(task.label_path(case)))
    outside = ~inside
    assert outside.any() and not gt[outside].any()
    noisy = gt.copy()
    noisy[outside] = 3  # confident nonsense on the black background outside the fan
    clean, with_noise = score_prediction(task, case, gt), score_prediction(task, case, noisy)
    assert clean == with_noise
    present = [c for c, s in clean.items() if s["tp"] + s["fn"] > 0]  # the classes this label has
    assert present and all(clean[c]["dice"] == 1.0 for c in present)
    noisy_inside = gt.copy()
    noisy_inside[inside & (gt == 0)] = 3  # the same nonsense inside the fan does count
    inside_scores = score_prediction(task, case, noisy_inside)
    assert inside_scores[3]["fp"] > 0 == clean[3]["fp"]  # false positives (image-level, if 3 is absent)
    assert all(inside_scores[c]["dice"] < 1.0 for c in present if c == 3) and inside_scores != clean


def test_the_scan_region_option_overrides_the_adapter(tmp_path, run_import, replica):
    run_import("busi", replica("busi"), scan_region="convex-hull")
    assert get_task("busi").scan_region.method is RegionMethod.CONVEX_HULL
    run_import("abdomenus", make_abdomenus(tmp_path / "ab"), scan_region="none", task_id="ab-whole")
    assert get_task("ab-whole").scan_region is None
    with pytest.raises(ImportOptionError, match="auto, convex-hull, none"):
        run_import("abdomenus", make_abdomenus(tmp_path / "ab2"), scan_region="fan", task_id="ab-bad")
