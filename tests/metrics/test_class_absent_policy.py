"""Known answers for the class-absent policy: a class absent from a case's reference is not
scored (not 1, not 0), a case's macro value averages the classes its reference has, a case with
no foreground class counts only in the image-level metrics, and the store keeps 'not applicable'
(NULL, tp + fn = 0) apart from 'missing' (NULL, tp + fn > 0) through its case-level queries."""
import numpy as np
import pytest

from sonobench.evaluator.metrics import (
    InvalidMetricInput,
    detection_rates,
    per_case_metrics,
    score_case,
    summarize,
)
from sonobench.evaluator.store import queries
from sonobench.evaluator.summary import case_rows

from .mask_factory import disc

SHAPE = (40, 40)
LESION = disc(SHAPE, (20, 20), 8).astype(np.uint8)
NONE = np.zeros(SHAPE, np.uint8)
CLASSES = ["background", "lesion"]


def _case(pred, gt, k=2):
    return score_case(pred, gt, k, spacing=(0.2, 0.2))


def test_an_all_background_model_on_lesion_free_images_gains_nothing_in_dice_and_all_in_specificity():
    """Two lesion images predicted well, two lesion-free images: the all-background prediction
    there is what the old policy scored Dice 1 (raising the mean); now Dice is the mean over the
    lesion images only, and specificity counts the empty predictions."""
    good = np.roll(LESION, 1, axis=1)
    lesion_cases = [_case(good, LESION), _case(LESION, LESION)]
    empty_on_free = [_case(NONE, NONE), _case(NONE, NONE)]
    false_on_free = [_case(LESION, NONE), _case(LESION, NONE)]
    only = summarize(lesion_cases, CLASSES)
    quiet = summarize(lesion_cases + empty_on_free, CLASSES)
    noisy = summarize(lesion_cases + false_on_free, CLASSES)
    for s in (quiet, noisy):  # the same Dice whatever is predicted on the lesion-free images
        for m in per_case_metrics():
            assert s["macro"][m] == only["macro"][m], m
        assert s["macro"]["dice"]["n"] == 2 and s["n_cases"] == 4
    assert only["macro"]["dice"]["mean"] == pytest.approx((lesion_cases[0][1]["dice"] + 1.0) / 2)
    assert detection_rates([c[1] for c in lesion_cases + empty_on_free])["specificity"]["value"] == 1.0
    assert detection_rates([c[1] for c in lesion_cases + false_on_free])["specificity"]["value"] == 0.0


def test_an_all_background_model_scores_zero_on_the_lesion_images():
    s = summarize([_case(NONE, LESION), _case(NONE, NONE)], CLASSES)
    assert s["macro"]["dice"]["mean"] == 0.0 and s["macro"]["dice"]["n"] == 1
    assert s["macro"]["hd95"]["mean"] == pytest.approx(np.hypot(40 * 0.2, 40 * 0.2))  # a missed lesion


