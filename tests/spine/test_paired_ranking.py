"""Paired ranking: Wilcoxon p-values equal scipy's, Holm's decisions equal a hand-checked
example, bootstrap rank intervals are reproducible by seed, and the ranking separates models
that the unpaired interval overlap cannot."""
import warnings

import numpy as np
import pytest
from scipy import stats

from sonobench.evaluator.ranking import Scheme, UnknownRanking, mean_difference_ci, rank, significance_matrix
from sonobench.evaluator.ranking.paired import holm_rejections, paired_ranks, pairwise_pvalues, wilcoxon_normal
from sonobench.evaluator.ranking.stability import kendall_tau_b


def _scipy_p(d, alternative, method="auto"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not np.any(d):
            return 1.0
        return float(stats.wilcoxon(d, alternative=alternative, method=method).pvalue)


@pytest.mark.parametrize("seed", range(60))
def test_pairwise_pvalues_equal_scipy_wilcoxon(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 120))
    a = rng.random(n)
    b = np.clip(a + rng.normal(rng.normal(0, 0.05), 0.1, n), 0, 1)
    if seed % 3 == 0:  # ties and zero differences, as Dice of 1.0 on empty cases gives
        b[: n // 4] = a[: n // 4]
        a, b = np.round(a, 2), np.round(b, 2)
    p = pairwise_pvalues(np.stack([a, b]))
    assert p[0, 1] == pytest.approx(_scipy_p(a - b, "greater"), rel=1e-12, abs=1e-15)
    assert p[1, 0] == pytest.approx(_scipy_p(a - b, "less"), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("seed", range(50))
def test_fast_normal_approximation_equals_scipy_approx(seed):
    rng = np.random.default_rng(100 + seed)
    d = np.round(rng.normal(rng.normal(0, 0.05), 0.2, (8, int(rng.integers(3, 150)))), 2)
    d[0] = 0.0
    d[1, ::2] = 0.0
    greater, less = wilcoxon_normal(d)
    for row, g, l in zip(d, greater, less):
        assert g == pytest.approx(_scipy_p(row, "greater", "approx"), rel=1e-12, abs=1e-15)
        assert l == pytest.approx(_scipy_p(row, "less", "approx"), rel=1e-12, abs=1e-15)


def test_holm_matches_a_hand_checked_example():
    # sorted p: 0.010, 0.015, 0.030, 0.040 at alpha 0.05 -> thresholds 0.0125, 0.01667, 0.025, 0.05:
    # 0.010 <= 0.0125 reject, 0.015 <= 0.01667 reject, 0.030 > 0.025 stop -> 2 rejections
    assert holm_rejections(np.array([0.04, 0.01, 0.03, 0.015]), 0.05) == 2
    # Bonferroni would reject only 0.010 (0.05 / 4 = 0.0125); unadjusted all four
    assert holm_rejections(np.array([0.011, 0.02, 0.03, 0.04]), 0.05) == 1
    assert holm_rejections(np.array([0.2, 0.3]), 0.05) == 0
    assert holm_rejections(np.array([0.001, 0.001, 0.001]), 0.05) == 3
    # step-down stops at the first failure even when a later p would pass its own threshold
    assert holm_rejections(np.array([0.02, 0.024, 0.049]), 0.05) == 0


def test_rank_is_one_plus_the_models_significantly_better():
    rng = np.random.default_rng(0)
    base = rng.random(100) * 0.5
    strong = base + 0.3
    mid = base + 0.15 + rng.normal(0, 0.01, 100)
    e = rng.random(50) * 0.01
    twin = mid + rng.permutation(np.concatenate([e, -e]))  # differences symmetric about 0: not separable
    ranks = paired_ranks(np.stack([strong, mid, twin, base]), 0.05)
    assert list(ranks) == [1, 2, 2, 4]
    s = significance_matrix(np.stack([strong, mid, twin, base]))
    assert s[0, 1] == 1 and s[1, 0] == -1 and s[1, 2] == 0 and s[3, 0] == -1


def _rows(values, metric="dice"):
    rows, cases = [], {}
    for i, v in enumerate(values):
        agg = stats.bootstrap((v,), np.mean, n_resamples=200, random_state=0).confidence_interval
        rows.append({"submission_id": i, "name": f"m{i}", f"{metric}_mean": float(np.mean(v)),
                     f"{metric}_ci_low": float(agg.low), f"{metric}_ci_high": float(agg.high)})
        cases[i] = {f"c{k:03d}": float(x) for k, x in enumerate(v)}
    return rows, cases


def test_paired_separates_models_whose_intervals_overlap():
    rng = np.random.default_rng(3)
    base = rng.random(100)  # a wide per-case spread, shared by every model (same cases)
    values = [np.clip(base + 0.03 * k + rng.normal(0, 0.01, 100), 0, 1) for k in range(4)]
    rows, cases = _rows(values)
    paired = rank(rows, "dice", Scheme.PAIRED, case_values=cases, resamples=200)
    overlap = rank(rows, "dice", Scheme.CI_OVERLAP, case_values=cases, stability=False)
    assert [r["rank"] for r in paired.rows] == [1, 2, 3, 4]
    assert [r["rank"] for r in overlap.rows] == [1, 1, 1, 1]


def test_stability_is_reproducible_by_seed_and_bounded():
    rng = np.random.default_rng(5)
    values = [np.clip(rng.random(60) * 0.5 + 0.1 * k, 0, 1) for k in range(5)]
    rows, cases = _rows(values)
    a = rank(rows, "dice", "paired", case_values=cases, resamples=300, seed=7)
    b = rank(rows, "dice", "paired", case_values=cases, resamples=300, seed=7)
    c = rank(rows, "dice", "paired", case_values=cases, resamples=300, seed=8)
    key = lambda r: [(x["rank_low"], x["rank_high"], x["p_rank1"], x["rank_median"]) for x in r.rows]
    assert key(a) == key(b)
    assert np.array_equal(a.bootstrap_ranks, b.bootstrap_ranks)
    assert not np.array_equal(a.bootstrap_ranks, c.bootstrap_ranks)
    for r in a.rows:
        assert 1 <= r["rank_low"] <= r["rank_median"] <= r["rank_high"] <= len(rows)
        assert 0.0 <= r["p_rank1"] <= 1.0
    assert sum(r["p_rank1"] > 0 for r in a.rows) >= 1
    assert -1.0 <= a.kendall_tau <= 1.0


def test_lower_is_better_metric_is_oriented():
    rng = np.random.default_rng(2)
    base = rng.random(80) * 10
    rows, cases = _rows([base + 5, base], metric="hd95")
    ranked = rank(rows, "hd95", "paired", case_values=cases, resamples=100)
    assert [r["submission_id"] for r in ranked.rows] == [1, 0]
    assert [r["rank"] for r in ranked.rows] == [1, 2]


def test_rows_beyond_top_n_follow_their_means():
    rng = np.random.default_rng(4)
    values = [np.clip(rng.random(40) * 0.2 + 0.1 * k, 0, 1) for k in range(6)]
    rows, cases = _rows(values)
    ranked = rank(rows, "dice", "paired", case_values=cases, top_n=3, resamples=50)
    tested = [r for r in ranked.rows if r["rank_tested"]]
    rest = [r for r in ranked.rows if not r["rank_tested"]]
    assert len(tested) == 3 and [r["submission_id"] for r in rest] == [2, 1, 0]
    assert min(r["rank"] for r in rest) > max(r["rank"] for r in tested)


def test_kendall_tau_b_equals_scipy():
    rng = np.random.default_rng(9)
    x = rng.integers(1, 6, 12)
    ys = rng.integers(1, 6, (30, 12))
    ours = kendall_tau_b(x, ys)
    for y, t in zip(ys, ours):
        assert t == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_mean_difference_ci_is_seeded_and_brackets_the_mean():
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50)
    one = mean_difference_ci(a, b, resamples=10_000, seed=0)
    assert one == mean_difference_ci(a, b, resamples=10_000, seed=0)
    assert one.ci_low < one.mean < one.ci_high and one.resamples == 10_000


def test_unknown_scheme_suggests_the_nearest():
    with pytest.raises(UnknownRanking, match="Did you mean 'paired'"):
        Scheme.parse("pared")
