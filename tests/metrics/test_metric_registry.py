"""The metric registry computes: each entry carries its computation kind and function, and
`score_case` / `detection_rates` loop over it. Checked against the golden values the evaluator
wrote before the registry computed (bit for bit), and on what each kind is given."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sonobench.evaluator.metrics import (
    METRICS,
    PER_CASE_COMPUTATIONS,
    Computation,
    InvalidMetricEntry,
    MetricInfo,
    MetricKind,
    detection_metrics,
    detection_rates,
    entries,
    metric_names,
    per_case_metrics,
    register_metric,
    score_case,
)
from sonobench.evaluator.metrics import case as case_mod

from .golden_cases import scores

GOLDEN = Path(__file__).parent / "golden" / "score_case.json"


def test_score_case_reproduces_the_golden_values_bit_for_bit():
    golden = json.loads(GOLDEN.read_text())
    now = json.loads(json.dumps(scores()))  # the same JSON round trip as the golden file's
    assert len(now) == len(golden) == 40
    for k, (a, b) in enumerate(zip(now, golden)):
        assert a == b, f"golden case {k} differs"  # exact: keys, key order, None and every float


def test_the_golden_cases_cover_absent_and_missed_classes():
    golden = json.loads(GOLDEN.read_text())
    per_class = [dict(items) for case in golden for _, items in case]
    assert any(s["tp"] + s["fn"] == 0 and s["fp"] > 0 for s in per_class)  # absent, yet predicted
    assert any(s["tp"] + s["fn"] > 0 and s["tp"] + s["fp"] == 0 for s in per_class)  # present, missed
    assert any(s["tp"] > 0 for s in per_class)


def test_every_entry_says_how_it_is_computed():
    for info in entries():
        if info.kind is MetricKind.PER_CASE:
            assert info.computed in PER_CASE_COMPUTATIONS and callable(info.fn), info.name
        elif info.kind is MetricKind.DETECTION:
            assert info.computed is Computation.IMAGES and callable(info.fn), info.name
        else:
            assert info.computed is Computation.SWEEP, info.name
    assert [i.name for i in entries()] == list(metric_names())
    counted = [m for m in per_case_metrics() if METRICS.get(m).from_counts]
    assert [i.name for i in entries(Computation.COUNTS)] == counted


@pytest.mark.parametrize("kwargs, words", [
    (dict(kind=MetricKind.PER_CASE, computed=Computation.IMAGES, fn=len), "must be computed counts or masks"),
    (dict(kind=MetricKind.PER_CASE, computed=None, fn=len), "must be computed"),
    (dict(kind=MetricKind.DETECTION, computed=Computation.COUNTS, fn=len), "must be computed images"),
    (dict(kind=MetricKind.PER_CASE, computed=Computation.COUNTS, fn=None), "needs its function"),
])
def test_an_entry_whose_kind_computation_and_function_disagree_is_refused(kwargs, words):
    with pytest.raises(InvalidMetricEntry, match=words):
        MetricInfo("probe", True, "", 0.0, 1.0, "a probe", **kwargs)


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register_metric(METRICS.get(metric_names()[0]))
    with pytest.raises(InvalidMetricEntry, match="Expected a MetricInfo"):
        register_metric({"name": "probe"})


def test_each_metric_is_its_entrys_function_of_what_its_kind_is_given():
    rng = np.random.default_rng(3)
    gt = np.zeros((30, 40), np.uint8)
    gt[8:20, 10:25] = 1
    pred = np.roll(gt, (2, 3), axis=(0, 1))
    pred[rng.random(pred.shape) < 0.02] = 1
    spacing, tolerance = (0.2, 0.3), 0.45
    got = score_case(pred, gt, 2, spacing=spacing, nsd_tolerance=tolerance, surface_tolerance=tolerance)[1]
    p, g = pred == 1, gt == 1
    tp, fp, fn = got["tp"], got["fp"], got["fn"]
    given = {
        Computation.COUNTS: lambda i: i.fn(tp, fp, fn),
        Computation.MASKS: lambda i: i.fn(p, g, spacing),
        Computation.SURFACE: lambda i: i.fn(case_mod.surface_distances_unchecked(p, g, spacing), p.shape, spacing,
                                            tolerance),
        Computation.BAND: lambda i: i.fn(case_mod.band_distances_unchecked(p, g, spacing), p.shape, spacing, tolerance),
    }
    for info in entries():
        if info.computed in given:
            assert got[info.name] == given[info.computed](info), info.name
    assert (tp, fp, fn) == (int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum()))


def test_each_intermediate_is_computed_once_per_present_class_and_never_for_an_absent_one(monkeypatch):
    calls = {"surface": 0, "band": 0}

    def counted(name, real):
        def wrapper(*args):
            calls[name] += 1
            return real(*args)
        return wrapper

    for name, attr in (("surface", "surface_distances_unchecked"), ("band", "band_distances_unchecked")):
        monkeypatch.setattr(case_mod, attr, counted(name, getattr(case_mod, attr)))
    gt = np.zeros((20, 20), np.uint8)
    gt[5:10, 5:10] = 1  # class 1 present; class 2 absent from the reference
    pred = gt.copy()
    pred[15:18, 15:18] = 2  # ...but predicted
    out = score_case(pred, gt, 3)
    assert calls == {"surface": 1, "band": 1}
    assert all(out[2][m] is None for m in per_case_metrics()) and out[2]["fp"] == 9
    assert all(out[1][m] is not None for m in per_case_metrics())


def test_detection_rates_give_one_rate_per_image_level_entry():
    cases_ = [{"tp": 5, "fp": 0, "fn": 1}, {"tp": 0, "fp": 0, "fn": 4}, {"tp": 0, "fp": 3, "fn": 0},
              {"tp": 0, "fp": 0, "fn": 0}]
    rates = detection_rates(cases_)
    assert tuple(rates) == detection_metrics()
    by_outcome = {name: [METRICS.get(name).fn(**c) for c in cases_] for name in rates}
    for name, outcomes in by_outcome.items():
        counted = [o for o in outcomes if o is not None]
        assert rates[name]["n"] == len(counted) == 2
        assert rates[name]["value"] == sum(counted) / len(counted)


def test_a_board_named_by_an_entry_must_exist(monkeypatch):
    from sonobench.evaluator.metrics import defaults
    from sonobench.evaluator.metrics import info as info_mod

    probe = MetricInfo("probe", True, "", 0.0, 1.0, "a probe", computed=Computation.COUNTS, fn=max, boards=("nowhere",))
    monkeypatch.setattr(info_mod, "_ORDER", [*info_mod._ORDER, probe])
    with pytest.raises(InvalidMetricEntry, match="unknown board"):
        defaults._with_entries({"region": ("dice",)})
    ok = MetricInfo("probe", True, "", 0.0, 1.0, "a probe", computed=Computation.COUNTS, fn=max, boards=("region",))
    monkeypatch.setattr(info_mod, "_ORDER", [*info_mod._ORDER[:-1], ok])
    assert defaults._with_entries({"region": ("dice",), "other": ("iou",)}) == {"region": ("dice", "probe"),
                                                                                 "other": ("iou",)}


def test_a_per_case_metric_at_a_tolerance_score_case_does_not_know_is_refused(monkeypatch):
    from sonobench.evaluator.metrics import InvalidMetricInput
    from sonobench.evaluator.metrics import info as info_mod

    probe = MetricInfo("probe", True, "", 0.0, 1.0, "a probe", tolerance="odd_tolerance",
                       computed=Computation.BAND, fn=lambda bd, shape, spacing, tolerance: 1.0)
    monkeypatch.setattr(info_mod, "_ORDER", [*info_mod._ORDER, probe])
    gt = np.zeros((10, 10), np.uint8)
    gt[2:5, 2:5] = 1
    with pytest.raises(InvalidMetricInput, match="'odd_tolerance', which score_case does not know"):
        score_case(gt, gt, 2)
