"""Readers never trust a stored row: a result whose numbers are not numbers is shown as invalid.

The evaluator writes only checked values, but a store can hold rows from an
older evaluator, from a hand edit, or from disk damage. Every reader (the CLI
table, CSV and JSON, the app's pages) passes result rows through `partition`:
valid rows are ranked and rendered; each invalid row is listed apart with its
problem, so one bad row never takes the page down for everyone.
"""
from __future__ import annotations

import json
import math

from ..metrics import always_stored_metrics, summary_columns

# Every stored result has these (the registry says which); metrics added later may be NULL.
QUALITY = always_stored_metrics()
REQUIRED = summary_columns(QUALITY)
OPTIONAL = ("params", "gflops", "latency_ms", "peak_memory_mb")
COUNTS = ("n_cases", "params")
MAX_TEXT = 1000


def _number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def problems(row: dict) -> list[str]:
    """What is wrong with one stored result row (empty when it can be shown)."""
    out = []
    for col in REQUIRED:
        if col in row and not _number(row[col]):
            out.append(f"{col} is {str(row[col])[:20]!r}, not a number")
    for col in OPTIONAL:
        v = row.get(col)
        if v is not None and (not _number(v) or v < 0):
            out.append(f"{col} is {str(v)[:20]!r}, not a non-negative number")
    for col in COUNTS:
        v = row.get(col)
        if v is not None and (type(v) is not int or v < 0):
            out.append(f"{col} is {str(v)[:20]!r}, not a count")
    for col in ("name", "team", "hd95_unit", "split"):
        v = row.get(col)
        if v is not None and (not isinstance(v, str) or len(v) > MAX_TEXT):
            out.append(f"{col} is not a short text")
    for col in ("per_class", "complexity", "hardware", "meta"):
        v = row.get(col)
        if isinstance(v, str):
            try:
                json.loads(v)
            except ValueError:
                out.append(f"{col} is not valid JSON")
    return out


_FINITE = (int, float)


def _plainly_valid(row: dict) -> bool:
    """A quick pass that most rows take: every required value a finite number, every optional
    one a non-negative number or None, the counts ints, the texts short strings and no JSON
    column present. Anything else goes through `problems` (which names what is wrong)."""
    get = row.get
    for col in REQUIRED:
        v = get(col, 0)
        if type(v) not in _FINITE or not math.isfinite(v):
            return False
    for col in OPTIONAL:
        v = get(col)
        if v is not None and (type(v) not in _FINITE or not math.isfinite(v) or v < 0):
            return False
    for col in COUNTS:
        v = get(col)
        if v is not None and (type(v) is not int or v < 0):
            return False
    for col in ("name", "team", "hd95_unit", "split"):
        v = get(col)
        if v is not None and (type(v) is not str or len(v) > MAX_TEXT):
            return False
    return not any(col in row for col in ("per_class", "complexity", "hardware", "meta"))


def partition(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(rows that can be ranked and shown, invalid rows with `invalid` = their problems)."""
    good, bad = [], []
    for r in rows:
        if _plainly_valid(r):
            good.append(r)
            continue
        why = problems(r)
        if why:
            bad.append({"submission_id": r.get("submission_id") or r.get("id"), "invalid": "; ".join(why)})
        else:
            good.append(r)
    return good, bad


def decode_json(value):
    """A JSON column decoded, or None when it does not parse (a damaged row stays readable)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None
