"""`baselines run --executor ray`: each model trains as a Ray task and is submitted through
the evaluator by the driver, giving the same ONNX file and scores as the local run."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.store import Store

pytestmark = pytest.mark.slow


def test_a_ray_sweep_submits_the_same_models_as_the_local_run(ray_cluster, toy_task, tmp_path):
    runs = {}
    for ex in ("local", "ray"):
        db = tmp_path / f"{ex}.db"
        res = CliRunner().invoke(cli, ["baselines", "run", "unext", "--task", "toy-lesion", "--epochs", "1",
                                       "--device", "cpu", "--db", str(db), "--out", str(tmp_path / ex),
                                       "--executor", ex])
        assert res.exit_code == 0, res.output
        [row] = list(Store(db).db.query("select * from submissions"))
        record = json.loads((tmp_path / ex / "toy-lesion" / "unext-quick" / "run.json").read_text())
        runs[ex] = (row, record, res.output)
    (local, local_rec, _), (ray, ray_rec, output) = runs["local"], runs["ray"]
    assert "as Ray tasks" in output and "trained on Ray" in output
    assert (ray["kind"], ray["status"], ray["team"]) == ("baseline", "done", "SonoBench baselines")
    assert ray["file_sha256"] == local["file_sha256"]  # the node trained and exported the same ONNX bytes
    assert ray_rec["onnx"]["path"].startswith(str(tmp_path / "ray"))  # written under the driver's --out
    assert ray_rec["result"]["dice_mean"] == local_rec["result"]["dice_mean"]
    assert [c["dice"] for c in ray_rec["cases"]] == [c["dice"] for c in local_rec["cases"]]
