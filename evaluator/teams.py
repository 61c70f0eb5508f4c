"""Teams and their tokens, and the operator's audited actions (hosted mode).

A team token is shown once, when it is issued (`add`, `rotate`); the store
keeps only a random salt and the scrypt hash of its secret part (a kept,
memory-hard KDF from the standard library), so a leaked store does not leak
tokens. A token names its team's id (`sbt_<id>_<secret>`), so checking one
costs a single KDF run, and the comparison is constant-time.

With `"require_auth": true` in the operator settings, `submit`, the queue and
the app's Submit page take the team from the token, never from free text;
quotas count by team id. Operator actions (withdraw, restore, disqualify,
verify) each append one row to the audit log (who, when, what, why) in the
same transaction as the change; the log refuses updates and deletes and is chained
(evaluator/audit.py: `sonobench admin audit --verify` names the first tampered entry).
Team names are normalised and checked against look-alikes (evaluator/team_names.py).
"""
from __future__ import annotations

import getpass
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.team_names import check_new_name, normalise

from . import audit
from .store import Store
from .store import jobs as store_jobs
from .store.migrations import now

KDF = "scrypt:n=16384,r=8,p=1"
_TOKEN = re.compile(r"^sbt_(\d{1,12})_([A-Za-z0-9_-]{20,100})$")


class AuthError(SonoBenchError):
    """No token, or one that is wrong, revoked or rotated; nothing was stored."""


class TeamError(SonoBenchError):
    """A team operation was refused (unknown team, duplicate name, ...)."""


@dataclass(frozen=True)
class Team:
    id: int
    name: str


def _hash(secret: str, salt: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=16384, r=8, p=1, dklen=32).hex()


def _issue(team_id: int) -> tuple[str, dict]:
    secret, salt = secrets.token_urlsafe(32), secrets.token_hex(16)
    return f"sbt_{team_id}_{secret}", {"token_salt": salt, "token_hash": _hash(secret, salt), "kdf": KDF}


def operator() -> str:
    """Who is acting: the operating-system user running the command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _audit(db, actor: str, action: str, target: str, reason: str, detail: dict | None = None) -> None:
    audit.append(db, actor, action, target, reason, detail)


def _team_row(store: Store, name: str) -> dict:
    rows = list(store.db.query("select * from teams where name = ?", [normalise(name)]))
    if not rows:
        known = [r["name"] for r in store.db.query("select name from teams order by name")]
        from sonobench.kernel.registry import did_you_mean

        raise TeamError(f"No team named '{name}'. Teams: {', '.join(known) or '(none yet)'}.{did_you_mean(name, known)}")
    return rows[0]


def add_team(store: Store, name: str, actor: str | None = None) -> tuple[Team, str]:
    """Create a team; returns it and its token (shown once, never stored)."""
    with store_jobs.immediate(store.db) as db:
        name = check_new_name(name, [r["name"] for r in db.query("select name from teams")], TeamError)
        tid = db["teams"].insert({"name": name, "created_at": now(), "token_salt": "", "token_hash": "",
                                  "kdf": KDF}).last_pk
        token, fields = _issue(tid)
        db["teams"].update(tid, fields)
        _audit(db, actor or operator(), "team-add", f"team:{name}", "", {"team_id": tid})
    return Team(tid, name), token


def rotate(store: Store, name: str, actor: str | None = None) -> str:
    """A new token for the team; the old one stops working at once. Un-revokes a revoked team."""
    row = _team_row(store, name)
    if row["disqualified_at"]:
        raise TeamError(f"Team '{name}' is disqualified; it cannot get a new token")
    token, fields = _issue(row["id"])
    with store_jobs.immediate(store.db) as db:
        db["teams"].update(row["id"], {**fields, "rotated_at": now(), "revoked_at": None})
        _audit(db, actor or operator(), "team-rotate", f"team:{name}", "")
    return token


def revoke(store: Store, name: str, reason: str = "", actor: str | None = None) -> None:
    row = _team_row(store, name)
    with store_jobs.immediate(store.db) as db:
        db["teams"].update(row["id"], {"revoked_at": now()})
        _audit(db, actor or operator(), "team-revoke", f"team:{name}", reason)


def list_teams(store: Store) -> list[dict]:
    """Teams without their secrets: id, name, dates, and today's usage."""
    rows = store.db.query("select t.id, t.name, t.created_at, t.rotated_at, t.revoked_at, t.disqualified_at, "
                          "(select count(*) from submissions s where " + _OF_TEAM.format(t="t.id") + ") as submissions "
                          "from teams t order by t.name")
    return [dict(r) for r in rows]


