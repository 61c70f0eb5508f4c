"""The validity check's quick pass never lets through a row that the full check rejects."""
from __future__ import annotations

import itertools

from sonobench.evaluator.store import validity

BASE = {"submission_id": 7, "name": "m", "team": "t", "split": "test", "hd95_unit": "mm", "n_cases": 10,
        "params": 100, "gflops": 1.5, "latency_ms": 3.0, "peak_memory_mb": None,
        **{c: 0.5 for c in validity.REQUIRED}}
BAD_VALUES = [float("nan"), float("inf"), -float("inf"), -1, -0.5, "0.5", None, True, 2.5, "x" * 2000, b"1", [1]]


def test_the_quick_pass_agrees_with_the_full_check_on_every_single_damage():
    assert validity.partition([BASE]) == ([BASE], [])
    columns = [*validity.REQUIRED, *validity.OPTIONAL, *validity.COUNTS, "name", "team", "hd95_unit", "split"]
    for col, bad in itertools.product(columns, BAD_VALUES):
        row = dict(BASE, **{col: bad})
        good, invalid = validity.partition([row])
        assert (good == []) == bool(validity.problems(row)), (col, bad)
        assert not invalid or invalid[0]["invalid"] == "; ".join(validity.problems(row))


def test_a_json_column_still_gets_parsed():
    assert validity.partition([dict(BASE, meta="{not json")])[1][0]["invalid"] == "meta is not valid JSON"
    assert validity.partition([dict(BASE, meta='{"a": 1}')])[0]
