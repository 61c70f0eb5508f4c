"""The one evaluation pipeline: a compute half that never writes, a commit half that does,
the options that travel with an enqueued job, and one rule for "already scored"."""
from __future__ import annotations

import pickle

import pytest

from sonobench.evaluator.evaluate import Attempt, Request, commit, compute, evaluate
from sonobench.evaluator.queue import enqueue, process_job
from sonobench.evaluator.sandbox import SandboxConfig, sandbox_config
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.evaluator.submission import prepare
from sonobench.kernel.errors import AlreadyScored, InvalidSubmission
from sonobench.kernel.settings import Settings

from . import onnx_models


def test_compute_scores_without_touching_the_store_and_commit_writes_it(file_store, toy_task, toy_onnx):
    sub = prepare(toy_onnx, name="thr")
    attempt = compute(toy_task, sub, Request.for_task(toy_task), Settings())
    assert attempt.ok and attempt.result["n_cases"] == len(toy_task.split("test"))
    assert len(attempt.rows) == len(toy_task.split("test")) and attempt.previews
    assert attempt.meta["isolation"] == attempt.result["hardware"]["isolation"]
    assert file_store.counts()["submissions"] == 0  # compute wrote nothing
    # what a cluster node returns crosses a process boundary intact
    again = pickle.loads(pickle.dumps(attempt))
    assert again.result == attempt.result and again.rows == attempt.rows and again.previews == attempt.previews
    store_jobs.register_task(file_store, toy_task)
    sid, _ = store_jobs.create_submission(file_store, Settings(), file_sha256=sub.sha256, filename="m.onnx",
                                          fmt="onnx", task=toy_task, name="thr")
    assert commit(file_store, sid, again)
    assert file_store.submission(sid)["status"] == "done"
    assert file_store.result_for(sid)["dice_mean"] == attempt.result["dice_mean"]
    assert len(file_store.case_results(sid)) == len(attempt.rows)


def test_a_failed_attempt_carries_the_reason_and_commit_records_it(file_store, toy_task, tmp_path):
    sub = prepare(onnx_models.nan_output(tmp_path / "nan.onnx"))
    attempt = compute(toy_task, sub, Request.for_task(toy_task), Settings())
    assert not attempt.ok and isinstance(attempt.error, InvalidSubmission)
    assert "non-finite values" in attempt.reason
    assert isinstance(pickle.loads(pickle.dumps(attempt)).error, InvalidSubmission)
    store_jobs.register_task(file_store, toy_task)
    sid, _ = store_jobs.create_submission(file_store, Settings(), file_sha256=sub.sha256, filename="nan.onnx",
                                          fmt="onnx", task=toy_task, name="nan")
    commit(file_store, sid, attempt)
    row = file_store.submission(sid)
    assert row["status"] == "failed" and row["error"] == attempt.reason
    assert file_store.counts()["results"] == 0


def test_every_scoring_option_travels_with_an_enqueued_job(file_store, toy_task, toy_onnx):
    request = Request.for_task(toy_task, split="val", isolation="none", gpu=True, threads=1, wall_seconds=7.5,
                               allow_pickle=True, extra_meta={"note": "x"})
    q = enqueue(file_store, toy_task, prepare(toy_onnx), Settings(), request)
    job = store_jobs.claim(file_store, "w", lease_seconds=30)
    assert job.id == q.job_id and Request.from_payload(job.payload) == request
    cfg = request.sandbox_config(SandboxConfig())
    assert (cfg.isolation, cfg.gpu, cfg.threads, cfg.limits.wall_seconds, cfg.allow_pickle) == \
        ("none", True, 1, 7.5, True)
    assert SandboxConfig().limits.wall_seconds != 7.5  # the base config is not modified


def test_a_job_payload_queued_before_requests_existed_still_reads():
    old = {"task": "toy-lesion@1", "split": "test", "spool": "/x", "labels_root": None,
           "sandbox": {"wall_seconds": 9.0, "threads": 2, "allow_pickle": True}}
    r = Request.from_payload(old)
    assert (r.wall_seconds, r.threads, r.allow_pickle, r.isolation, r.gpu) == (9.0, 2, True, None, False)


def test_the_worker_scores_with_the_jobs_options(file_store, toy_task, toy_onnx):
    request = Request.for_task(toy_task, split="val", isolation="none", threads=1)
    q = enqueue(file_store, toy_task, prepare(toy_onnx), Settings(), request)
    job = store_jobs.claim(file_store, "w", lease_seconds=60)
    # the operator's worker runs without isolation here; the job's own options only narrow it
    # (a job asking for less isolation than its worker gives is run under the worker's: test_hosted_audit.py)
    report = process_job(file_store, job, Settings(), sandbox_config(Settings(), isolation="none"))
    assert report.status == "done", report.detail
    res = file_store.result_for(q.submission_id)
    assert res["split"] == "val" and res["n_cases"] == len(toy_task.split("val"))
    assert res["hardware"]["isolation"] == "none" and res["hardware"]["threads"] == 1
    assert file_store.submission(q.submission_id)["meta"]["isolation"] == "none"


def test_one_duplicate_rule_for_inline_and_queued(file_store, toy_task, toy_onnx, tmp_path):
    q = enqueue(file_store, toy_task, prepare(toy_onnx), Settings())
    with pytest.raises(AlreadyScored, match=r"already submitted to toy-lesion@1 as submission #\d+ \(queued\)") as e:
        evaluate(file_store, toy_task, prepare(toy_onnx), settings=Settings())
    assert e.value.submission_id == q.submission_id
    other = onnx_models.scaled_identity(tmp_path / "o.onnx")
    done = evaluate(file_store, toy_task, prepare(other), settings=Settings())
    with pytest.raises(AlreadyScored, match=r"\(done\)") as e:
        enqueue(file_store, toy_task, prepare(other), Settings())
    assert e.value.submission_id == done.submission_id
    assert len(store_jobs.jobs(file_store)) == 1


def test_an_attempt_without_a_result_is_not_ok():
    assert not Attempt().ok and Attempt().reason == ""


def test_bad_request_values_are_refused_with_the_choices(toy_task):
    from sonobench.kernel.errors import SonoBenchError

    with pytest.raises(SonoBenchError, match="isolation must be one of auto, bwrap, unshare, none"):
        Request.for_task(toy_task, isolation="chroot")
    with pytest.raises(SonoBenchError, match="split must be 'test' or 'val'"):
        Request.for_task(toy_task, split="train")
