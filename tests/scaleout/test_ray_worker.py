"""`sonobench worker --executor ray`: the same results as the local worker, a killed Ray
worker process retried and scored once, and the error without the extra."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from sonobench.evaluator.evaluate import Request
from sonobench.evaluator.queue import Worker, enqueue
from sonobench.evaluator.sandbox import sandbox_config
from sonobench.evaluator.store import Store
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.evaluator.submission import prepare
from sonobench.kernel.settings import Settings
from tests.sandbox.helpers import descendants, slow_onnx
from tests.spine import onnx_models

pytestmark = pytest.mark.slow

TASK_TITLE = "ray::evaluate_on_node"  # Ray names a worker process after the task it is running


def _queue(db: Path, task, models) -> Store:
    store = Store(db)
    for m in models:
        enqueue(store, task, prepare(m, name=m.stem), Settings())
    return store


def _per_case(store: Store) -> dict[str, list[tuple]]:
    out = {}
    for row in store.db.query("select id, name from submissions order by id"):
        out[row["name"]] = [(c["case_id"], c["class_index"], c["dice"], c["iou"], c["hd95"], c["tp"], c["fp"],
                             c["fn"], c["failed"]) for c in store.case_results(row["id"])]
    return out


def _integrity(store: Store) -> None:
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _ray_worker(db, **kw):
    from sonobench.evaluator.scaleout.ray_worker import RayWorker

    settings = kw.pop("settings", Settings())
    return RayWorker(db_path=str(db), settings=settings, config=sandbox_config(settings, threads=1), once=True,
                     poll_seconds=0.2, log=lambda m: None, **kw)


def test_six_submissions_through_ray_score_like_the_local_worker(ray_cluster, toy_task, tmp_path):
    models = [onnx_models.scaled_identity(tmp_path / f"m{i}.onnx", bias=1.0 + i) for i in range(6)]
    local = _queue(tmp_path / "local.db", toy_task, models)
    Worker(db_path=str(local.path), settings=Settings(), config=sandbox_config(Settings(), threads=1),
           once=True, log=lambda m: None).run()
    remote = _queue(tmp_path / "ray.db", toy_task, models)
    reports = _ray_worker(remote.path).run()

    assert sorted(r.status for r in reports) == ["done"] * 6, reports
    expected = _per_case(local)
    assert len(expected) == 6 and all(len(rows) == len(toy_task.split("test")) for rows in expected.values())
    assert len({tuple(rows) for rows in expected.values()}) > 1  # the six models do score differently
    assert _per_case(remote) == expected
    for row in remote.db.query("select meta from submissions"):
        assert '"ray": {"node_id"' in row["meta"]  # scored on a Ray node, not in the driver
    assert [(j["status"], j["attempts"]) for j in store_jobs.jobs(remote)] == [("done", 1)] * 6
    _integrity(remote)


def _ray_task_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(TASK_TITLE.encode()):
                pids.append(int(entry))
    return pids


def _wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_ray_worker_killed_mid_job_is_retried_and_scored_once(ray_cluster, toy_task, tmp_path):
    store = _queue(tmp_path / "results.db", toy_task, [slow_onnx(tmp_path / "slow.onnx")])
    worker = _ray_worker(store.path)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        _wait_for(lambda: any(len(descendants(p)) >= 2 for p in _ray_task_pids()), 60, "the sandbox on a Ray node")
        time.sleep(1.0)
        assert store.counts()["results"] == 0, "the evaluation finished before the kill; slow the model down"
        [victim] = [p for p in _ray_task_pids() if descendants(p)]
        os.kill(victim, signal.SIGKILL)
    finally:
        thread.join(timeout=300)
    assert not thread.is_alive()
    assert [r.status for r in worker.reports] == ["retried", "done"], worker.reports
    [job] = store_jobs.jobs(store)
    assert (job["status"], job["attempts"]) == ("done", 2), job
    counts = store.counts()
    assert counts["results"] == 1
    assert counts["case_results"] == len(toy_task.split("test")) * (toy_task.num_classes - 1)
    assert store.submission(job["submission_id"])["status"] == "done"
    _integrity(store)


def test_a_job_that_keeps_losing_its_ray_worker_fails_with_the_reason(toy_task, toy_onnx, file_store):
    enqueue(file_store, toy_task, prepare(toy_onnx), Settings(max_attempts=2))
    for attempt in (1, 2):
        job = store_jobs.claim(file_store, "ray:head:1", lease_seconds=60)
        assert job.attempts == attempt
        assert store_jobs.release(file_store, job, "its Ray worker or node died (WorkerCrashedError)") == \
            ("queued" if attempt == 1 else "failed")
    [row] = store_jobs.jobs(file_store)
    assert row["status"] == "failed" and "interrupted 2 time(s), last: its Ray worker" in row["error"]
    assert store_jobs.release(file_store, job, "again") == "lost"  # no longer running: nothing written
    assert file_store.counts()["results"] == 0


def test_gpu_jobs_ask_ray_for_a_whole_gpu_and_need_one_in_the_cluster(ray_cluster, file_store):
    from sonobench.evaluator.scaleout.ray_worker import NoGpuOnCluster, RayWorker

    settings = Settings()
    cpu = RayWorker(db_path=str(file_store.path), settings=settings, config=sandbox_config(settings, threads=2))
    gpu = RayWorker(db_path=str(file_store.path), settings=settings,
                    config=sandbox_config(settings, threads=1, gpu=True))
    assert cpu.task_options() == {"num_cpus": 2} and gpu.task_options() == {"num_cpus": 1, "num_gpus": 1}
    asks = Request(task="toy-lesion@1", gpu=True, threads=3)  # a submission's own options
    assert cpu.task_options(asks) == {"num_cpus": 3, "num_gpus": 1}
    assert ray_cluster.cluster_resources().get("GPU", 0) == 0  # the test cluster has none
    with pytest.raises(NoGpuOnCluster, match="no node of the Ray cluster has a GPU"):
        gpu.run()


def test_a_node_that_cannot_run_sonobench_stops_the_driver_and_keeps_the_job(ray_cluster, toy_task, toy_onnx,
                                                                               tmp_path, monkeypatch):
    from sonobench.evaluator.scaleout import ray_worker

    def broken_node(*args):  # defined here, so Ray ships it by value: what a node without SonoBench does
        raise RuntimeError("The remote function failed to import on the worker")

    monkeypatch.setattr(ray_worker, "evaluate_on_node", broken_node)
    store = _queue(tmp_path / "results.db", toy_task, [toy_onnx])
    with pytest.raises(ray_worker.NodeCannotEvaluate, match="Every node needs the same SonoBench install") as e:
        _ray_worker(store.path).run()
    assert "RuntimeError: The remote function failed to import" in str(e.value)
    assert "put back in the queue" in str(e.value)
    [job] = store_jobs.jobs(store)
    assert (job["status"], job["attempts"]) == ("queued", 1) and store.counts()["results"] == 0


def test_a_submission_asking_for_cuda_fails_with_the_reason_on_a_cluster_without_gpu(ray_cluster, toy_task,
                                                                                      toy_onnx, tmp_path):
    store = Store(tmp_path / "results.db")
    enqueue(store, toy_task, prepare(toy_onnx), Settings(), request=Request.for_task(toy_task, gpu=True))
    reports = _ray_worker(store.path).run()
    assert [r.status for r in reports] == ["failed"]
    [job] = store_jobs.jobs(store)
    assert job["status"] == "failed" and "asks for CUDA; resubmit it without --gpu" in job["error"]
