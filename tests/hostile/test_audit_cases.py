"""The second hosted-mode audit's reproductions that end in a scored row or a job, not a
refused file: a job's options past the worker's, a forged memory peak, a sandbox folder
left by `kill -9`, and an ONNX whose layers hide in an If branch."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pytest
from onnx import helper, numpy_helper

from sonobench.evaluator.evaluate import Request, evaluate_path
from sonobench.evaluator.queue import Worker, enqueue
from sonobench.evaluator.sandbox import bwrap, sandbox_config, watch
from sonobench.evaluator.submission import prepare
from sonobench.kernel.settings import Settings, load_settings
from tests.sandbox.helpers import SONOBENCH, descendants, slow_onnx
from tests.sandbox.test_memory_watch import RESET_PEAK
from tests.spine import onnx_models

BWRAP = bwrap.probe()[0]
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot run here")


@pytest.mark.slow
def test_a_job_asking_for_1000_s_and_no_isolation_is_killed_at_the_workers_limit(file_store, toy_task, tmp_path):
    model = onnx_models.endless_loop(tmp_path / "loop.onnx")
    request = Request.for_task(toy_task, wall_seconds=1000, isolation="none", threads=64)
    q = enqueue(file_store, toy_task, prepare(model), Settings(), request)
    config = sandbox_config(Settings(), threads=1)
    config.limits.wall_seconds = 4
    t0 = time.monotonic()
    [report] = Worker(str(file_store.path), Settings(), config, once=True, log=lambda m: None).run()
    assert time.monotonic() - t0 < 120
    assert report.status == "failed" and "exceeded the wall-clock limit (4 s)" in report.detail, report.detail
    assert file_store.submission(q.submission_id)["meta"]["isolation"] == ("bwrap" if BWRAP else "unshare")


@needs_bwrap
@pytest.mark.slow
def test_a_model_that_resets_its_peak_is_still_measured(file_store, toy_task, tmp_path):
    pytest.importorskip("torch")
    from tests.hostile.corpus import MODULE_SRC, Targets, pickle_case

    model = pickle_case(lambda t: RESET_PEAK + MODULE_SRC.format(body="        return x[:, :1] - 0.5"))(
        tmp_path, Targets(*[tmp_path] * 4, 0, ""))
    config = sandbox_config(load_settings())
    config.allow_pickle, config.limits.wall_seconds = True, 180
    res = evaluate_path(file_store, toy_task, model, settings=load_settings(), config=config, name="reset").result
    assert res["peak_memory_mb"] >= 600, res["peak_memory_mb"]
    assert "sampled by the evaluator" in res["hardware"]["memory_measured"]


@needs_bwrap
@pytest.mark.slow
def test_a_killed_workers_sandbox_folder_is_cleared_by_the_next_worker(file_store, toy_task, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    enqueue(file_store, toy_task, prepare(slow_onnx(tmp_path / "slow.onnx")), Settings())
    first = subprocess.Popen([*SONOBENCH, "worker", "--db", str(file_store.path), "--max-jobs", "1", "--poll", "0.2"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and len(descendants(first.pid)) < 3:
            time.sleep(0.2)
        left = list(tmp.glob(watch.WORKDIR_PREFIX + "*"))
        assert left, "the sandbox did not start"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    assert all((d / "model" / "slow.onnx").exists() for d in left)  # the model copy stays behind
    second = subprocess.run([*SONOBENCH, "worker", "--db", str(file_store.path), "--once", "--poll", "0.2"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert "removed 1 sandbox folder(s) left by a killed worker" in second.stderr, second.stderr
    assert not any(d.exists() for d in left)


def test_an_onnx_whose_layers_sit_in_an_if_branch_is_counted(file_store, toy_task, tmp_path):
    from tests.complexity.test_onnx_control_flow import _branch, _model, _w

    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["out"], then_branch=_branch("then", "w_in", [_w("w_in")]),
                            else_branch=_branch("else", "w_out"))
    path = tmp_path / "branchy.onnx"
    path.write_bytes(_model([node], [cond, _w("w_out")]))
    res = evaluate_path(file_store, toy_task, path, settings=Settings(), name="branchy").result
    assert res["params"] == 18 and res["gflops"] > 0
    assert res["complexity"]["source"] == "counted by the evaluator"
