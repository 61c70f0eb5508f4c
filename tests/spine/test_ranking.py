import random

import pytest

from sonobench.evaluator.ranking import rank_rows


def _row(name, mean, lo, hi, metric="dice"):
    return {"name": name, f"{metric}_mean": mean, f"{metric}_ci_low": lo, f"{metric}_ci_high": hi}


def test_direction_comes_from_the_metric():
    rows = [_row("a", 0.5, 0.4, 0.6), _row("b", 0.9, 0.85, 0.95)]
    assert [r["name"] for r in rank_rows(rows, "dice")] == ["b", "a"]
    rows = [_row("a", 5.0, 4.0, 6.0, "hd95"), _row("b", 9.0, 8.0, 10.0, "hd95")]
    assert [r["name"] for r in rank_rows(rows, "hd95")] == ["a", "b"]


def test_overlapping_cis_tie():
    rows = [_row("a", 0.80, 0.70, 0.90), _row("b", 0.78, 0.72, 0.85), _row("c", 0.50, 0.45, 0.55)]
    assert [(r["name"], r["rank"]) for r in rank_rows(rows, "dice")] == [("a", 1), ("b", 1), ("c", 3)]


@pytest.mark.parametrize("metric", ["dice", "hd95"])
def test_matches_the_quadratic_definition(metric):
    from sonobench.evaluator.metrics import METRICS

    hib = METRICS.get(metric).higher_is_better
    rng = random.Random(0)
    rows = []
    for i in range(300):
        m = rng.random()
        w = rng.random() * 0.2
        rows.append(_row(str(i), m, m - w, m + w, metric))
    for r in rank_rows(rows, metric):
        mine_best = r[f"{metric}_ci_high"] if hib else r[f"{metric}_ci_low"]
        better = sum(1 for o in rows if (o[f"{metric}_ci_low"] > mine_best if hib else o[f"{metric}_ci_high"] < mine_best))
        assert r["rank"] == 1 + better
