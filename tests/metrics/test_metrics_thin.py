"""Thin-structure surface metrics (evaluator/metrics/thin.py): known answers on lines, the
empty-mask policy, anisotropic spacing in mm, argument errors, and an independent brute-force
reference (all pairwise distances with numpy) on small random masks."""
import math

import numpy as np
import pytest

from sonobench.evaluator.metrics import (
    METRICS,
    InvalidMetricInput,
    band_distances,
    band_scores,
    band_scores_from,
    image_diagonal,
    mean_dist_pred_to_ref,
    mean_dist_ref_to_pred,
    per_case_metrics,
    score_case,
    surface_f1,
    surface_precision,
    surface_recall,
)

THIN = ("surface_precision", "surface_recall", "surface_f1", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred")
SHAPE = (40, 64)


def line(row, c0=5, c1=55, shape=SHAPE):
    m = np.zeros(shape, bool)
    m[row, c0:c1] = True
    return m


def test_the_scores_are_the_registry_metrics():
    assert set(THIN) <= set(per_case_metrics())
    assert set(band_scores(line(10), line(10), 1.0)) == set(THIN)
    for m in THIN[:3]:
        assert METRICS.get(m).higher_is_better and METRICS.get(m).tolerance == "surface_tolerance"
        assert "not contours" in METRICS.get(m).description or m == "surface_f1"
    for m in THIN[3:]:
        info = METRICS.get(m)
        assert not info.higher_is_better and info.unit == "px" and info.unit_for((0.1, 0.2)) == "mm"
        assert not info.always_stored and info.upper_bound == math.inf
    for m in THIN:
        assert "absent from the case's reference is not scored (None, not 1)" in METRICS.get(m).description


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_line_shifted_by_k_pixels(k):
    ref, pred = line(10), line(10 + k)
    for tol in (k, k + 0.5):  # within: every pixel has its partner exactly k away
        s = band_scores(pred, ref, tol, steps=1)
        assert (s["surface_precision"], s["surface_recall"], s["surface_f1"]) == (1.0, 1.0, 1.0)
    s = band_scores(pred, ref, k - 0.01, steps=1)
    assert (s["surface_precision"], s["surface_recall"], s["surface_f1"]) == (0.0, 0.0, 0.0)
    assert s["mean_dist_pred_to_ref"] == k and s["mean_dist_ref_to_pred"] == k  # exactly
    assert mean_dist_pred_to_ref(pred, ref) == mean_dist_ref_to_pred(pred, ref) == k


def test_line_vs_half_length_line():
    """The prediction covers the left half of the reference, one row off: every predicted pixel
    is 1 from the reference (precision 1), half the reference is 1 away and the other half
    farther than the tolerance (recall 0.5; the first of them is sqrt(2) away)."""
    ref = line(10, 0, 40)
    pred = line(11, 0, 20)
    s = band_scores(pred, ref, 1.0, steps=1)
    assert s["surface_precision"] == 1.0 and s["surface_recall"] == 0.5
    assert s["surface_f1"] == pytest.approx(2 * 0.5 / 1.5)
    assert s["mean_dist_pred_to_ref"] == 1.0
    # reference column j >= 20 is sqrt(1 + (j - 19)^2) from the prediction's end pixel (11, 19)
    far = [math.hypot(1, j - 19) for j in range(20, 40)]
    assert s["mean_dist_ref_to_pred"] == pytest.approx((20 * 1.0 + sum(far)) / 40, abs=1e-12)
    assert surface_precision(pred, ref, 1.0, steps=1) == 1.0 and surface_recall(pred, ref, 1.0, steps=1) == 0.5
    assert surface_f1(pred, ref, 1.0, steps=1) == pytest.approx(2 / 3)
    assert surface_recall(pred, ref, 1.5, steps=1) == 21 / 40  # the sqrt(2) pixel joins
    # swapping the roles swaps precision and recall
    assert surface_precision(ref, pred, 1.0, steps=1) == 0.5 and surface_recall(ref, pred, 1.0, steps=1) == 1.0


def test_thin_band_off_by_one_band_width():
    """A 4-px band (0.5 mm at 0.131 mm/px) predicted 4 px deeper: Dice 0; the predicted rows are
    1, 2, 3, 4 px from the reference (mean 2.5 px). At one 0.55 mm tolerance all are within (F1 1);
    averaged over T/4..T the nearer rows count at more of the four tolerances: at T = 0.55 mm
    (1.05, 2.1, 3.15, 4.2 px) 1, 2, 3, 4 rows of 4 -> 0.625; at T = 0.5 mm (0.95, 1.9, 2.9, 3.8 px)
    0, 1, 2, 3 rows -> 0.375."""
    ref = np.zeros((64, 96), np.uint8)
    ref[30:34, 10:90] = 1
    pred = np.roll(ref, 4, axis=0)
    spacing = (0.131, 0.131)
    assert band_scores(pred.astype(bool), ref.astype(bool), 0.55, spacing, steps=1)["surface_f1"] == 1.0
    out = score_case(pred, ref, 2, spacing=spacing, surface_tolerance=0.55)[1]
    assert out["dice"] == 0.0 and out["surface_f1"] == pytest.approx(0.625)
    assert out["mean_dist_pred_to_ref"] == out["mean_dist_ref_to_pred"] == pytest.approx(2.5 * 0.131)
    strict = score_case(pred, ref, 2, spacing=spacing, surface_tolerance=0.5)[1]
    assert strict["surface_precision"] == strict["surface_recall"] == pytest.approx(0.375)
    assert strict["surface_f1"] == pytest.approx(0.375)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_averaged_f1_of_a_band_shifted_by_k_pixels(k):
    """A 4-px band moved k px, tolerance T = 3.8 px (the bone task's 0.5 mm band at 0.131 mm/px):
    at the tolerance j*T/4 = 0.95 j px the rows within are the 4 - k of the overlap plus the
    min(j - 1, k) moved rows at most 0.95 j px away: F1 = mean_j (4 - k + min(j - 1, k)) / 4.
    Every extra pixel of error costs; at T = 4 px exactly, T/4 = 1 px would count a 1-px error as
    within (distances <= the tolerance are within), which is why the bone task's T is below 4 px."""
    ref = np.zeros((64, 96), bool)
    ref[30:34, 10:90] = True
    pred = np.roll(ref, k, axis=0)
    want = np.mean([(4 - k + min(j - 1, k)) / 4 for j in (1, 2, 3, 4)])
    assert surface_f1(pred, ref, 3.8) == pytest.approx(want)
    assert surface_f1(pred, ref, 3.8) < surface_f1(np.roll(ref, k - 1, axis=0), ref, 3.8)
    assert surface_f1(np.roll(ref, 1, axis=0), ref, 4.0) == 1.0  # the boundary case above


def test_empty_policy():
    empty = np.zeros(SHAPE, bool)
    some = line(10)
    for pred in (empty, some):  # an empty reference: not applicable, whatever is predicted
        assert band_scores(pred, empty, 2.0) == dict.fromkeys(THIN)
        assert surface_f1(pred, empty, 2.0) is None and mean_dist_pred_to_ref(pred, empty) is None
    for spacing in (None, (0.5, 0.25)):  # a present reference predicted empty: a failure
        s = band_scores(empty, some, 1e9, spacing)
        diag = image_diagonal(SHAPE, spacing)
        assert (s["surface_precision"], s["surface_recall"], s["surface_f1"]) == (0.0, 0.0, 0.0)
        assert s["mean_dist_pred_to_ref"] == s["mean_dist_ref_to_pred"] == pytest.approx(diag)
    assert image_diagonal(SHAPE) == pytest.approx(math.hypot(40, 64))
    bd = band_distances(some, empty)
    assert bd.pred_to_gt.size == 50 and np.isinf(bd.pred_to_gt).all() and bd.gt_to_pred.size == 0


def test_f1_is_zero_when_precision_and_recall_are():
    s = band_scores(line(5), line(30), 2.0)
    assert (s["surface_precision"], s["surface_recall"], s["surface_f1"]) == (0.0, 0.0, 0.0)
    assert s["mean_dist_pred_to_ref"] == 25.0


def test_anisotropic_spacing_in_mm():
    """Rows 0.5 mm, columns 0.1 mm: a shift of 2 rows is 1.0 mm, of 2 columns 0.2 mm."""
    spacing = (0.5, 0.1)
    ref = line(10, 10, 50)
    down = line(12, 10, 50)
    assert mean_dist_pred_to_ref(down, ref, spacing) == pytest.approx(1.0)
    assert surface_f1(down, ref, 1.0, spacing, steps=1) == 1.0 and surface_f1(down, ref, 0.99, spacing, steps=1) == 0.0
    assert surface_f1(down, ref, 1.0, spacing) == 0.25  # within only at T itself, of T/4, T/2, 3T/4, T
    col = np.zeros(SHAPE, bool)
    col[5:35, 20] = True
    right = np.roll(col, 2, axis=1)
    assert mean_dist_pred_to_ref(right, col, spacing) == pytest.approx(0.2)
    assert surface_f1(right, col, 0.2, spacing, steps=1) == 1.0
    assert surface_f1(right, col, 0.19, spacing, steps=1) == 0.0
    # one number = square pixels
    assert mean_dist_pred_to_ref(down, ref, 0.25) == pytest.approx(0.5)


@pytest.mark.parametrize("fn", [lambda a, b: surface_precision(a, b, 1.0), lambda a, b: surface_recall(a, b, 1.0),
                                lambda a, b: surface_f1(a, b, 1.0), mean_dist_pred_to_ref, mean_dist_ref_to_pred,
                                band_distances], ids=["precision", "recall", "f1", "pred_to_ref", "ref_to_pred",
                                                      "distances"])
def test_argument_errors(fn):
    m = line(10)
    with pytest.raises(InvalidMetricInput, match="same shape"):
        fn(m, m[:20])
    with pytest.raises(InvalidMetricInput, match="2-D mask"):
        fn(m[None], m[None])
    with pytest.raises(InvalidMetricInput, match="boolean mask"):
        fn(m.astype(float), m)
    with pytest.raises(InvalidMetricInput, match="numpy array"):
        fn(m.tolist(), m)


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan, "1", True, None])
def test_tolerance_must_be_a_positive_finite_number(bad):
    m = line(10)
    with pytest.raises(InvalidMetricInput, match="`tolerance`"):
        surface_f1(m, m, bad)
    if bad is not None:  # None in score_case means "the NSD tolerance"
        with pytest.raises(InvalidMetricInput, match="`tolerance`"):
            score_case(m.astype(np.uint8), m.astype(np.uint8), 2, surface_tolerance=bad)


