import numpy as np
import pandas as pd

from sonobench.evaluator.metrics import per_case_metrics
from sonobench.leaderboard_app import columns, stats


def test_pareto_front_respects_direction_and_skips_missing():
    cost = [1, 2, 3, 4, np.nan]
    dice = [0.5, 0.4, 0.7, 0.6, 0.99]
    assert list(stats.pareto_front(cost, dice)) == [0, 2]
    hd95 = [5.0, 4.0, 6.0, 3.0, 1.0]  # lower is better: each cheaper-or-equal point must be worse
    assert list(stats.pareto_front(cost, hd95, higher_quality_is_better=False)) == [0, 1, 3]


def test_rank_labels_mark_shared_ranks():
    assert list(columns.rank_labels(pd.Series([1, 2, 2, 4]))) == ["1", "=2", "=2", "4"]


def test_rank_range_and_p_rank1_text():
    df = pd.DataFrame({"rank_low": [1, 1, None], "rank_high": [1, 3, None], "p_rank1": [0.875, 0.1, None]})
    assert list(columns.rank_range(df)) == ["1", "1–3", ""]
    assert list(columns.p_rank1(df)) == ["88%", "10%", ""]


def test_new_metrics_show_missing_never_zero():
    df = pd.DataFrame({"nsd_mean": [0.9, None], "nsd_ci_low": [0.85, None], "nsd_ci_high": [0.95, None],
                       "sensitivity": [0.95, None], "sensitivity_ci_low": [0.8, None],
                       "sensitivity_ci_high": [0.99, None], "sensitivity_n": [40, None]})
    assert list(columns.mean_ci(df, "nsd", 3)) == ["0.900 [0.850–0.950]", "missing"]
    old = pd.DataFrame({"nsd_mean": [None, None], "nsd_ci_low": [None, None], "nsd_ci_high": [None, None]})
    assert list(columns.mean_ci(old, "nsd", 3)) == ["missing", "missing"]  # every row scored before NSD
    assert list(columns.rates(df, "sensitivity")) == ["0.950 [0.800–0.990] (n = 40)", "missing"]
    # a rate over no images is undefined, not missing and not 0
    assert columns.rate_ci(None, None, None, 0) == "n/a (no such images)"
    assert columns.QUALITY[:5] == ("dice", "iou", "hd95", "nsd", "assd")  # driven by the metric registry
    assert columns.QUALITY == per_case_metrics()
    assert columns.DETECTION == ("sensitivity", "specificity")
    assert "medpy" in columns.QUALITY_HELP["hd95"] and "MONAI" in columns.QUALITY_HELP["hd95"]


def test_directions_come_from_metadata_and_cost_registry():
    assert columns.header("dice") == "Dice ↑" and columns.header("hd95", "mm") == "HD95 (mm) ↓"
    assert columns.header("latency_ms") == "Latency (ms) ↓" and columns.arrow("gflops") == "↓"
