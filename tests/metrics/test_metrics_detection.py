"""Image-level sensitivity / specificity from per-case counts, with Wilson intervals
equal to scipy's binomtest(...).proportion_ci(method="wilson") and to hand values."""
import numpy as np
import pytest
from scipy.stats import binomtest

from sonobench.evaluator.metrics import InvalidMetricInput, detection_rates, score_case, wilson_interval


def _case(tp, fp, fn):
    return {"tp": tp, "fp": fp, "fn": fn}


def test_wilson_hand_values():
    # 8 of 10: centre 0.7167, half-width 0.2266 (z = 1.96)
    assert wilson_interval(8, 10) == pytest.approx((0.4901625, 0.9433178), abs=1e-6)
    assert wilson_interval(0, 5) == pytest.approx((0.0, 0.4344825), abs=1e-6)
    assert wilson_interval(5, 5) == pytest.approx((0.5655175, 1.0), abs=1e-6)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 100, 1000])
def test_wilson_equals_scipy(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12), (k, n)


def test_detection_rates_definitions():
    cases = [
        _case(10, 3, 2),   # lesion, overlapped -> detected
        _case(0, 40, 9),   # lesion, prediction elsewhere only -> missed
        _case(1, 0, 50),   # lesion, one pixel of overlap -> detected
        _case(0, 0, 0),    # lesion-free, predicted empty -> correct
        _case(0, 5, 0),    # lesion-free, false positive -> wrong
        _case(0, 0, 0),
    ]
    out = detection_rates(cases)
    assert out["sensitivity"]["value"] == pytest.approx(2 / 3) and out["sensitivity"]["n"] == 3
    assert out["specificity"]["value"] == pytest.approx(2 / 3) and out["specificity"]["n"] == 3
    assert (out["sensitivity"]["ci_low"], out["sensitivity"]["ci_high"]) == pytest.approx(wilson_interval(2, 3))


def test_rates_are_undefined_without_cases_of_their_kind():
    only_lesions = detection_rates([_case(3, 0, 1), _case(0, 0, 4)])
    assert only_lesions["specificity"] == {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    assert only_lesions["sensitivity"]["value"] == 0.5
    assert detection_rates([])["sensitivity"]["value"] is None  # never 0


def test_from_score_case_counts():
    gt = np.zeros((20, 20), np.uint8)
    pred = np.zeros((20, 20), np.uint8)
    gt[2:6, 2:6] = 1
    pred[4:8, 4:8] = 1
    scored = [score_case(pred, gt, 2)[1], score_case(np.zeros_like(gt), np.zeros_like(gt), 2)[1]]
    out = detection_rates(iter(scored))  # any iterable
    assert out["sensitivity"]["value"] == 1.0 and out["specificity"]["value"] == 1.0


@pytest.mark.parametrize("bad,match", [
    ({"tp": 1, "fp": 0, "fn": 0}, "iterable of per-case dicts"),
    ([[1, 0, 0]], "case 0 of `cases` to be a dict"),
    ([{"tp": 1, "fp": 0}], "lacks \\['fn'\\]"),
    ([_case(1, -1, 0)], "`fp` of case 0 to be a non-negative integer"),
    ([_case(0.5, 0, 0)], "`tp` of case 0"),
], ids=["dict", "list", "missing", "negative", "float"])
def test_bad_cases(bad, match):
    with pytest.raises(InvalidMetricInput, match=match):
        detection_rates(bad)