@pytest.mark.parametrize("bad", [0, (1.0, -1.0), "x", (1.0, 2.0, 3.0)])
def test_spacing_must_be_valid(bad):
    m = line(10)
    with pytest.raises(InvalidMetricInput, match="`spacing`"):
        mean_dist_ref_to_pred(m, m, bad)


def _brute_force(pred, gt, spacing, tol, steps):
    """All pairwise pixel-centre distances with numpy: an implementation independent of the
    window lookup, the k-d tree and the distance transform. Each distance is taken from its
    integer offset as sqrt((dy*sy)**2 + (dx*sx)**2) (scipy's order of operations), so a distance
    equal to the tolerance (k * spacing) rounds the same way on both sides."""
    sy, sx = spacing or (1.0, 1.0)
    off = np.argwhere(pred)[:, None, :] - np.argwhere(gt)[None, :, :]
    d = np.sqrt((off[..., 0] * sy) ** 2 + (off[..., 1] * sx) ** 2)
    to_gt, to_pred = d.min(axis=1), d.min(axis=0)
    ps, rs, fs = [], [], []
    for t in (tol * k / steps for k in range(1, steps + 1)):
        precision, recall = np.mean(to_gt <= t), np.mean(to_pred <= t)
        ps.append(precision), rs.append(recall)
        fs.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return {"surface_precision": np.mean(ps), "surface_recall": np.mean(rs), "surface_f1": np.mean(fs),
            "mean_dist_pred_to_ref": to_gt.mean(), "mean_dist_ref_to_pred": to_pred.mean()}


