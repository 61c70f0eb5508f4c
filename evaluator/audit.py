"""The operator's audit log, tamper-evident: every entry is chained to the one before it.

Each entry stores `prev_hash` (the previous entry's hash, '' for the first) and `hash`,
an HMAC-SHA256 over the previous hash and the entry's own fields (id included), keyed
with a secret kept beside the store in `<store file>.audit-key` (mode 0600, created
with the first entry; an in-memory store uses a key of its process). Triggers make the
table append-only (no UPDATE, no DELETE, no INSERT OR REPLACE, and an insert must name
the last hash); `Store` re-creates them on every open, so a dropped trigger comes back.

What `verify` catches: an edited field or hash, a removed or re-ordered entry (the next
entry no longer chains), and an entry inserted by anyone without the key (its HMAC does
not match). What it cannot catch: removal of the newest entries together with the key
holder's cooperation, or anything done by someone who can read the key file; keep the
key readable by the operator only (or move the store's folder so that it is).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sonobench.kernel.errors import SonoBenchError

KEY_SUFFIX = ".audit-key"
_PROCESS_KEY = secrets.token_bytes(32)  # in-memory stores: nothing outlives the process anyway
FIELDS = ("id", "at", "actor", "action", "target", "reason", "detail")


class AuditKeyMissing(SonoBenchError):
    """The audit log has chained entries but the key file beside the store is gone."""


def _store_file(db) -> str:
    rows = db.execute("PRAGMA database_list").fetchall()
    return next((r[2] for r in rows if r[1] == "main"), "") or ""


def key_path(db) -> Path | None:
    f = _store_file(db)
    return Path(f + KEY_SUFFIX) if f else None


def _key(db, create: bool) -> bytes:
    path = key_path(db)
    if path is None:
        return _PROCESS_KEY
    if not path.exists() and create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        except FileExistsError:
            pass  # another process created it first: read theirs
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        raise AuditKeyMissing(f"The audit log's key {path} is missing or unreadable; the chained entries cannot "
                              "be checked or extended. Restore the key file from a backup.") from None


def digest(key: bytes, prev_hash: str, entry: dict) -> str:
    body = json.dumps([prev_hash] + [entry.get(f) for f in FIELDS], separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def append(db, actor: str, action: str, target: str, reason: str, detail: dict | None = None) -> int:
    """Add one entry, chained to the last; the caller holds the write transaction."""
    last = db.execute("select id, hash from audit_log order by id desc limit 1").fetchone()
    entry = {"id": (last[0] if last else 0) + 1, "at": _now(), "actor": actor, "action": action,
             "target": target, "reason": reason, "detail": json.dumps(detail or {})}
    prev = (last[1] or "") if last else ""
    entry.update(prev_hash=prev, hash=digest(_key(db, create=True), prev, entry))
    db["audit_log"].insert(entry)
    return entry["id"]


def _now() -> str:
    from .store.migrations import now

    return now()


@dataclass(frozen=True)
class Verification:
    entries: int            # entries in the log
    chained: int            # entries checked against the chain
    unprotected: int        # entries written before the chain existed (not checkable)
    first_bad: int | None   # id of the first entry that fails, None when the log is intact
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify(db) -> Verification:
    """Walk the log in id order; the first entry that does not check, and why."""
    if "audit_log" not in db.table_names():
        return Verification(0, 0, 0, None)
    cols = db["audit_log"].columns_dict
    if "hash" not in cols:
        n = db["audit_log"].count
        return Verification(n, 0, n, None)
    rows = [dict(zip([c[0] for c in cur.description], r)) for cur in [db.execute(
        "select * from audit_log order by id")] for r in cur.fetchall()]
    key = _key(db, create=False) if any(r["hash"] for r in rows) else b""
    prev, chained, legacy = "", 0, 0
    for r in rows:
        bad = None
        if r["hash"] is None:
            if chained:
                bad = "it has no hash but follows chained entries (inserted by hand)"
            else:
                legacy += 1
                continue
        elif r["prev_hash"] != prev:
            bad = "it does not chain to the entry before it (an entry was removed, re-ordered or inserted)"
        elif not hmac.compare_digest(digest(key, prev, r), r["hash"]):
            bad = "its hash does not match its contents (edited, replaced or forged without the key)"
        if bad:
            return Verification(len(rows), chained, legacy, r["id"], bad)
        prev, chained = r["hash"], chained + 1
    return Verification(len(rows), chained, legacy, None)
