"""The job queue with real worker processes: kill -9 mid-evaluation, concurrency, duplicates."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from sonobench.evaluator.queue import enqueue
from sonobench.evaluator.store import Store
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.evaluator.submission import prepare
from sonobench.kernel.errors import AlreadyScored
from sonobench.kernel.settings import Settings
from tests.spine import onnx_models

from .helpers import SONOBENCH, alive, descendants, slow_onnx


def _worker(db, *args) -> subprocess.Popen:
    return subprocess.Popen([*SONOBENCH, "worker", "--db", str(db), "--poll", "0.2", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _integrity(store):
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    orphans = store.db.execute("select count(*) from case_results where result_id not in "
                               "(select id from results)").fetchone()[0]
    assert orphans == 0


@pytest.mark.slow
def test_worker_killed_mid_evaluation_is_retried_once(file_store, toy_task, tmp_path):
    model = slow_onnx(tmp_path / "slow.onnx")
    q = enqueue(file_store, toy_task, prepare(model), Settings())
    first = _worker(file_store.path, "--max-jobs", "1", "--lease-seconds", "2")
    try:
        _wait_for(lambda: store_jobs.jobs(file_store)[0]["status"] == "running", 60, "the job to start")
        _wait_for(lambda: len(descendants(first.pid)) >= 3, 60, "the sandbox to start")  # bwrap, its pid 1, the child
        time.sleep(1.0)
        sandbox = descendants(first.pid)
        assert file_store.counts()["results"] == 0, "the evaluation finished before the kill; slow the model down"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        _wait_for(lambda: not alive(sandbox), 10, "the killed worker's sandbox to die with it")
    finally:
        if first.poll() is None:
            first.kill()
    assert file_store.counts()["results"] == 0 and file_store.submission(q.submission_id)["status"] == "running"
    second = _worker(file_store.path, "--max-jobs", "1", "--lease-seconds", "2")
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    [job] = store_jobs.jobs(file_store)
    assert (job["status"], job["attempts"]) == ("done", 2), job
    assert "lease expired during attempt 1" in (job["error"] or "") or job["error"] is None
    counts = file_store.counts()
    assert counts["results"] == 1
    assert counts["case_results"] == len(toy_task.split("test")) * (toy_task.num_classes - 1)  # foreground
    assert file_store.submission(q.submission_id)["status"] == "done"
    _integrity(file_store)


@pytest.mark.slow
def test_eight_submissions_through_two_workers(file_store, toy_task, tmp_path):
    ids = []
    for i in range(8):
        model = onnx_models.scaled_identity(tmp_path / f"m{i}.onnx", bias=float(i))
        ids.append(enqueue(file_store, toy_task, prepare(model, name=f"m{i}"), Settings()).submission_id)
    workers = [_worker(file_store.path, "--once") for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    jobs = store_jobs.jobs(file_store)
    assert [(j["status"], j["attempts"]) for j in jobs] == [("done", 1)] * 8
    rows = list(file_store.db.query("select submission_id from results order by submission_id"))
    assert [r["submission_id"] for r in rows] == ids
    assert {j["owner"].rsplit(":", 2)[1] for j in jobs} <= {str(w.pid) for w in workers}
    _integrity(file_store)


@pytest.mark.slow
@pytest.mark.parametrize("enqueue_flag", [True, False], ids=["enqueue", "inline"])
def test_same_file_submitted_twice_at_once_gives_one_result(file_store, toy_task, toy_onnx, enqueue_flag):
    args = [*SONOBENCH, "submit", str(toy_onnx), "--task", "toy-lesion", "--db", str(file_store.path)]
    args += ["--enqueue"] if enqueue_flag else []
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    verbs = sorted(re.search(r"^(Queued|Scored|Already [a-z]+)", o, re.M).group(1) for o in outs)
    assert verbs[0].startswith("Already") and verbs[1] == ("Queued" if enqueue_flag else "Scored"), outs
    if enqueue_flag:
        w = _worker(file_store.path, "--once")
        w.communicate(timeout=120)
    assert file_store.counts()["results"] == 1 and file_store.counts()["submissions"] == 1
    _integrity(file_store)


def test_a_job_that_keeps_losing_its_worker_fails_with_the_reason(file_store, toy_task, toy_onnx):
    q = enqueue(file_store, toy_task, prepare(toy_onnx), Settings(max_attempts=1))
    job = store_jobs.claim(file_store, "w1", lease_seconds=0.05)
    time.sleep(0.1)
    assert store_jobs.claim(file_store, "w2", lease_seconds=10) is None  # expired, out of attempts
    row = file_store.submission(q.submission_id)
    assert row["status"] == "failed" and "interrupted 1 time(s): its worker stopped or hung" in row["error"]
    assert not store_jobs.fail(file_store, job, "late")  # the lost worker cannot overwrite it


def test_a_worker_that_lost_its_lease_writes_nothing(file_store, toy_task, toy_onnx):
    from sonobench.evaluator.store.jobs import LeaseLost

    enqueue(file_store, toy_task, prepare(toy_onnx), Settings(max_attempts=3))
    slow = store_jobs.claim(file_store, "slow", lease_seconds=0.05)
    time.sleep(0.1)
    fresh = store_jobs.claim(file_store, "fresh", lease_seconds=60)
    assert fresh.id == slow.id and fresh.attempts == 2
    assert not store_jobs.heartbeat(file_store, slow, 60)
    from tests.spine.test_store import CASE, _result
    with pytest.raises(LeaseLost):
        store_jobs.complete(file_store, slow, _result(toy_task), [CASE])
    assert file_store.counts()["results"] == 0
    store_jobs.complete(file_store, fresh, _result(toy_task), [CASE])
    assert file_store.counts()["results"] == 1 and store_jobs.jobs(file_store)[0]["status"] == "done"


def test_enqueue_needs_a_store_on_disk_and_refuses_duplicates(toy_task, toy_onnx, file_store):
    from sonobench.kernel.errors import StoreError

    with pytest.raises(StoreError, match="needs a store on disk"):
        enqueue(Store(memory=True), toy_task, prepare(toy_onnx), Settings())
    q = enqueue(file_store, toy_task, prepare(toy_onnx), Settings())
    with pytest.raises(AlreadyScored, match=f"as submission #{q.submission_id} \\(queued\\)"):
        enqueue(file_store, toy_task, prepare(toy_onnx), Settings())
