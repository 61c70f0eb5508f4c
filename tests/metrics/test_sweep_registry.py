"""The sweep metrics in the metric registry: declared with direction and unit, named like the
fields of SweepScores, summarised into result columns the store has."""
import dataclasses

import numpy as np
import pytest

from sonobench.evaluator.metrics import METRICS, MetricKind, per_case_metrics, summary_columns, tolerance_columns
from sonobench.evaluator.store.queries import leaderboard_table_rows
from sonobench.evaluator.sweeps import InvalidSweep, SweepScores, sweep_columns, sweep_metrics


def test_sweep_metrics_are_registered_with_direction_unit_and_empty_policy():
    assert sweep_metrics() == ("sweep_accuracy", "sweep_accuracy_p95", "sweep_completeness", "sweep_fscore")
    fields = {f.name for f in dataclasses.fields(SweepScores)}
    for name in sweep_metrics():
        info = METRICS.get(name)
        assert info.kind is MetricKind.SWEEP and name in fields and name not in per_case_metrics()
        assert info.tolerance == "sweep_tolerance"
        assert "no predicted surface" in info.description          # the empty policy is stated
    assert not METRICS.get("sweep_accuracy").higher_is_better and METRICS.get("sweep_accuracy").unit == "mm"
    assert METRICS.get("sweep_completeness").higher_is_better and METRICS.get("sweep_fscore").upper_bound == 1.0


def _scores(acc, comp, tol=1.0):
    return SweepScores(acc, acc * 2, comp, comp, comp, 10, tol, 39.0)


def test_sweep_columns_summarise_over_sweeps():
    cols = sweep_columns([_scores(0.5, 0.9), _scores(1.5, 0.7)])
    assert cols["sweep_accuracy_mean"] == pytest.approx(1.0)
    assert cols["sweep_accuracy_p95_mean"] == pytest.approx(2.0)
    assert cols["sweep_completeness_mean"] == pytest.approx(0.8)
    assert cols["sweep_completeness_std"] == pytest.approx(np.std([0.9, 0.7], ddof=1))
    assert cols["sweep_accuracy_ci_low"] <= 1.0 <= cols["sweep_accuracy_ci_high"]
    assert cols["sweep_tolerance"] == 1.0
    assert set(cols) == set(summary_columns(sweep_metrics())) | {"sweep_tolerance"}


def test_sweep_columns_refuse_mixed_tolerances_and_nothing():
    with pytest.raises(InvalidSweep, match="one τ"):
        sweep_columns([_scores(0.5, 0.9, 1.0), _scores(0.5, 0.9, 2.0)])
    with pytest.raises(InvalidSweep, match="No sweep scores"):
        sweep_columns([])


def test_the_store_has_every_sweep_column(store):
    have = set(store.db["results"].columns_dict)
    assert set(summary_columns(sweep_metrics())) <= have and "sweep_tolerance" in have
    assert "sweep_tolerance" in tolerance_columns()
    assert leaderboard_table_rows(store, "any-task", 1) == []      # the board's query selects them
