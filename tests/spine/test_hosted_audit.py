"""The hosted-mode audit's findings, each as its reproduction: the operator's settings bind every
job, disqualify/withdraw reach shift-set rows, concurrent first opens of a store, a tamper-evident
audit log, "already scored" per team, look-alike team names, compare on withdrawn results."""
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.cli.toy import threshold_onnx
from sonobench.evaluator import audit
from sonobench.evaluator.evaluate import Request
from sonobench.evaluator.queue import Worker, enqueue
from sonobench.evaluator.sandbox import bwrap, sandbox_config
from sonobench.evaluator.sandbox.bounds import JobOptionRefused
from sonobench.evaluator.store import Store
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.evaluator.submission import prepare
from sonobench.kernel.settings import Settings

ROOT = str(Path(__file__).resolve().parents[2])


def _team(db, name):
    out = CliRunner().invoke(cli, ["teams", "add", name, "--db", str(db)])
    assert out.exit_code == 0, out.output
    return out.output.split("\n")[1].strip()


@pytest.fixture
def hosted(tmp_path, toy_task, monkeypatch):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"require_auth": True, "daily_submissions": 3}))
    monkeypatch.setenv("SONOBENCH_SETTINGS", str(settings))
    monkeypatch.delenv("SONOBENCH_TOKEN", raising=False)
    db = tmp_path / "hosted.db"
    return {"db": db, "red": _team(db, "red"), "task": toy_task, "tmp": tmp_path}


def _submit(h, model, token, *extra):
    return CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", str(h["db"]),
                                    "--token", token, *extra])


def _model(tmp, threshold=0.3):
    return threshold_onnx(tmp / f"m{threshold}.onnx", threshold=threshold)


# ------------------------------------------------------------------ 1. the operator's limits bind every job

@pytest.mark.parametrize("option", [["--allow-pickle"], ["--gpu"], ["--isolation", "none"], ["--wall-limit", "1000"],
                                    ["--threads", "64"], ["--labels-root", "LABELS"], ["--split", "val"]])
def test_hosted_submit_refuses_options_past_the_operators_settings(hosted, option):
    option = [str(hosted["tmp"]) if o == "LABELS" else o for o in option]
    out = _submit(hosted, _model(hosted["tmp"]), hosted["red"], "--enqueue", *option)
    assert out.exit_code == 1, out.output
    if option[0] == "--labels-root":  # refused for every queued job, hosted or not
        assert "A queued job never carries a labels folder" in out.output
    else:
        assert "operator settings bind every submission; not allowed: " + option[0] in out.output
    assert "Nothing was stored" in out.output and "Traceback" not in out.output
    assert Store(hosted["db"]).submissions() == []


@pytest.mark.parametrize("option", [["--allow-pickle"], ["--wall-limit", "1000"], ["--labels-root", "LABELS"]])
def test_hosted_inline_submit_refuses_them_too(hosted, option):
    option = [str(hosted["tmp"]) if o == "LABELS" else o for o in option]
    out = _submit(hosted, _model(hosted["tmp"]), hosted["red"], *option)
    assert out.exit_code == 1 and "not allowed: " + option[0] in out.output, out.output
    assert Store(hosted["db"]).submissions() == []


def test_a_queued_job_runs_under_the_workers_settings(file_store, toy_task, toy_onnx, tmp_path):
    """Queued (here without the submit-time check) asking for no isolation, 1000 s, 64 threads and
    a labels folder of its own: the worker runs it under its own settings, and the row shows them."""
    with pytest.raises(JobOptionRefused, match="never carries a labels folder"):
        enqueue(file_store, toy_task, prepare(toy_onnx), Settings(), labels_root=tmp_path)
    request = Request.for_task(toy_task, isolation="none", wall_seconds=1000, threads=64)
    sid = enqueue(file_store, toy_task, prepare(toy_onnx), Settings(), request).submission_id
    # a job written before that check (or straight into the store) with a labels folder of its own
    payload = {**request.to_payload(), "labels_root": str(tmp_path / "not-the-labels")}
    job = store_jobs.jobs(file_store)[0]
    file_store.db.execute("update jobs set payload = ? where id = ?",
                          [json.dumps({**json.loads(job["payload"]), **payload}), job["id"]])
    file_store.db.conn.commit()
    assert file_store.submission(sid)["status"] == "queued"
    config = sandbox_config(Settings(), threads=1)
    config.limits.wall_seconds = 20
    [report] = Worker(str(file_store.path), Settings(), config, once=True, log=lambda m: None).run()
    assert report.status == "done", report.detail
    [row] = file_store.submissions()
    sandbox = file_store.result_for(row["id"])["hardware"]["sandbox"]
    assert sandbox["isolation"] != "none" and sandbox["network"] == "none"
    if bwrap.probe()[0]:
        assert sandbox["isolation"] == "bwrap"
    assert sandbox["limits"]["wall_seconds"] == 20 and sandbox["limits"]["threads"] == 1
    assert sandbox["limits"]["allow_pickle"] is False
    not_applied = " ".join(file_store.submission(row["id"])["meta"]["options_not_applied"])
    assert all(o in not_applied for o in ("--isolation none", "--wall-limit 1000", "--threads 64", "--labels-root"))