def _random_pair(rng):
    shape = (int(rng.integers(8, 48)), int(rng.integers(8, 48)))
    kind = rng.integers(3)
    if kind == 0:  # sparse speckle: mostly far points (tree / all-pairs path)
        pred, gt = rng.random(shape) < 0.03, rng.random(shape) < 0.03
    elif kind == 1:  # dense speckle (distance-transform path)
        pred, gt = rng.random(shape) < 0.4, rng.random(shape) < 0.4
    else:  # a thin band and a noisy, shifted copy (window path)
        gt = np.zeros(shape, bool)
        r = int(rng.integers(0, shape[0] - 3))
        gt[r:r + 3, :] = True
        pred = np.roll(gt, int(rng.integers(-4, 5)), axis=0) & (rng.random(shape) < 0.8)
    pred[rng.integers(shape[0]), rng.integers(shape[1])] = True  # never empty here
    gt[rng.integers(shape[0]), rng.integers(shape[1])] = True
    return pred, gt


def test_agrees_with_brute_force_pairwise_distances():
    rng = np.random.default_rng(2024)
    spacings = [None, (1.0, 1.0), (0.131, 0.131), (0.3, 0.7), (1.7, 0.45)]
    for i in range(150):
        pred, gt = _random_pair(rng)
        spacing = spacings[i % len(spacings)]
        unit = min(spacing) if spacing else 1.0
        for tol_px, steps in ((0.5, 1), (1.0, 1), (1.5, 1), (3.0, 1), (4.0, 4), (3.0, 4)):
            got = band_scores(pred, gt, tol_px * unit, spacing, steps)
            want = _brute_force(pred, gt, spacing, tol_px * unit, steps)
            for k in THIN:
                assert got[k] == pytest.approx(want[k], abs=1e-9, rel=0), (i, k, spacing, tol_px)


