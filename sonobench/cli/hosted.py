"""Hosted-mode and visibility commands: `teams`, `admin`, `status`, `check`.

Thin click wrappers over evaluator/teams.py, store/jobs.py and preflight.py."""
from __future__ import annotations

import json

import click

from sonobench.evaluator import tasks as tasks_mod
from sonobench.evaluator.sandbox import sandbox_config
from sonobench.kernel.clitools import db_option, handle_errors, pass_settings


def _reason_option(fn):
    return click.option("--reason", required=True, help="Why (kept in the audit log).")(fn)


# ---------------------------------------------------------------- teams

@click.group()
def teams():
    """Operator: issue and manage team tokens (hosted mode, `"require_auth": true`)."""


@teams.command("add")
@click.argument("name")
@db_option
@handle_errors
def teams_add(name, db_path):
    """Create team NAME and print its token (shown once; only a salted hash is stored)."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import add_team

    team, token = add_team(Store(db_path), name)
    click.echo(f"Team '{team.name}' (id {team.id}) created. Its token, shown only now:\n{token}\n"
               "Give it to the team; they submit with --token or SONOBENCH_TOKEN.")


@teams.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_option
@handle_errors
def teams_list(as_json, db_path):
    """List teams (never their tokens)."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import list_teams

    rows = list_teams(Store(db_path))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No teams yet. Add one with `sonobench teams add NAME`.")
    for r in rows:
        state = ("disqualified" if r["disqualified_at"] else "revoked" if r["revoked_at"] else "active")
        click.echo(f"{r['id']:>4}  {r['name']}  {state}  submissions: {r['submissions']}  since {r['created_at'][:10]}")


@teams.command("revoke")
@click.argument("name")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@db_option
@handle_errors
def teams_revoke(name, reason, db_path):
    """Stop NAME's token from working (its results stay)."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import revoke

    revoke(Store(db_path), name, reason)
    click.echo(f"The token of team '{name}' is revoked; `sonobench teams rotate {name}` issues a new one.")


@teams.command("rotate")
@click.argument("name")
@db_option
@handle_errors
def teams_rotate(name, db_path):
    """Issue NAME a new token (printed once); the old one stops working."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import rotate

    token = rotate(Store(db_path), name)
    click.echo(f"New token for team '{name}', shown only now (the old one no longer works):\n{token}")


# ---------------------------------------------------------------- admin

@click.group()
def admin():
    """Operator actions on results; each is written to the append-only audit log."""


def _ok(msg):
    click.echo(msg + " (recorded in the audit log; `sonobench admin audit` shows it)")


@admin.command("withdraw")
@click.argument("submission_id", type=int)
@_reason_option
@db_option
@handle_errors
def admin_withdraw(submission_id, reason, db_path):
    """Hide a result from the leaderboard, the app and the JSON (kept; `restore` undoes it)."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import withdraw

    withdraw(Store(db_path), submission_id, reason)
    _ok(f"Submission #{submission_id} withdrawn")


@admin.command("restore")
@click.argument("submission_id", type=int)
@_reason_option
@db_option
@handle_errors
def admin_restore(submission_id, reason, db_path):
    """Show a withdrawn result again."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import restore

    restore(Store(db_path), submission_id, reason)
    _ok(f"Submission #{submission_id} restored")


@admin.command("verify")
@click.argument("submission_id", type=int)
@_reason_option
@db_option
@handle_errors
def admin_verify(submission_id, reason, db_path):
    """Mark a scored result as checked by the operator."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import verify

    verify(Store(db_path), submission_id, reason)
    _ok(f"Submission #{submission_id} marked verified")


@admin.command("disqualify")
@click.argument("team")
@_reason_option
@db_option
@handle_errors
def admin_disqualify(team, reason, db_path):
    """Revoke TEAM's token and withdraw all its results."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import disqualify

    n = disqualify(Store(db_path), team, reason)
    _ok(f"Team '{team}' disqualified; {n} result(s) withdrawn")


@admin.command("rescore")
@click.argument("task_ref")
@_reason_option
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@db_option
@handle_errors
def admin_rescore(task_ref, reason, labels_root, db_path):
    """Re-score TASK's stored results from their stored predictions (`sonobench rescore`), audited."""
    from sonobench.evaluator.rescore import rescore
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.teams import record_action

    store = Store(db_path)
    name, _ = tasks_mod.parse_ref(task_ref)
    rep = rescore(store, name, labels_root=labels_root)
    record_action(store, "rescore", f"task:{name}", reason,
                  {"filled": [sid for sid, _ in rep.filled], "skipped": [sid for sid, _ in rep.skipped],
                   "policy": [sid for sid, _ in rep.policy]})
    _ok(f"Re-scored {name}: {len(rep.policy)} result(s) under the current policy, {len(rep.filled)} filled, "
        f"{len(rep.up_to_date)} up to date, "
        f"{len(rep.skipped)} skipped")