def test_a_pickle_job_does_not_run_under_a_worker_without_allow_pickle(file_store, toy_task, tmp_path):
    pytest.importorskip("torch")
    from tests.hostile.corpus import Targets, forward_src, pickle_case

    model = pickle_case(lambda t: forward_src("return x"))(tmp_path, Targets(*[tmp_path] * 4, 0, ""))
    enqueue(file_store, toy_task, prepare(model), Settings(), Request.for_task(toy_task, allow_pickle=True))
    [report] = Worker(str(file_store.path), Settings(), sandbox_config(Settings()), once=True,
                      log=lambda m: None).run()
    assert report.status == "failed"
    assert "pickled Python objects run arbitrary code when loaded and are refused" in report.detail


# ------------------------------------------------------------------ 4. disqualify covers shift-set rows

@pytest.fixture
def shifted_hosted(hosted):
    from sonobench.evaluator.tasks import get_task
    from tests.spine.test_robustness import brighter, make_shift

    make_shift(hosted["task"], hosted["tmp"] / "tasks", "gain", brighter)
    hosted["task"] = get_task(hosted["task"].ref)
    return hosted


def _work(db):
    return Worker(str(db), Settings(), sandbox_config(Settings(), threads=1), once=True, log=lambda m: None).run()


def test_disqualify_and_withdraw_cover_the_shift_set_rows_the_worker_creates(shifted_hosted):
    h = shifted_hosted
    out = _submit(h, _model(h["tmp"]), h["red"], "--enqueue")
    assert out.exit_code == 0, out.output
    _work(h["db"])  # the main job, which queues the shift-set follow-up
    _work(h["db"])  # the follow-up
    store = Store(h["db"])
    rows = store.submissions()
    assert len(rows) == 2 and all(r["status"] == "done" for r in rows), rows
    assert [r["team_id"] for r in rows] == [1, 1]  # the follow-up belongs to the team
    listed = CliRunner().invoke(cli, ["teams", "list", "--db", str(h["db"])]).output
    assert "submissions: 2" in listed
    # rows queued by a worker before this fix had no team id: still the team's
    store.db.execute("update submissions set team_id = null where id = 2")
    store.db.conn.commit()
    assert "submissions: 2" in CliRunner().invoke(cli, ["teams", "list", "--db", str(h["db"])]).output
    withdrawn = CliRunner().invoke(cli, ["admin", "withdraw", "1", "--reason", "check", "--db", str(h["db"])])
    assert withdrawn.exit_code == 0, withdrawn.output
    assert all(r["withdrawn_at"] for r in Store(h["db"]).submissions())  # the shift row went with it
    CliRunner().invoke(cli, ["admin", "restore", "1", "--reason", "ok", "--db", str(h["db"])])
    assert not any(r["withdrawn_at"] for r in Store(h["db"]).submissions())
    out = CliRunner().invoke(cli, ["admin", "disqualify", "red", "--reason", "cheating", "--db", str(h["db"])])
    assert out.exit_code == 0 and "2 result(s) withdrawn" in out.output, out.output
    shift_task = Store(h["db"]).submissions()[1]["task_id"]
    assert Store(h["db"]).leaderboard_rows(shift_task) == []  # gone from the shift board too


# ------------------------------------------------------------------ 5. concurrent first opens

