import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from leaderboard_app import columns, stats


def test_paired_comparison_matches_scipy_and_brackets_the_mean():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.5, 0.9, 40)
    b = a - rng.normal(0.03, 0.02, 40)
    cmp = stats.paired_comparison(a, b)
    assert cmp.n == 40 and cmp.mean_diff == pytest.approx(np.mean(a - b))
    assert cmp.ci_low < cmp.mean_diff < cmp.ci_high and cmp.ci_low > 0
    assert cmp.wilcoxon_p == pytest.approx(sps.wilcoxon(a - b).pvalue)
    assert stats.paired_comparison(a, b) == cmp  # seeded: reproducible


def test_paired_comparison_edge_cases():
    same = stats.paired_comparison([0.5, 0.7, 0.9], [0.5, 0.7, 0.9])
    assert same.wilcoxon_p == 1.0 and same.mean_diff == 0 and "identical" in same.note
    assert stats.paired_comparison([], []).n == 0
    assert stats.paired_comparison([0.4], [0.2]).wilcoxon_p is None


def test_pareto_front_respects_direction_and_skips_missing():
    cost = [1, 2, 3, 4, np.nan]
    dice = [0.5, 0.4, 0.7, 0.6, 0.99]
    assert list(stats.pareto_front(cost, dice)) == [0, 2]
    hd95 = [5.0, 4.0, 6.0, 3.0, 1.0]  # lower is better: each cheaper-or-equal point must be worse
    assert list(stats.pareto_front(cost, hd95, higher_quality_is_better=False)) == [0, 1, 3]


def test_rank_labels_mark_shared_ranks():
    assert list(columns.rank_labels(pd.Series([1, 2, 2, 4]))) == ["1", "=2", "=2", "4"]


def test_directions_come_from_metadata_and_cost_registry():
    assert columns.header("dice") == "Dice ↑" and columns.header("hd95", "mm") == "HD95 (mm) ↓"
    assert columns.header("latency_ms") == "Latency (ms) ↓" and columns.arrow("gflops") == "↓"
