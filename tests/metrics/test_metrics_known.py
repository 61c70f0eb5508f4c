"""Known answers: discs, shifted discs, concentric discs, and the class-absent policy."""
import math

import numpy as np
import pytest

from sonobench.evaluator.metrics import (
    assd,
    case_mean,
    default_nsd_tolerance,
    dice,
    hd95,
    image_diagonal,
    iou,
    nsd,
    per_case_metrics,
    score_case,
)

from .mask_factory import disc

SHAPE = (128, 128)


@pytest.mark.parametrize("spacing", [None, (0.4, 0.9)], ids=str)
def test_disc_against_itself(spacing):
    d = disc(SHAPE, (60, 70), 20)
    assert dice(d, d) == 1.0 and iou(d, d) == 1.0
    assert hd95(d, d, spacing) == 0.0


@pytest.mark.parametrize("radius", [15, 20, 30])
@pytest.mark.parametrize("shift", [1, 2, 3])
@pytest.mark.parametrize("axis", [0, 1])
def test_shifted_disc_hd95_is_the_shift(radius, shift, axis):
    a = disc(SHAPE, (64, 64), radius)
    b = np.roll(a, shift, axis=axis)
    assert hd95(a, b) == pytest.approx(shift, abs=1e-12)
    assert hd95(a, b, spacing=(0.25, 0.25)) == pytest.approx(0.25 * shift, abs=1e-12)
    # anisotropic pixels: shifting along the finer axis still gives shift * that spacing
    fine = (0.5, 0.8) if axis == 0 else (0.8, 0.5)
    assert hd95(a, b, spacing=fine) == pytest.approx(0.5 * shift, abs=1e-12)


def test_shifted_disc_dice():
    a = disc(SHAPE, (64, 64), 20)
    b = np.roll(a, 4, axis=1)
    inter = np.count_nonzero(a & b)
    assert dice(a, b) == pytest.approx(2 * inter / (a.sum() + b.sum()))
    assert iou(a, b) == pytest.approx(inter / np.count_nonzero(a | b))


@pytest.mark.parametrize("r1,r2", [(5, 8), (10, 20), (15, 16), (20, 23), (8, 40)])
def test_concentric_discs_hd95_is_radius_gap(r1, r2):
    a, b = disc(SHAPE, (64, 64), r1), disc(SHAPE, (64, 64), r2)
    assert abs(hd95(a, b) - (r2 - r1)) <= 1.0


# --- class-absent policy (metric registry; evaluator/metrics/case.py) --------------------

EMPTY = np.zeros((30, 40), bool)
SOME = disc((30, 40), (15, 20), 5)


@pytest.mark.parametrize("spacing", [None, (0.5, 0.25)], ids=str)
@pytest.mark.parametrize("pred", [EMPTY, SOME], ids=["pred-empty", "pred-some"])
def test_an_empty_reference_is_not_scored(spacing, pred):
    # Not 1 for an empty prediction (that is what let a no-skill model profit), not 0 / the
    # diagonal for a non-empty one (that is the image-level specificity's business).
    assert dice(pred, EMPTY) is None and iou(pred, EMPTY) is None
    assert hd95(pred, EMPTY, spacing) is None


def test_an_empty_prediction_of_a_present_reference_is_a_failure():
    assert dice(EMPTY, SOME) == 0.0
    assert iou(EMPTY, SOME) == 0.0
    assert hd95(EMPTY, SOME) == pytest.approx(50.0)  # sqrt(30^2 + 40^2)
    assert hd95(EMPTY, SOME, spacing=(0.5, 0.25)) == pytest.approx(math.sqrt(15.0**2 + 10.0**2))
    assert image_diagonal((30, 40), (0.5, 0.25)) == pytest.approx(math.sqrt(325.0))


def test_score_case_empty_policy_per_class():
    gt = np.zeros((30, 40), np.uint8)
    pred = np.zeros((30, 40), np.uint8)
    gt[SOME] = 1  # class 1 only in gt; class 2 only in pred; class 3 in neither; class 4 in both
    pred[disc((30, 40), (5, 5), 3)] = 2
    gt[25:, 30:] = 4
    pred[26:, 31:] = 4
    out = score_case(pred, gt, 5, spacing=(0.5, 0.25))
    diag = math.sqrt(15.0**2 + 10.0**2)
    one_empty = {"surface_precision": 0.0, "surface_recall": 0.0, "surface_f1": 0.0,
                 "mean_dist_pred_to_ref": pytest.approx(diag), "mean_dist_ref_to_pred": pytest.approx(diag)}
    assert out[1] == {"dice": 0.0, "iou": 0.0, "hd95": pytest.approx(diag), "nsd": 0.0, "assd": pytest.approx(diag),
                      **one_empty, "tp": 0, "fp": 0, "fn": int(SOME.sum())}
    not_applicable = dict.fromkeys(per_case_metrics())
    n2 = int(disc((30, 40), (5, 5), 3).sum())
    assert out[2] == {**not_applicable, "tp": 0, "fp": n2, "fn": 0}  # false positives: counts only
    assert out[3] == {**not_applicable, "tp": 0, "fp": 0, "fn": 0}  # absent from both: excluded, not 1
    assert 0 < out[4]["dice"] < 1 and out[4]["tp"] == 4 * 9
    assert 0 < out[4]["nsd"] <= 1 and out[4]["assd"] > 0
    assert case_mean(out, "dice") == pytest.approx((0.0 + out[4]["dice"]) / 2)  # classes 1 and 4 only


def test_case_mean_of_a_case_without_foreground_is_none():
    empty = np.zeros((30, 40), np.uint8)
    out = score_case(empty, empty, 3)
    assert all(out[c]["dice"] is None for c in (1, 2)) and case_mean(out, "dice") is None


def test_score_case_matches_mask_metrics_and_counts():
    rng = np.random.default_rng(5)
    gt = rng.integers(0, 4, (50, 60)).astype(np.uint8)
    pred = np.where(rng.random((50, 60)) < 0.7, gt, rng.integers(0, 4, (50, 60))).astype(np.int64)
    out = score_case(pred, gt, 4, spacing=(0.3, 0.7))
    assert sorted(out) == [1, 2, 3]
    for c, s in out.items():
        p, g = pred == c, gt == c
        assert s["tp"] == np.count_nonzero(p & g)
        assert s["fp"] == np.count_nonzero(p & ~g)
        assert s["fn"] == np.count_nonzero(~p & g)
        assert s["dice"] == dice(p, g) and s["iou"] == iou(p, g)
        assert s["hd95"] == hd95(p, g, (0.3, 0.7))
        assert s["nsd"] == nsd(p, g, default_nsd_tolerance((0.3, 0.7)), (0.3, 0.7))
        assert s["assd"] == assd(p, g, (0.3, 0.7))
        assert all(type(s[k]) is int for k in ("tp", "fp", "fn"))
        assert all(type(s[k]) is float for k in per_case_metrics())