def test_score_case_carries_the_thin_metrics_per_class_and_the_tolerance_default():
    rng = np.random.default_rng(3)
    gt = np.zeros((48, 60), np.uint8)
    gt[10:13, 5:55] = 1
    gt[30:33, 5:55] = 2
    pred = np.where(rng.random(gt.shape) < 0.9, np.roll(gt, 1, axis=0), 0).astype(np.uint8)
    spacing = (0.2, 0.3)
    out = score_case(pred, gt, 3, spacing=spacing, nsd_tolerance=0.25)
    for c in (1, 2):
        p, g = pred == c, gt == c
        assert {k: out[c][k] for k in THIN} == band_scores(p, g, 0.25, spacing)  # default = the NSD tolerance
        own = score_case(pred, gt, 3, spacing=spacing, nsd_tolerance=0.25, surface_tolerance=0.1)[c]
        assert {k: own[k] for k in THIN} == band_scores(p, g, 0.1, spacing)
        assert own["nsd"] == out[c]["nsd"]  # the surface tolerance leaves NSD alone
    assert band_scores_from(band_distances(pred == 1, gt == 1, spacing), gt.shape, spacing, 0.25) == \
        band_scores(pred == 1, gt == 1, 0.25, spacing)


def test_a_256_case_takes_a_few_ms():
    import time

    gt = np.zeros((256, 256), bool)
    gt[120:124, 10:246] = True
    pred = np.roll(gt, 3, axis=0)
    pred[200:204, 50:60] = True  # a false positive far away
    band_scores(pred, gt, 0.5, (0.131, 0.131))
    t0 = time.perf_counter()
    for _ in range(10):
        band_scores(pred, gt, 0.5, (0.131, 0.131))
    assert (time.perf_counter() - t0) / 10 < 0.05  # measured ~0.2 ms; generous for a loaded machine
