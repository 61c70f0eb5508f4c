"""Arguments are checked up front and errors say what was expected."""
import numpy as np
import pytest

from sonobench.evaluator.metrics import (
    METRICS,
    InvalidMetricInput,
    MetricKind,
    assd,
    default_nsd_tolerance,
    detection_metrics,
    dice,
    hd95,
    iou,
    nsd,
    per_case_metrics,
    score_case,
    surface_distances,
    unit_for_spacing,
)
from sonobench.kernel.errors import SonoBenchError

M = np.zeros((10, 12), bool)
M[2:5, 3:6] = True


@pytest.mark.parametrize("fn", [dice, iou, hd95, assd, surface_distances, lambda a, b: nsd(a, b, 2.0)],
                         ids=["dice", "iou", "hd95", "assd", "surface_distances", "nsd"])
def test_mask_shape_and_dtype_errors(fn):
    with pytest.raises(InvalidMetricInput, match="same shape"):
        fn(M, M[:, :11])
    with pytest.raises(InvalidMetricInput, match="2-D mask"):
        fn(M[None], M[None])
    with pytest.raises(InvalidMetricInput, match="boolean mask"):
        fn(M.astype(float), M)
    with pytest.raises(InvalidMetricInput, match="boolean mask"):
        fn(M * 2, M)
    with pytest.raises(InvalidMetricInput, match="numpy array"):
        fn(M.tolist(), M)


def test_zero_one_integers_are_masks():
    assert dice(M.astype(np.uint8), M) == 1.0
    assert hd95(M.astype(np.int64), M) == 0.0


@pytest.mark.parametrize("spacing", [0, -1.0, (1.0,) * 3, (1.0, float("nan")), "1,1", (1.0, "a"), [0.5, -0.5]])
def test_bad_spacing(spacing):
    with pytest.raises(InvalidMetricInput, match="Expected argument `spacing`"):
        hd95(M, M, spacing)


@pytest.mark.parametrize("spacing", [0.5, (0.5, 0.7), [0.5, 0.7], np.array([0.5, 0.7])], ids=str)
def test_good_spacing(spacing):
    assert hd95(M, np.roll(M, 1, axis=1), spacing) > 0


@pytest.mark.parametrize("k", [0, 1, 2.0, True, "3", None])
def test_num_classes_must_be_an_integer_of_at_least_two(k):
    with pytest.raises(InvalidMetricInput, match="Expected argument `num_classes` to be an integer >= 2, but got"):
        score_case(M.astype(np.uint8), M.astype(np.uint8), k)


def test_label_map_errors():
    lab = M.astype(np.uint8)
    with pytest.raises(InvalidMetricInput, match="same shape.*resize"):
        score_case(lab, lab[:5], 2)
    with pytest.raises(InvalidMetricInput, match="2-D label map"):
        score_case(lab[None], lab[None], 2)
    with pytest.raises(InvalidMetricInput, match="integer class indices.*argmax"):
        score_case(lab.astype(np.float32), lab, 2)
    with pytest.raises(InvalidMetricInput, match=r"`gt_labels` values in \[0, 1\].*\[0, 2\]"):
        score_case(lab, lab * 2, 2)
    with pytest.raises(InvalidMetricInput, match=r"`pred_labels` values"):
        score_case(lab.astype(np.int16) - 1, lab, 2)


def test_errors_are_sonobench_and_value_errors():
    with pytest.raises(SonoBenchError):
        dice(M, M[:3])
    with pytest.raises(ValueError):
        dice(M, M[:3])


def test_metric_registry_metadata():
    assert METRICS.names() == ["assd", "dice", "hd95", "iou", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred", "nsd",
                               "sensitivity", "specificity", "surface_f1", "surface_precision", "surface_recall",
                               "sweep_accuracy", "sweep_accuracy_p95", "sweep_completeness", "sweep_fscore"]
    assert per_case_metrics() == ("dice", "iou", "hd95", "nsd", "assd", "surface_precision", "surface_recall",
                                  "surface_f1", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred")
    assert detection_metrics() == ("sensitivity", "specificity")
    assert {METRICS.get(m).kind for m in per_case_metrics()} == {MetricKind.PER_CASE} == {"per_case"}
    assert {METRICS.get(m).kind for m in detection_metrics()} == {MetricKind.DETECTION}
    for m in ("nsd", "sensitivity", "specificity"):
        info = METRICS.get(m)
        assert info.higher_is_better and (info.lower_bound, info.upper_bound, info.unit) == (0.0, 1.0, "")
    assert not METRICS.get("assd").higher_is_better and METRICS.get("assd").upper_bound == float("inf")
    assert METRICS.get("assd").unit_for((0.1, 0.2)) == "mm" and METRICS.get("assd").unit_for(None) == "px"
    assert "MONAI" in METRICS.get("hd95").description and "medpy" in METRICS.get("hd95").description
    for m in per_case_metrics():  # the class-absent policy is stated by every delineation metric
        assert "absent from the case's reference is not scored (None, not 1)" in METRICS.get(m).description
        assert "both masks are empty" not in METRICS.get(m).description
    for m in detection_metrics():  # false positives on class-absent images: per class, image level
        assert "per class" in METRICS.get(m).description
    assert METRICS.get("dice").higher_is_better and METRICS.get("iou").higher_is_better
    assert not METRICS.get("hd95").higher_is_better
    assert (METRICS.get("dice").lower_bound, METRICS.get("dice").upper_bound) == (0.0, 1.0)
    assert METRICS.get("hd95").unit_for(None) == "px"
    assert METRICS.get("hd95").unit_for((0.1, 0.2)) == "mm" == unit_for_spacing("hd95", 0.3)
    assert unit_for_spacing("dice", (0.1, 0.2)) == ""
    assert METRICS.get("hd95").is_better(1.0, 2.0) and METRICS.get("dice").is_better(0.9, 0.8)


def test_unknown_metric_suggests():
    with pytest.raises(KeyError, match="Did you mean 'dice'"):
        METRICS.get("dise")


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "2", None, True, [2.0]], ids=repr)
def test_nsd_tolerance_must_be_a_positive_finite_number(bad):
    with pytest.raises(InvalidMetricInput, match="`tolerance` to be a finite number > 0"):
        nsd(M, M, bad)
    if bad is not None:  # None means the default tolerance in score_case
        with pytest.raises(InvalidMetricInput, match="`tolerance`"):
            score_case(M.astype(np.uint8), M.astype(np.uint8), 2, nsd_tolerance=bad)


def test_default_nsd_tolerance_is_two_pixels():
    assert default_nsd_tolerance() == 2.0
    assert default_nsd_tolerance((0.2, 0.4)) == pytest.approx(0.6)
    assert default_nsd_tolerance(0.5) == 1.0
    with pytest.raises(InvalidMetricInput, match="spacing"):
        default_nsd_tolerance((0.0, 1.0))
