"""How one run overlaps its work: the sandbox's inputs stream ahead of its outputs, and the
evaluator's own work (metrics, the ONNX count) runs in forked side processes, deferred until
the model is done when its threads take every core. None of it may change a number."""
from __future__ import annotations

import os

import numpy as np
import pytest

from sonobench.evaluator import scoring
from sonobench.evaluator.sandbox import ModelProcess, SandboxConfig, isolation_for
from sonobench.evaluator.submission import prepare
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.settings import Settings

from .fresh_python import assert_fresh_python_ok


def _run(task, model, threads: int):
    config = SandboxConfig(threads=threads)
    result, rows, previews = scoring.run_model(task, prepare(model), split="test", config=config,
                                               iso=isolation_for(config.isolation), settings=Settings())
    return result, rows


def _numbers(result):
    return {k: v for k, v in result.items() if isinstance(v, (int, float)) and k not in ("wall_s", "latency_ms",
                                                                                       "peak_memory_mb")}


def test_deferred_and_overlapped_side_work_give_the_same_scores(toy_task, toy_onnx, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    deferred, rows_d = _run(toy_task, toy_onnx, threads=2)   # threads >= cores: metrics after the last case
    overlapped, rows_o = _run(toy_task, toy_onnx, threads=1)  # a core to spare: metrics beside the model
    assert _numbers(deferred) == _numbers(overlapped)
    assert rows_d == rows_o and len(rows_d) >= len(toy_task.split("test"))
    assert deferred["test_predictions"] == overlapped["test_predictions"]
    assert deferred["params"] == overlapped["params"] and deferred["params"] is not None


def test_without_fork_the_side_work_runs_on_a_thread_with_the_same_scores(toy_task, toy_onnx, monkeypatch):
    forked, rows_f = _run(toy_task, toy_onnx, threads=1)
    scoring._ONNX_COUNTS.clear()

    def no_fork(method=None):
        raise ValueError("cannot find context for 'fork'")

    monkeypatch.setattr(scoring.multiprocessing, "get_context", no_fork)
    threaded, rows_t = _run(toy_task, toy_onnx, threads=1)
    assert _numbers(forked) == _numbers(threaded) and rows_f == rows_t
    assert threaded["params"] == forked["params"] is not None


def test_the_onnx_count_is_reused_for_the_same_file_and_shape(toy_task, toy_onnx, monkeypatch):
    scoring._ONNX_COUNTS.clear()
    first, _ = _run(toy_task, toy_onnx, threads=1)
    assert len(scoring._ONNX_COUNTS) == 1

    def boom(path, shape):
        raise AssertionError("counted twice")

    monkeypatch.setattr(scoring, "onnx_complexity", boom)
    again, _ = _run(toy_task, toy_onnx, threads=1)
    assert again["params"] == first["params"] and again["gflops"] == first["gflops"]


def test_a_request_that_cannot_be_produced_fails_in_order_and_names_its_case(toy_task, toy_onnx):
    sub = prepare(toy_onnx)
    config = SandboxConfig(threads=1)
    seen = []

    def requests():
        for i in range(5):
            if i == 3:
                raise SonoBenchError("case 3's image is unreadable")
            yield {"op": "infer", "case": str(i)}, np.zeros((1, 1, *toy_task.input_size), np.float32), i

    with ModelProcess(sub.files, "onnx", config) as proc:
        proc.load(toy_task.input_size, complexity=False)
        with pytest.raises(SonoBenchError, match="case 3's image is unreadable"):
            for case, resp, y, seconds in proc.stream(requests()):
                assert resp["ok"] and y is not None and seconds > 0
                seen.append(case)
    assert seen == [0, 1, 2]  # every earlier reply arrived, in order


def test_the_sandbox_checks_onnx_without_importing_the_onnx_package():
    code = ("import sys\n"
            "from sonobench.evaluator.sandbox import onnx_checks\n"
            "m = onnx_checks.proto()\n"
            "assert 'onnx' not in sys.modules, 'the whole onnx package was imported'\n"
            "model = m.ModelProto(); model.graph.name = 'g'\n"
            "import onnx\n"
            "assert onnx.ModelProto is m.ModelProto  # one registration of the protobuf file\n")
    assert_fresh_python_ok(code)
