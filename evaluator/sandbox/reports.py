"""What the sandboxed child says, checked before the evaluator believes any of it.

The child runs submitted code, so every message it sends is data to validate,
like an upload. This module holds the schemas: types, finite values, integer
ranges and string sizes for the load reply (input channels and, for code
formats, the complexity counted inside the sandbox) and for each inference
reply; and `clean_text`, which turns a message that may come from submitted
code or from torch into one printable line without terminal escapes or advice
to weaken security. A message that breaks a schema raises `ChildReportInvalid`,
which the evaluator records as a failed row; a bad value is never stored.

What the parent can measure itself it does not ask for: latency comes from the
parent's clock around each request, peak memory from /proc (launcher.py), the
sandbox facts from the launcher's own configuration, and ONNX complexity from
the graph in the parent (evaluate.py).
"""
from __future__ import annotations

import math
import re

from sonobench.kernel.errors import SandboxFailure

MAX_PARAMS = 10**12          # a trillion weights: far above any segmentation network
MAX_GFLOPS = 1e7
MAX_TEXT = 400
CHANNELS = (1, 3)
REPORTED_BY_CHILD = "reported by the sandboxed process"

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b.")
_FRAGMENT = re.compile(r"\[(\d{1,3}(;\d{1,3})*)?m")   # escape fragments whose ESC was already stripped
# Sentences that advise weakening the loader, or point at logs the submitter cannot read.
_WEAKEN = re.compile(r"weights_only|safe_globals|unsafe", re.IGNORECASE)
_LOG_POINTER = re.compile(r"warnings? above|see the log", re.IGNORECASE)
WEAKEN_NOTE = "(the loader refused something in the file; the evaluator never relaxes that check)"


class ChildReportInvalid(SandboxFailure):
    """The model process sent a message that breaks its schema (a forged or garbled report)."""


def clean_text(text, limit: int = MAX_TEXT) -> str:
    """One printable line, at most `limit` characters, from untrusted text."""
    text = str(text)[: 16 * limit]
    text = _FRAGMENT.sub("", _ANSI.sub("", text))
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    kept, weakened = [], False
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if _WEAKEN.search(sentence):
            if not weakened:
                kept.append(WEAKEN_NOTE)
            weakened = True
        elif not _LOG_POINTER.search(sentence):
            kept.append(sentence)
    text = " ".join(kept)
    return text if len(text) <= limit else text[:limit] + " [...]"


def _invalid(what: str, value) -> ChildReportInvalid:
    shown = clean_text(repr(value), 60)
    return ChildReportInvalid(f"the model process sent an invalid {what} ({shown}); nothing it reported was "
                              "stored. A model loaded by the evaluator's own loaders never does this: re-export "
                              "it as ONNX, TorchScript or a state_dict and submit again")


def _count(value, what: str, hi: int) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= hi:
        raise _invalid(what, value)
    return value


def _real(value, what: str, hi: float) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or not 0 <= value <= hi:
        raise _invalid(what, value)
    return float(value)


def check_ok(resp: dict, what: str) -> bool:
    ok = resp.get("ok")
    if type(ok) is not bool:
        raise _invalid(f"{what} reply ('ok' must be true or false)", ok)
    return ok


def error_text(resp: dict) -> str:
    """The child's one-line error: only ever a cleaned, bounded string."""
    err = resp.get("error")
    return clean_text(err) if isinstance(err, str) and err.strip() else "no reason given"


def error_type(resp: dict) -> str:
    kind = resp.get("type")
    return kind if isinstance(kind, str) and re.fullmatch(r"[A-Za-z_][\w.]{0,79}", kind) else "Error"


def load_reply(resp: dict, reported_complexity: bool) -> dict:
    """The checked parts of a successful load reply: channels and (code formats) complexity."""
    channels = resp.get("channels")
    if type(channels) is not int or channels not in CHANNELS:
        raise _invalid("input channel count (must be 1 or 3)", channels)
    out = {"channels": channels, "complexity": {"params": None, "gflops": None, "error": None},
           "output": output_choice(resp.get("output"))}
    if not reported_complexity:
        return out
    cx = resp.get("complexity")
    if not isinstance(cx, dict):
        raise _invalid("complexity report", cx)
    counter = cx.get("counter")
    if counter is not None and not (isinstance(counter, str) and len(counter) <= 80):
        raise _invalid("complexity counter name", counter)
    err = cx.get("error")
    if err is not None and not isinstance(err, str):
        raise _invalid("complexity error", err)
    out["complexity"] = {
        "params": _count(cx.get("params"), "parameter count", MAX_PARAMS),
        "gflops": _real(cx.get("gflops"), "GFLOPs count", MAX_GFLOPS),
        "error": clean_text(err) if err else None,
        "source": REPORTED_BY_CHILD,
        **({"counter": clean_text(counter, 80)} if counter else {}),
    }
    return out




def output_choice(value) -> str | None:
    """The child's word on a model that returns several outputs (a tuple, list or dict; element 0
    or the first key is scored), checked and put in the parent's own words; None for one tensor."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("container") not in ("tuple", "list", "dict"):
        raise _invalid("output description", value)
    length = value.get("length")
    if type(length) is not int or not 0 <= length <= 100_000:
        raise _invalid("output count", length)
    if value["container"] == "dict":
        key = value.get("key")
        if not isinstance(key, str) or not re.fullmatch(r"[\w.-]{0,40}", key):
            raise _invalid("output key", key)
        return (f"the model returns a dict of {length} outputs; the first, '{key}', was scored "
                "(return a single tensor to make the choice explicit)")
    return (f"the model returns a {value['container']} of {length} outputs; element 0 was scored "
            "(return a single tensor to make the choice explicit)")