def test_eight_concurrent_first_submits_on_a_new_store_all_succeed(tmp_path, toy_task):
    db = tmp_path / "new.db"
    code = ("import sys\n"
            f"sys.path.insert(0, {ROOT!r})\n"
            "from sonobench.evaluator.store import Store\nfrom sonobench.evaluator.store import jobs\n"
            "from sonobench.kernel.settings import Settings\nfrom sonobench.evaluator.tasks import get_task\n"
            "s = Store(sys.argv[1]); t = get_task('toy-lesion')\n"
            "jobs.register_task(s, t)\n"
            "jobs.create_submission(s, Settings(), file_sha256=sys.argv[2] * 64, filename='m.onnx', fmt='onnx', "
            "task=t, name='m' + sys.argv[2], team='t')\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), "0123456789abcdef"[i]], stderr=subprocess.PIPE,
                              text=True) for i in range(8)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(errors)
    assert not any("database is locked" in e for e in errors)
    store = Store(db)
    assert len(store.submissions()) == 8
    names = [r["name"] for r in store.db["_migrations"].rows]
    assert len(names) == len(set(names))


# ------------------------------------------------------------------ 6. tamper-evident audit log

def _log_three(h):
    db = str(h["db"])
    _team(h["db"], "blue")
    CliRunner().invoke(cli, ["teams", "revoke", "blue", "--reason", "test", "--db", db])
    return sqlite3.connect(db)


def _verify(h):
    return CliRunner().invoke(cli, ["admin", "audit", "--verify", "--db", str(h["db"])])


def _drop_guards(conn):
    for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace", "audit_log_chained"):
        conn.execute(f"drop trigger if exists {name}")


def test_an_intact_audit_log_verifies(hosted):
    _log_three(hosted).close()
    out = _verify(hosted)
    assert out.exit_code == 0 and "intact: 3 of 3 entries" in out.output, out.output


def test_insert_or_replace_over_an_entry_is_refused(hosted):
    conn = _log_three(hosted)
    with pytest.raises(sqlite3.IntegrityError, match="append-only|must chain"):
        conn.execute("insert or replace into audit_log (id, at, actor, action, target, reason, detail, prev_hash, "
                     "hash) select id, at, 'mallory', action, target, reason, detail, prev_hash, hash "
                     "from audit_log where id = 1")


@pytest.mark.parametrize("tamper, bad", [
    ("update audit_log set reason = 'nothing to see' where id = 2", 2),
    ("delete from audit_log where id = 2", 3),
    (("insert or replace into audit_log (id, at, actor, action, target, reason, detail, prev_hash, hash) "
      "select id, at, 'mallory', action, target, reason, detail, prev_hash, hash from audit_log where id = 1"), 1),
    (("insert into audit_log (id, at, actor, action, target, reason, detail, prev_hash, hash) "
      "select 4, at, actor, 'restore', target, 'forged', detail, hash, 'f' || substr(hash, 2) "
      "from audit_log where id = 3"), 4),
    (("insert into audit_log (at, actor, action, target, reason, detail) "
      "values ('2026-01-01', 'mallory', 'restore', 'submission:1', 'forged', '{}')"), 4),
])
def test_tampering_with_the_guards_dropped_is_named_by_verify(hosted, tamper, bad):
    conn = _log_three(hosted)
    _drop_guards(conn)
    conn.execute(tamper)
    conn.commit()
    conn.close()
    out = _verify(hosted)
    assert out.exit_code == 1 and f"entry #{bad} fails" in out.output, out.output