def test_a_class_absent_everywhere_has_no_aggregate_and_a_case_without_foreground_no_macro():
    s = summarize([_case(NONE, NONE), _case(LESION, NONE)], CLASSES)
    assert s["macro"]["dice"] == {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    assert s["per_class"]["lesion"]["dice"]["n"] == 0 and s["per_class"]["lesion"]["fp"] == int(LESION.sum())


def test_a_multiclass_case_averages_only_the_classes_its_reference_has():
    gt = np.zeros(SHAPE, np.uint8)
    gt[2:10, 2:10] = 1                       # class 1 present; class 2 absent; class 3 present
    gt[20:30, 20:30] = 3
    pred = gt.copy()
    pred[12:15, 12:15] = 2                   # false class-2 pixels: not a Dice of 0 inside the macro
    pred[20:25, 20:30] = 0                   # half of class 3 missed
    one = _case(pred, gt, 4)
    assert one[2]["dice"] is None and one[2]["fp"] == 9
    s = summarize([one, _case(NONE, NONE, 4)], ["background", "a", "b", "c"])
    assert s["macro"]["dice"]["mean"] == pytest.approx((1.0 + one[3]["dice"]) / 2)
    assert s["macro"]["dice"]["n"] == 1     # the case without foreground is left out
    assert s["per_class"]["b"]["dice"]["n"] == 0 and s["per_class"]["a"]["dice"]["n"] == 1


def test_a_present_class_without_a_value_is_refused_not_skipped():
    case = _case(LESION, LESION)
    case[1]["dice"] = None  # a failed or unscored case must be scored as a failure, never dropped
    with pytest.raises(InvalidMetricInput, match="is in the reference"):
        summarize([case], CLASSES)


# --- the store: NULL round trip and the case-level queries ------------------------------------

def _stored(store, task, cases: dict[str, dict], sha):
    from tests.spine.test_store import _result

    sid = store.create_submission(file_sha256=sha, filename="m.onnx", fmt="onnx", task=task, name=sha[:4])
    rows = [r for cid, scores in cases.items() for r in case_rows(cid, scores)]
    store.write_result(sid, _result(task), rows)
    return sid


def test_not_applicable_round_trips_as_null_and_case_values_keep_only_applicable_cases(store, toy_task):
    store.register_task(toy_task)
    a = _stored(store, toy_task, {"lesion": _case(LESION, LESION), "free": _case(LESION, NONE)}, "a" * 64)
    b = _stored(store, toy_task, {"lesion": _case(np.roll(LESION, 3, axis=0), LESION), "free": _case(NONE, NONE)},
                "b" * 64)
    rows = {r["case_id"]: r for r in store.case_results(a)}
    assert all(rows["free"][m] is None for m in per_case_metrics())       # NULL, not 1 and not 0
    assert rows["free"]["fp"] == int(LESION.sum()) and rows["lesion"]["dice"] == 1.0
    values = queries.case_values(store, [a, b], "dice")
    assert set(values[a]) == set(values[b]) == {"lesion"}  # the same applicable cases for every model
    assert values[a]["lesion"] == 1.0 and 0 < values[b]["lesion"] < 1
    means = {r["case_id"]: r for r in queries.case_means(store, a)}
    assert means["free"]["applicable"] == 0 and means["free"]["dice"] is None
    assert means["lesion"]["applicable"] == 1 and means["lesion"]["dice"] == 1.0
    assert [p["case_id"] for p in queries.paired_case_means(store, a, b)] == ["lesion"]


def test_missing_is_not_not_applicable(store, toy_task):
    """A present class with a NULL value (scored before the metric existed) is missing: its case
    drops out of case_values for that model and reads NULL with applicable = 1 in case_means."""
    store.register_task(toy_task)
    a = _stored(store, toy_task, {"c1": _case(LESION, LESION), "c2": _case(LESION, LESION)}, "c" * 64)
    store.db.execute("update case_results set nsd = null where case_id = 'c2'")
    assert set(queries.case_values(store, [a], "nsd")[a]) == {"c1"}
    means = {r["case_id"]: r for r in queries.case_means(store, a)}
    assert means["c2"]["nsd"] is None and means["c2"]["applicable"] == 1 and means["c2"]["dice"] == 1.0


def test_case_means_average_only_present_classes(store, toy_task):
    store.register_task(toy_task)
    gt = np.zeros(SHAPE, np.uint8)
    gt[2:10, 2:10] = 1
    pred = gt.copy()
    pred[20:24, 20:24] = 2  # class 2 absent from the reference, predicted: counts only
    a = _stored(store, toy_task, {"x": _case(pred, gt, 3)}, "d" * 64)
    (row,) = queries.case_means(store, a)
    assert row["dice"] == 1.0 and row["fp"] == 16 and row["applicable"] == 1
    assert queries.case_values(store, [a], "dice")[a] == {"x": 1.0}


def test_specificity_is_per_class_on_a_multiclass_task():
    """Each class's image-level specificity is over the images whose reference lacks that class;
    the result row carries the mean of the classes where it is defined."""
    from types import SimpleNamespace

    from sonobench.evaluator.summary import summary_columns

    task = SimpleNamespace(classes=["background", "a", "b"], spacing_mm=None, nsd_tolerance=2.0,
                           surface_tolerance=2.0)
    only_a = np.zeros(SHAPE, np.uint8)
    only_a[2:10, 2:10] = 1
    noisy = only_a.copy()
    noisy[20:22, 20:22] = 2                   # a false 'b' on an image without b
    cases = [_case(only_a, only_a, 3), _case(noisy, only_a, 3), _case(NONE, NONE, 3)]
    cols = summary_columns(task, cases)
    a, b = cols["per_class"]["a"], cols["per_class"]["b"]
    assert a["specificity"]["n"] == 1 and a["specificity"]["value"] == 1.0    # the empty image, predicted empty
    assert b["specificity"]["n"] == 3 and b["specificity"]["value"] == pytest.approx(2 / 3)
    assert cols["specificity"] == pytest.approx((1.0 + 2 / 3) / 2) and cols["specificity_ci_low"] is None
    assert b["dice"]["n"] == 0 and cols["dice_mean"] == 1.0                 # the false 'b' costs no Dice