def authenticate(store: Store, token: str | None) -> Team:
    """The team a token belongs to; AuthError (nothing stored) for no / a wrong / a revoked token."""
    if not token:
        raise AuthError("This leaderboard requires a team token: pass --token or set SONOBENCH_TOKEN (the operator "
                        "issues one with `sonobench teams add TEAM`). Nothing was stored.")
    m = _TOKEN.match(token.strip())
    rows = list(store.db.query("select * from teams where id = ?", [int(m.group(1))])) if m else []
    row = rows[0] if rows else None
    ok = bool(m and row and row["token_salt"]) and hmac.compare_digest(_hash(m.group(2), row["token_salt"]),
                                                                        row["token_hash"])
    if not ok:
        raise AuthError("The team token is not valid (mistyped, rotated or revoked); ask the operator for a new one. "
                        "Nothing was stored.")
    if row["disqualified_at"]:
        raise AuthError(f"Team '{row['name']}' is disqualified and cannot submit. Nothing was stored.")
    if row["revoked_at"]:
        raise AuthError(f"The token of team '{row['name']}' was revoked; ask the operator for a new one. "
                        "Nothing was stored.")
    return Team(row["id"], row["name"])


# ------------------------------------------------------------------ operator actions on results

# A shift-set follow-up belongs to the team of the submission it re-scores, whether or not its
# row carries the team id (rows the worker queued before it did have team_id NULL).
_FOLLOW_UP = "cast(json_extract(meta, '$.follow_up_of') as integer)"
_OF_TEAM = "(team_id = {t} or " + _FOLLOW_UP + " in (select p.id from submissions p where p.team_id = {t}))"

def _submission(store: Store, sid: int) -> dict:
    row = store.submission(sid)
    if row is None:
        raise TeamError(f"No submission #{sid}; see `sonobench leaderboard TASK --format json` for ids")
    return row


def _need_reason(reason: str, action: str) -> str:
    if not reason or not reason.strip():
        raise TeamError(f"Say why: `--reason '...'` is required to {action} (it is kept in the audit log)")
    return reason.strip()


def withdraw(store: Store, sid: int, reason: str, actor: str | None = None) -> None:
    """Hide a result from every reader (kept in the store; `restore` brings it back)."""
    row = _submission(store, sid)
    reason = _need_reason(reason, "withdraw a result")
    if row.get("withdrawn_at"):
        raise TeamError(f"Submission #{sid} is already withdrawn")
    with store_jobs.immediate(store.db) as db:
        at = now()
        db.execute("update submissions set withdrawn_at = ? where id = ?", [at, sid])
        n = db.execute(f"update submissions set withdrawn_at = ? where {_FOLLOW_UP} = ? and withdrawn_at is null",
                       [at, sid]).rowcount  # its shift-set scores go with it
        _audit(db, actor or operator(), "withdraw", f"submission:{sid}", reason,
               {"name": row["name"], "team": row["team"], "follow_ups": n})


def restore(store: Store, sid: int, reason: str, actor: str | None = None) -> None:
    row = _submission(store, sid)
    reason = _need_reason(reason, "restore a result")
    if not row.get("withdrawn_at"):
        raise TeamError(f"Submission #{sid} is not withdrawn")
    with store_jobs.immediate(store.db) as db:
        db.execute(f"update submissions set withdrawn_at = null where id = ? or {_FOLLOW_UP} = ?", [sid, sid])
        _audit(db, actor or operator(), "restore", f"submission:{sid}", reason)


def verify(store: Store, sid: int, reason: str, actor: str | None = None) -> None:
    """Mark a scored row as checked by the operator (e.g. the team's code was inspected)."""
    row = _submission(store, sid)
    if row["status"] != "done":
        raise TeamError(f"Submission #{sid} is {row['status']}; only scored results can be verified")
    with store_jobs.immediate(store.db) as db:
        db.execute("update submissions set verified_at = ? where id = ?", [now(), sid])
        _audit(db, actor or operator(), "verify", f"submission:{sid}", _need_reason(reason, "verify a result"))


def disqualify(store: Store, name: str, reason: str, actor: str | None = None) -> int:
    """Revoke the team's token and withdraw all its rows; returns how many rows were withdrawn."""
    row = _team_row(store, name)
    reason = _need_reason(reason, "disqualify a team")
    at = now()
    with store_jobs.immediate(store.db) as db:
        db["teams"].update(row["id"], {"disqualified_at": at, "revoked_at": at})
        n = db.execute("update submissions set withdrawn_at = ? where " + _OF_TEAM.format(t="?")
                       + " and withdrawn_at is null", [at, row["id"], row["id"]]).rowcount
        _audit(db, actor or operator(), "disqualify", f"team:{name}", reason, {"withdrawn": n})
    return n


def record_action(store: Store, action: str, target: str, reason: str, detail: dict | None = None,
                  actor: str | None = None) -> None:
    """Append one operator action that another module performed (e.g. a re-score)."""
    with store_jobs.immediate(store.db) as db:
        _audit(db, actor or operator(), action, target, _need_reason(reason, action), detail)


def audit_log(store) -> list[dict]:
    """Every operator action, newest first (readable from a ReadOnlyStore too)."""
    if "audit_log" not in store.db.table_names():
        return []
    return [dict(r) for r in store.db.query("select * from audit_log order by id desc")]
