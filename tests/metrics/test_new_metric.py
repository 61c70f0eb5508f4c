"""Acceptance: a new metric is one registry entry plus its migration. A toy metric registered by
tests/metrics/new_metric_script.py is computed by `score_case`, stored per case and as aggregates,
and shown by the leaderboard table, its CSV and the app, with no other edit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sonobench.evaluator.metrics import METRICS

from .new_metric_script import NAME, pixel_precision

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("new-metric")
    env = dict(os.environ, PYTHONPATH=str(REPO), SONOBENCH_HOME=str(work / "home"),
               SONOBENCH_TASKS_PATH=str(work / "tasks"))
    env.pop("SONOBENCH_DB", None)
    run = subprocess.run([sys.executable, "-m", "tests.metrics.new_metric_script", str(work)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_toy_metric_is_not_committed():
    assert NAME not in METRICS  # it exists only inside the script's interpreter


def test_its_migration_ran_and_score_case_filled_its_column(seen):
    assert seen["migrations"][-1] == "m999_toy_pixel_precision"
    cases = seen["cases"]
    present = [c for c in cases if c["tp"] + c["fn"] > 0]
    assert present and len(present) < len(cases)  # the toy has lesion-free test images
    for c in cases:  # the class-absent policy holds for the new metric too: None, not a number
        expected = pixel_precision(c["tp"], c["fp"], c["fn"]) if c in present else None
        assert c[NAME] == expected


def test_its_aggregate_is_the_mean_over_the_cases_with_the_class(seen):
    values = [pixel_precision(c["tp"], c["fp"], c["fn"]) for c in seen["cases"] if c["tp"] + c["fn"] > 0]
    result = seen["result"]
    assert result[f"{NAME}_mean"] == pytest.approx(float(np.mean(values)), abs=1e-12)
    assert result[f"{NAME}_ci_low"] <= result[f"{NAME}_mean"] <= result[f"{NAME}_ci_high"]
    assert 0.0 < result[f"{NAME}_mean"] < 1.0


def test_the_leaderboard_table_csv_and_app_show_it(seen):
    assert "Toy precision" in seen["table"]
    (row,) = seen["csv"]
    assert float(row[f"{NAME}_mean"]) == pytest.approx(seen["result"][f"{NAME}_mean"])
    assert {f"{NAME}_ci_low", f"{NAME}_ci_high", f"{NAME}_std"} <= set(row)
    assert "Toy precision ↑" in seen["app"]
    assert "Dice ↑" in seen["app"]  # beside the committed metrics, not instead of them