@admin.command("audit")
@click.option("--verify", "check", is_flag=True,
              help="Check the chain of hashes instead: name the first entry that was edited, removed or forged.")
@click.option("--json", "as_json", is_flag=True)
@db_option
@handle_errors
def admin_audit(check, as_json, db_path):
    """Show the audit log, newest first: who did what, when and why (or `--verify` it)."""
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.evaluator.teams import audit_log

    store = ReadOnlyStore(db_path)
    if check:
        _verify_audit(store, as_json)
        return
    rows = audit_log(store)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("The audit log is empty.")
    for r in rows:
        click.echo(f"{r['at']}  {r['actor']}  {r['action']}  {r['target']}  {r['reason'] or ''}".rstrip())


def _verify_audit(store, as_json: bool) -> None:
    import dataclasses

    from sonobench.evaluator.audit import verify
    from sonobench.kernel.errors import SonoBenchError

    v = verify(store.db)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(v) | {"ok": v.ok}, indent=2))
    if not v.ok:
        raise SonoBenchError(f"the audit log was tampered with: entry #{v.first_bad} fails: {v.why} "
                             f"({v.chained} entr{'y' if v.chained == 1 else 'ies'} before it check)")
    if not as_json:
        old = f"; {v.unprotected} written before the chain existed cannot be checked" if v.unprotected else ""
        click.echo(f"The audit log is intact: {v.chained} of {v.entries} entries checked against the chain{old}.")


# ---------------------------------------------------------------- status

def _duration(s: float | None) -> str:
    if s is None:
        return "unknown (no finished jobs yet)"
    return f"{s:.0f} s" if s < 600 else f"{s / 60:.0f} min"


@click.command()
@click.argument("submission_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@db_option
@handle_errors
def status(submission_id, as_json, db_path):
    """Where SUBMISSION_ID stands: state, attempts, queue position and an ETA."""
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.evaluator.store.jobs import queue_status
    from sonobench.kernel.errors import SonoBenchError

    st = queue_status(ReadOnlyStore(db_path), submission_id)
    if st is None:
        raise SonoBenchError(f"No submission #{submission_id} in this store; check the number (and --db)")
    if as_json:
        click.echo(json.dumps(st, indent=2))
        return
    click.echo(f"Submission #{submission_id}: {st['state']}{' (withdrawn)' if st['withdrawn'] else ''}")
    if st["attempts"] is not None:
        click.echo(f"  attempts: {st['attempts']} of {st['max_attempts']}")
    if st["position"] is not None:
        click.echo(f"  queue position: {st['position']}")
    if st["state"] in ("queued", "running") and st.get("workers_active") == 0:
        click.echo("  no worker is running jobs on this store now: it waits until one runs "
                   "(`sonobench worker`, or the app that queued it)")
    elif st["state"] in ("queued", "running"):
        click.echo(f"  estimated time left: {_duration(st['eta_seconds'])} "
                   f"(typical job: {_duration(st['typical_job_seconds'])})")
    if st["state"] == "failed" and st["error"]:
        click.echo(f"  reason: {st['error']}")


# ---------------------------------------------------------------- check

@click.command()
@click.argument("model", type=click.Path())
@click.option("--task", "task_ref", required=True, help="Task id or id@version.")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="submission.json.")
@click.option("--arch", help="Registered architecture for a state_dict/safetensors file.")
@click.option("--arch-kwargs", default=None, help="JSON constructor arguments for --arch.")
@click.option("--output", type=click.Choice(["logits", "probabilities"]), default=None)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
@pass_settings
def check(model, task_ref, spec_path, arch, arch_kwargs, output, as_json, settings):
    """Preflight MODEL for a task: every contract problem at once; nothing stored, no quota used."""
    from pathlib import Path

    from sonobench.evaluator.preflight import preflight
    from sonobench.evaluator.submission import read_spec
    from sonobench.kernel.errors import SonoBenchError

    task = tasks_mod.get_task(task_ref)
    rep = preflight(task, Path(model), spec=read_spec(spec_path) if spec_path else None,
                    architecture={"name": arch, "kwargs": arch_kwargs or {}} if arch else None, output=output,
                    settings=settings, config=sandbox_config(settings))
    if as_json:
        click.echo(json.dumps(rep.__dict__ | {"ok": rep.ok}, indent=2))
    else:
        for line in rep.checked:
            click.echo(f"  ok: {line}")
        for p in rep.problems:
            click.echo(f"  problem: {p}")
    if not rep.ok:
        raise SonoBenchError(f"{rep.model} is not ready for {task.ref}: {len(rep.problems)} problem(s) above")
    if not as_json:
        click.echo(f"{rep.model} meets the contract of {task.ref} (checked on {2} validation cases); "
                   "nothing was stored.")
