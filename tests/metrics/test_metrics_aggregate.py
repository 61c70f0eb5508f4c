"""Bootstrap aggregates and the per-class / macro summary."""
import numpy as np
import pytest

from sonobench.evaluator.metrics import InvalidMetricInput, aggregate, score_case, summarize


def test_aggregate_is_deterministic_by_seed():
    v = np.random.default_rng(0).uniform(0.5, 1.0, 40)
    assert aggregate(v, seed=3) == aggregate(list(v), seed=3)
    other = aggregate(v, seed=4)
    assert (other["ci_low"], other["ci_high"]) != (aggregate(v, seed=3)["ci_low"], aggregate(v, seed=3)["ci_high"])


@pytest.mark.parametrize("seed", range(5))
def test_ci_contains_the_mean_and_matches_normal_width(seed):
    v = np.random.default_rng(seed).normal(0.8, 0.1, 200)
    a = aggregate(v, n_boot=2000, seed=seed)
    assert a["ci_low"] < a["mean"] < a["ci_high"]
    assert a["mean"] == pytest.approx(v.mean()) and a["std"] == pytest.approx(v.std(ddof=1))
    half = 1.96 * v.std(ddof=1) / np.sqrt(v.size)
    assert (a["ci_high"] - a["ci_low"]) / 2 == pytest.approx(half, rel=0.15)
    assert a["n"] == 200


def test_ci_level():
    v = np.random.default_rng(1).random(100)
    wide, narrow = aggregate(v, ci=0.99), aggregate(v, ci=0.5)
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]


def test_single_case():
    assert aggregate([0.7]) == {"mean": 0.7, "std": 0.0, "ci_low": 0.7, "ci_high": 0.7, "n": 1}


def test_golden_aggregate():
    a = aggregate([0.9, 0.8, 0.75, 0.95, 0.6, 0.85], n_boot=1000, seed=0)
    assert a["mean"] == pytest.approx(0.8083333333333332, abs=1e-12)
    assert a["std"] == pytest.approx(0.1241638702145945, abs=1e-12)
    assert a["ci_low"] == pytest.approx(GOLDEN_CI[0], abs=1e-12)
    assert a["ci_high"] == pytest.approx(GOLDEN_CI[1], abs=1e-12)


# percentile bootstrap, numpy default_rng(0), 1000 resamples: computed once and checked in
GOLDEN_CI = (0.7166666666666667, 0.8916666666666667)


@pytest.mark.parametrize("bad", [[0.5, float("nan")], [float("inf")], [], [[0.1, 0.2]], ["a"]])
def test_aggregate_refuses_nan_and_empty(bad):
    with pytest.raises(InvalidMetricInput, match="`values`"):
        aggregate(bad)


def test_nan_message_says_not_to_drop():
    with pytest.raises(InvalidMetricInput, match="never dropped"):
        aggregate([0.5, float("nan")])


@pytest.mark.parametrize("kw,arg", [({"n_boot": 0}, "n_boot"), ({"n_boot": 1.5}, "n_boot"), ({"seed": -1}, "seed"),
                                    ({"ci": 1.0}, "ci"), ({"ci": 0}, "ci"), ({"seed": True}, "seed")])
def test_aggregate_argument_errors(kw, arg):
    with pytest.raises(InvalidMetricInput, match=f"Expected argument `{arg}`"):
        aggregate([0.1, 0.2], **kw)


def _cases():
    rng = np.random.default_rng(2)
    out = []
    for _ in range(12):
        gt = np.zeros((40, 40), np.uint8)
        gt[5:20, 5:20] = 1
        gt[25:35, 22:38] = 2
        pred = gt.copy()
        pred[rng.random((40, 40)) < 0.05] = rng.integers(0, 3)
        out.append(score_case(pred, gt, 3))
    return out


def test_summarize_macro_is_mean_over_classes_then_cases():
    cases = _cases()
    s = summarize(cases, ["background", "lesion", "organ"], n_boot=200)
    assert s["n_cases"] == 12 and set(s["per_class"]) == {"lesion", "organ"}
    for m in ("dice", "iou", "hd95"):
        per_case_macro = [(c[1][m] + c[2][m]) / 2 for c in cases]
        assert s["macro"][m] == aggregate(per_case_macro, n_boot=200)
        assert s["per_class"]["organ"][m] == aggregate([c[2][m] for c in cases], n_boot=200)
    assert s["per_class"]["lesion"]["index"] == 1
    assert s["per_class"]["lesion"]["tp"] == sum(c[1]["tp"] for c in cases)


def test_summarize_refuses_a_case_missing_a_class():
    cases = _cases()
    del cases[3][2]
    with pytest.raises(InvalidMetricInput, match=r"Case 3 .* class\(es\) \[2\]"):
        summarize(cases, ["background", "lesion", "organ"])


@pytest.mark.parametrize("classes", [["background"], "lesion", None])
def test_summarize_refuses_bad_classes(classes):
    with pytest.raises(InvalidMetricInput, match="`classes`"):
        summarize(_cases(), classes)


def test_summarize_refuses_empty_case_list():
    with pytest.raises(InvalidMetricInput, match="`per_case`"):
        summarize([], ["background", "lesion"])
