"""The first-model walkthrough (examples/first_model.py) runs end to end on a tiny budget within
CI's three minutes, and its stored row beats the all-background floor on the task's primary
metric; the data API example (examples/load_data.py) runs as documented."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CI_LIMIT_S = 180


def _run(args, timeout):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _all_background(task_ref: str) -> float:
    """The primary metric of an empty prediction on every test case, scored by the evaluator's metrics."""
    from sonobench.evaluator.scoring import score_prediction
    from sonobench.evaluator.summary import summary_columns
    from sonobench.evaluator.tasks import get_task
    from sonobench.kernel import imageio

    task = get_task(task_ref)
    per_case = [score_prediction(task, c, np.zeros_like(imageio.load_label(task.label_path(c))))
                for c in task.split("test")]
    return summary_columns(task, per_case)[f"{task.primary_metric}_mean"]


@pytest.mark.slow
def test_the_first_model_trains_checks_submits_and_beats_the_floor(tmp_path):
    from sonobench.evaluator.store import Store

    start = time.monotonic()
    out = _run(["examples/first_model.py", "--epochs", "2", "--seconds", "120", "--threads", "1",
                "--out", str(tmp_path), "--json"], timeout=CI_LIMIT_S)
    elapsed = time.monotonic() - start
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert elapsed < CI_LIMIT_S
    outcome = json.loads(out.stdout.strip().splitlines()[-1])
    assert "meets the contract of sim-breast-lesion@2" in out.stdout  # `sonobench check` passed
    assert outcome["task"] == "sim-breast-lesion@2" and outcome["metric"] == "dice"
    stored = Store(tmp_path / "results.db").result_for(outcome["submission_id"])
    assert stored["dice_mean"] == pytest.approx(outcome["value"])  # the row in the store, not a printout
    floor = _all_background("sim-breast-lesion@2")
    assert stored["dice_mean"] > floor, (stored["dice_mean"], floor)
    assert all(outcome["value"] > v for v in outcome["floors"].values())  # the board's floors, where loaded
    assert isinstance(outcome["rank"], int) and "reference row(s) of sim-breast-lesion@2 loaded" in out.stdout


def test_the_data_example_runs(toy_task):
    out = _run(["examples/load_data.py", "toy-lesion"], timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "toy-lesion@1 train: images (12, 64, 64) uint8, labels (12, 64, 64)" in out.stdout
    assert "one batch: image (8, 1, 64, 64) torch.float32, label (8, 64, 64) torch.int64" in out.stdout
