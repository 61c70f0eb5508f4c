"""Scan regions: the convex hull of a convex-probe fan, metrics confined to it, and the
task-level declaration (derived from the image, or a pinned mask file)."""
import json

import numpy as np
import pytest
from PIL import Image

from sonobench.evaluator.metrics import InvalidMetricInput, convex_hull_region, restrict, score_case
from sonobench.evaluator.scan_region import RegionMethod, ScanRegion
from sonobench.evaluator.scoring import score_prediction
from sonobench.evaluator.tasks import load_task_folder, verify_task, write_task
from sonobench.kernel.errors import InvalidTaskSpec, ManifestMismatch


def fan(shape=(96, 128), apex=(-20, 64), r=(30, 110), half_angle_deg=35.0) -> np.ndarray:
    """A convex-probe sector: pixels between radii r of the apex, within +-half_angle of depth."""
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]]
    dy, dx = rr - apex[0], cc - apex[1]
    radius = np.hypot(dy, dx)
    angle = np.degrees(np.arctan2(dx, dy))
    return (radius >= r[0]) & (radius <= r[1]) & (np.abs(angle) <= half_angle_deg)


def fan_image(seed=0) -> tuple[np.ndarray, np.ndarray]:
    inside = fan()
    speckle = np.random.default_rng(seed).rayleigh(60.0, inside.shape).clip(1, 255)
    return np.where(inside, speckle, 0).astype(np.uint8), inside


def test_convex_hull_covers_the_fan_and_nothing_far_outside():
    image, inside = fan_image()
    region = convex_hull_region(image)
    assert region[inside].all()  # every imaged pixel is in the region
    # The hull of an annular sector also holds the thin cap between the chord and the inner
    # arc, but never the black corners beside the fan.
    assert not region[0, 0] and not region[0, -1] and not region[-1, 0] and not region[-1, -1]
    extra = region & ~inside
    assert extra.sum() < 0.12 * inside.sum()


def test_hull_of_a_rectangle_is_the_rectangle():
    image = np.zeros((20, 30), np.uint8)
    image[3:15, 5:25] = 200
    assert np.array_equal(convex_hull_region(image), image > 0)


def test_threshold_and_degenerate_images():
    image = np.full((10, 12), 5, np.uint8)
    image[2:8, 3:9] = 100
    assert convex_hull_region(image, threshold=50).sum() == 36  # the dim floor is outside
    assert convex_hull_region(np.zeros((8, 8), np.uint8)).all()  # nothing bright: the whole image
    line = np.zeros((8, 8), np.uint8)
    line[4, 1:7] = 255  # collinear: the region is that line
    assert np.array_equal(convex_hull_region(line), line > 0)
    with pytest.raises(InvalidMetricInput, match="2-D image"):
        convex_hull_region(np.zeros((2, 3, 4)))


def test_predictions_outside_the_region_do_not_change_the_score():
    image, inside = fan_image()
    region = convex_hull_region(image)
    gt = np.zeros(image.shape, np.uint8)
    gt[40:60, 50:75] = 1
    pred = np.zeros_like(gt)
    pred[42:62, 52:77] = 1
    noisy = pred.copy()
    noisy[~region] = np.random.default_rng(1).integers(0, 2, int((~region).sum()))  # junk in the black corners
    clean_score = score_case(pred, gt, 2, region=region)
    assert score_case(noisy, gt, 2, region=region) == clean_score
    assert score_case(pred, gt, 2) == clean_score  # nothing outside: same as scoring the whole image
    assert score_case(noisy, gt, 2)[1]["dice"] < clean_score[1]["dice"]  # without the region, the junk counts


def test_restrict_checks_the_region_shape():
    a = np.zeros((4, 4), np.uint8)
    with pytest.raises(InvalidMetricInput, match="shape"):
        restrict(a, a, np.ones((3, 4), bool))
    with pytest.raises(InvalidMetricInput, match="0/1"):
        restrict(a, a, np.full((4, 4), 3))


@pytest.mark.parametrize("value, match", [
    ({"method": "fan"}, "Valid choices: convex-hull, file"),
    ("convex-hull", "must be an object"),
    ({"method": "convex-hull", "threshold": 300}, r"\[0, 255\)"),
    ({"method": "file", "threshold": 3}, "convex-hull method only"),
    ({"method": "convex-hull", "size": 3}, "unknown keys"),
])
def test_bad_declarations_are_refused_with_what_to_write(value, match):
    with pytest.raises(InvalidTaskSpec, match=match):
        ScanRegion.from_spec(value, "task.json")


def _convex_task(tmp_path, scan_region, with_files=False):
    data = tmp_path / "data"
    data.mkdir()
    cases = []
    for i in range(4):
        image, inside = fan_image(seed=i)
        label = np.zeros(image.shape, np.uint8)
        label[40:60, 50:75] = 1
        meta = {}
        Image.fromarray(image).save(data / f"c{i}.png")
        Image.fromarray(label).save(data / f"c{i}_label.png")
        if with_files:
            Image.fromarray(inside.astype(np.uint8) * 255).save(data / f"c{i}_region.png")
            from sonobench.kernel.paths import sha256_file
            meta = {"region": f"c{i}_region.png", "region_sha256": sha256_file(data / f"c{i}_region.png")}
        cases.append({"id": f"c{i}", "split": "test" if i >= 2 else "train", "image": f"c{i}.png",
                      "label": f"c{i}_label.png", "meta": meta})
    spec = {"id": "convex-toy", "version": 1, "classes": ["background", "organ"], "input_size": [96, 128],
            "scan_region": scan_region}
    return write_task(tmp_path / "task", spec, cases, data_root=data)


def test_a_convex_task_scores_inside_its_fan(tmp_path):
    task = _convex_task(tmp_path, {"method": "convex-hull", "threshold": 0})
    assert task.scan_region == ScanRegion(RegionMethod.CONVEX_HULL, 0.0)
    assert task.summary()["scan_region"] == {"method": "convex-hull", "threshold": 0.0}
    case = task.split("test")[0]
    gt = np.asarray(Image.open(task.label_path(case)))
    pred = gt.copy()
    pred[:8, :8] = 1  # a false positive in the black corner, outside the fan
    assert score_prediction(task, case, pred)[1]["dice"] == 1.0
    reloaded = load_task_folder(task.folder)
    assert reloaded.scan_region == task.scan_region and reloaded.digest == task.digest


def test_region_files_are_pinned_and_verified(tmp_path):
    task = _convex_task(tmp_path, {"method": "file"}, with_files=True)
    verify_task(task)
    case = task.split("test")[0]
    gt = np.asarray(Image.open(task.label_path(case)))
    pred = gt.copy()
    pred[:8, :8] = 1
    assert score_prediction(task, case, pred)[1]["dice"] == 1.0
    region_path = task.data_root / case.meta["region"]
    Image.fromarray(np.full(gt.shape, 255, np.uint8)).save(region_path)  # tampered: the whole image
    with pytest.raises(ManifestMismatch, match="scan region"):
        verify_task(task)


def test_a_file_task_without_region_entries_says_what_is_missing(tmp_path):
    task = _convex_task(tmp_path, {"method": "file"}, with_files=False)
    with pytest.raises(InvalidTaskSpec, match="region_sha256"):
        verify_task(task)
    spec = json.loads((task.folder / "task.json").read_text())
    assert spec["scan_region"] == {"method": "file"}