def test_a_forged_entry_chained_with_a_key_other_than_the_stores_is_named(hosted):
    conn = _log_three(hosted)
    _drop_guards(conn)
    last = conn.execute("select hash from audit_log order by id desc limit 1").fetchone()[0]
    entry = {"id": 4, "at": "2026-12-07T00:00:00+00:00", "actor": "op", "action": "restore",
             "target": "submission:1", "reason": "forged", "detail": "{}"}
    conn.execute("insert into audit_log (id, at, actor, action, target, reason, detail, prev_hash, hash) "
                 "values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 [*entry.values(), last, audit.digest(b"guessed key", last, entry)])
    conn.commit()
    conn.close()
    out = _verify(hosted)
    assert out.exit_code == 1 and "entry #4 fails" in out.output and "forged" in out.output


def test_dropped_guards_come_back_on_the_next_open(hosted):
    conn = _log_three(hosted)
    _drop_guards(conn)
    conn.commit()
    conn.close()
    store = Store(hosted["db"])
    triggers = {r[0] for r in store.db.execute("select name from sqlite_master where type = 'trigger'")}
    assert {"audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace", "audit_log_chained"} <= triggers
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.db.execute("update audit_log set reason = 'x' where id = 1")


# ------------------------------------------------------------------ 8. "already scored" per team

def test_another_teams_identical_file_is_scored_for_the_caller(hosted):
    blue = _team(hosted["db"], "blue")
    model = _model(hosted["tmp"])
    assert _submit(hosted, model, hosted["red"]).exit_code == 0
    CliRunner().invoke(cli, ["admin", "withdraw", "1", "--reason", "check", "--db", str(hosted["db"])])
    out = _submit(hosted, model, blue)
    assert out.exit_code == 0, out.output
    assert "Scored: submission #2" in out.output and "#1" not in out.output
    rows = Store(hosted["db"]).submissions()
    assert [(r["team"], r["status"]) for r in rows] == [("red", "done"), ("blue", "done")]
    again = _submit(hosted, model, blue)
    assert "Already scored (not scored twice): submission #2" in again.output  # its own row, once


# ------------------------------------------------------------------ 9. team names

@pytest.mark.parametrize("name", ["red\n", "red ", " red", "RED", "r\u0435d", "\uff52\uff45\uff44", "r-e-d", "r e d"])
def test_look_alike_team_names_are_refused(hosted, name):
    out = CliRunner().invoke(cli, ["teams", "add", name, "--db", str(hosted["db"])])
    assert out.exit_code == 1 and "Error:" in out.output, out.output
    assert [r["name"] for r in Store(hosted["db"]).db.query("select name from teams")] == ["red"]


def test_a_team_name_is_stored_normalised(hosted):
    out = CliRunner().invoke(cli, ["teams", "add", "  blue\n", "--db", str(hosted["db"])])
    assert out.exit_code == 0, out.output
    assert [r["name"] for r in Store(hosted["db"]).db.query("select name from teams order by id")] == ["red", "blue"]
    mixed = CliRunner().invoke(cli, ["teams", "add", "gr\u0435en", "--db", str(hosted["db"])])  # Cyrillic e
    assert mixed.exit_code == 1 and "mixes scripts" in mixed.output


# ------------------------------------------------------------------ 10. compare on withdrawn results

def test_compare_refuses_a_withdrawn_result(hosted):
    blue = _team(hosted["db"], "blue")
    assert _submit(hosted, _model(hosted["tmp"], 0.3), hosted["red"]).exit_code == 0
    assert _submit(hosted, _model(hosted["tmp"], 0.5), blue).exit_code == 0
    db = str(hosted["db"])
    assert CliRunner().invoke(cli, ["compare", "1", "2", "--db", db]).exit_code == 0
    CliRunner().invoke(cli, ["admin", "withdraw", "2", "--reason", "check", "--db", db])
    out = CliRunner().invoke(cli, ["compare", "1", "2", "--db", db])
    assert out.exit_code == 1 and "#2 was withdrawn" in out.output, out.output


def test_entries_written_before_the_chain_are_reported_unprotected_and_new_ones_chain(tmp_path):
    from sonobench.evaluator.store import migrations
    from sonobench.evaluator.store._sqlite_utils import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "old.db")
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, fn in migrations.MIGRATIONS:
        if name.endswith("_hosted_team_duplicates_audit_chain"):
            break
        fn(db)
        db["_migrations"].insert({"name": name, "applied_at": migrations.now()})
    db["audit_log"].insert({"at": "2026-11-01", "actor": "op", "action": "withdraw", "target": "submission:1",
                            "reason": "old", "detail": "{}"})
    db.conn.commit()
    db.conn.close()
    from sonobench.evaluator.teams import add_team

    add_team(Store(tmp_path / "old.db"), "red")
    out = CliRunner().invoke(cli, ["admin", "audit", "--verify", "--db", str(tmp_path / "old.db")])
    assert out.exit_code == 0, out.output
    assert "intact: 1 of 2 entries" in out.output and "1 written before the chain existed" in out.output
