"""Hosted mode: tokens decide the team, quotas follow the team id, operator actions are
audited and withdrawn rows vanish; `status` and `check` tell a submitter where they stand."""
import json
import sqlite3
import time

import numpy as np
import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.cli.toy import threshold_onnx
from sonobench.evaluator.store import Store


@pytest.fixture
def hosted(tmp_path, toy_task, monkeypatch):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"require_auth": True, "daily_submissions": 1}))
    monkeypatch.setenv("SONOBENCH_SETTINGS", str(settings))
    monkeypatch.delenv("SONOBENCH_TOKEN", raising=False)
    db = tmp_path / "hosted.db"
    out = CliRunner().invoke(cli, ["teams", "add", "red", "--db", str(db)])
    assert out.exit_code == 0, out.output
    token = out.output.split("\n")[1].strip()
    return {"db": db, "token": token, "task": toy_task, "tmp": tmp_path}


def _model(tmp_path, threshold):
    return threshold_onnx(tmp_path / f"m{threshold}.onnx", threshold=threshold)


def _submit(h, model, *extra, token=None):
    args = ["submit", str(model), "--task", "toy-lesion", "--db", str(h["db"]), *extra]
    if token:
        args += ["--token", token]
    return CliRunner().invoke(cli, args)


def test_token_is_shown_once_and_stored_only_hashed(hosted):
    assert hosted["token"].startswith("sbt_")
    with sqlite3.connect(hosted["db"]) as conn:
        dump = "\n".join(conn.iterdump())
    secret = hosted["token"].split("_", 2)[2]
    assert secret not in dump and hosted["token"] not in dump
    listed = CliRunner().invoke(cli, ["teams", "list", "--db", str(hosted["db"])]).output
    assert "red" in listed and "active" in listed and secret not in listed


@pytest.mark.parametrize("token", [None, "sbt_1_" + "x" * 43, "garbage"])
def test_no_or_wrong_token_is_refused_and_nothing_is_stored(hosted, token):
    out = _submit(hosted, _model(hosted["tmp"], 0.3), token=token)
    assert out.exit_code == 1
    assert "Nothing was stored" in out.output and "Traceback" not in out.output
    assert Store(hosted["db"]).submissions() == []


def test_revoked_and_rotated_tokens_are_refused(hosted):
    db = str(hosted["db"])
    CliRunner().invoke(cli, ["teams", "rotate", "red", "--db", db])
    out = _submit(hosted, _model(hosted["tmp"], 0.3), token=hosted["token"])
    assert out.exit_code == 1 and "not valid" in out.output
    new = CliRunner().invoke(cli, ["teams", "rotate", "red", "--db", db]).output.split("\n")[1].strip()
    CliRunner().invoke(cli, ["teams", "revoke", "red", "--db", db, "--reason", "leaked"])
    out = _submit(hosted, _model(hosted["tmp"], 0.3), token=new)
    assert out.exit_code == 1 and "revoked" in out.output
    assert Store(hosted["db"]).submissions() == []


def test_team_comes_from_the_token_and_renaming_does_not_escape_the_quota(hosted):
    first = _submit(hosted, _model(hosted["tmp"], 0.3), "--name", "a", token=hosted["token"])
    assert first.exit_code == 0, first.output
    [row] = Store(hosted["db"]).submissions()
    assert row["team"] == "red" and row["team_id"] == 1
    renamed = _submit(hosted, _model(hosted["tmp"], 0.4), "--team", "red2", token=hosted["token"])
    assert renamed.exit_code == 1 and "the token decides the team" in renamed.output
    spec = hosted["tmp"] / "submission.json"
    spec.write_text(json.dumps({"team": "someone-else"}))
    again = _submit(hosted, _model(hosted["tmp"], 0.45), "--spec", str(spec), token=hosted["token"])
    assert again.exit_code == 1 and "used its 1 submissions" in again.output
    assert len(Store(hosted["db"]).submissions()) == 1


def test_platform_failures_are_not_charged(hosted, monkeypatch):
    from sonobench.evaluator.store import jobs as store_jobs
    from sonobench.kernel.settings import load_settings

    store = Store(hosted["db"])
    store_jobs.register_task(store, hosted["task"])
    sid, _ = store_jobs.create_submission(store, load_settings(), file_sha256="ab" * 32, filename="m.onnx",
                                          fmt="onnx", task=hosted["task"], name="m", team="red", team_id=1)
    store_jobs.mark_failed(store, sid, "worker lost", platform=True)
    out = _submit(hosted, _model(hosted["tmp"], 0.3), token=hosted["token"])
    assert out.exit_code == 0, out.output  # the platform failure used no part of the daily cap


def test_withdrawn_row_vanishes_from_cli_json_and_the_audit_log_says_why(hosted):
    db = str(hosted["db"])
    assert _submit(hosted, _model(hosted["tmp"], 0.3), token=hosted["token"]).exit_code == 0
    sid = Store(hosted["db"]).submissions()[0]["id"]
    out = CliRunner().invoke(cli, ["admin", "withdraw", str(sid), "--reason", "trained on test", "--db", db])
    assert out.exit_code == 0, out.output
    board = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--format", "json", "--db", db])
    assert "No results yet" in board.output
    audit = json.loads(CliRunner().invoke(cli, ["admin", "audit", "--json", "--db", db]).output)
    assert audit[0]["action"] == "withdraw" and audit[0]["target"] == f"submission:{sid}"
    assert audit[0]["reason"] == "trained on test" and audit[0]["actor"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        Store(hosted["db"]).db.execute("delete from audit_log")
    CliRunner().invoke(cli, ["admin", "restore", str(sid), "--reason", "appeal upheld", "--db", db])
    board = json.loads(CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--format", "json", "--db", db]).output)
    assert [r["submission_id"] for r in board["rows"]] == [sid]


def test_verify_and_rescore_are_audited(hosted):
    db = str(hosted["db"])
    assert _submit(hosted, _model(hosted["tmp"], 0.3), token=hosted["token"]).exit_code == 0
    sid = Store(hosted["db"]).submissions()[0]["id"]
    assert CliRunner().invoke(cli, ["admin", "verify", str(sid), "--reason", "code read", "--db", db]).exit_code == 0
    out = CliRunner().invoke(cli, ["admin", "rescore", "toy-lesion", "--reason", "NSD added", "--db", db])
    assert out.exit_code == 0 and "Re-scored toy-lesion" in out.output, out.output
    audit = json.loads(CliRunner().invoke(cli, ["admin", "audit", "--json", "--db", db]).output)
    assert [a["action"] for a in audit[:2]] == ["rescore", "verify"]
    assert Store(hosted["db"]).submission(sid)["verified_at"]
    no_reason = CliRunner().invoke(cli, ["admin", "withdraw", str(sid), "--reason", " ", "--db", db])
    assert no_reason.exit_code == 1 and "Say why" in no_reason.output


def test_queue_line_for_the_app():
    from sonobench.leaderboard_app.ui import queue_line

    line = queue_line({"state": "queued", "position": 2, "attempts": 0, "max_attempts": 2, "eta_seconds": 200.0})
    assert line == "queued · position 2 in the queue · attempt 0 of 2 · about 200 s left"
    idle = queue_line({"state": "queued", "position": 1, "attempts": 0, "max_attempts": 2, "eta_seconds": None,
                       "workers_active": 0})
    assert idle == "queued · position 1 in the queue · attempt 0 of 2 · no worker is running jobs now"


def test_disqualify_withdraws_the_team_and_blocks_it(hosted):
    db = str(hosted["db"])
    assert _submit(hosted, _model(hosted["tmp"], 0.3), token=hosted["token"]).exit_code == 0
    out = CliRunner().invoke(cli, ["admin", "disqualify", "red", "--reason", "cheating", "--db", db])
    assert out.exit_code == 0 and "1 result(s) withdrawn" in out.output
    assert "disqualified" in _submit(hosted, _model(hosted["tmp"], 0.4), token=hosted["token"]).output


def test_status_shows_position_attempts_and_eta(file_store, toy_task, toy_onnx, tmp_path):
    from sonobench.evaluator.queue import enqueue
    from sonobench.evaluator.submission import prepare
    from sonobench.kernel.settings import Settings

    q1 = enqueue(file_store, toy_task, prepare(toy_onnx), Settings())
    enqueue(file_store, toy_task, prepare(threshold_onnx(tmp_path / "b.onnx", threshold=0.4)), Settings())
    q3 = enqueue(file_store, toy_task, prepare(threshold_onnx(tmp_path / "c.onnx", threshold=0.45)), Settings())
    file_store.db.execute("update jobs set status = 'done', attempts = 1, started_at = '2026-01-01T00:00:00+00:00', "
                          "finished_at = '2026-01-01T00:01:40+00:00' where submission_id = ?", [q1.submission_id])
    file_store.db.conn.commit()
    out = CliRunner().invoke(cli, ["status", str(q3.submission_id), "--db", str(file_store.path)])
    assert out.exit_code == 0, out.output
    assert "queued" in out.output and "queue position: 2" in out.output and "attempts: 0 of 2" in out.output
    # Nobody runs jobs: no time is promised (the audit saw "about 4 s left" for jobs nobody ran).
    assert "no worker is running jobs" in out.output and "estimated time left" not in out.output
    q4 = enqueue(file_store, toy_task, prepare(threshold_onnx(tmp_path / "d.onnx", threshold=0.35)), Settings())
    file_store.db.execute("update jobs set status = 'running', owner = 'w1', lease_expires = ? where submission_id = ?",
                          [time.time() + 60, q4.submission_id])
    file_store.db.conn.commit()
    out = CliRunner().invoke(cli, ["status", str(q3.submission_id), "--db", str(file_store.path)])
    assert "estimated time left: 250 s" in out.output and "typical job: 100 s" in out.output
    missing = CliRunner().invoke(cli, ["status", "12345", "--db", str(file_store.path)])
    assert missing.exit_code == 1 and "No submission #12345" in missing.output


def _fixed_size_onnx(path, size):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"])], "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, size, size])],
        [numpy_helper.from_array(np.ones(1, np.float32), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_check_tells_the_task_size_and_how_to_export_before_any_case_runs(toy_task, tmp_path):
    model = _fixed_size_onnx(tmp_path / "small.onnx", 32)
    out = CliRunner().invoke(cli, ["check", str(model), "--task", "toy-lesion"])
    assert out.exit_code == 1
    assert "exported for 32 x 32 inputs, but task toy-lesion@1 feeds 64 x 64 images" in out.output
    assert "torch.zeros(1, 1, 64, 64)" in out.output and "dynamic_axes" in out.output
    assert "Got invalid dimensions" not in out.output


def test_check_passes_a_good_model_and_stores_nothing(toy_task, toy_onnx, tmp_path):
    from sonobench.evaluator.store import default_db_path

    out = CliRunner().invoke(cli, ["check", str(toy_onnx), "--task", "toy-lesion"])
    assert out.exit_code == 0, out.output
    assert "meets the contract" in out.output and out.output.count("is valid") == 2
    assert not default_db_path().exists()
