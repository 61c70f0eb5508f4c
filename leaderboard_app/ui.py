"""Widgets and guards shared by the pages."""
from __future__ import annotations

import functools
import re
import sqlite3

import streamlit as st

from sonobench.kernel.errors import SonoBenchError

from . import data

# Plain session keys (not widget keys) survive page switches, so the task and
# submissions picked on one page stay picked on the next.
TASK_KEY = "sonobench_task"
SUBMISSION_KEY = "sonobench_submission"


@functools.lru_cache(maxsize=1)
def favicon():
    """A 32 x 32 icon drawn in code (a fan-shaped ultrasound sector), so no file or host is needed."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:32, 0:32]
    r, angle = np.hypot(x - 16, y - 2), np.degrees(np.arctan2(x - 16, y - 2))
    sector = (r < 29) & (np.abs(angle) < 40)
    img = np.zeros((32, 32, 4), np.uint8)
    img[sector] = (0, 114, 178, 255)
    img[sector & (np.abs(r - 18) < 3) & (np.abs(angle) < 12)] = (255, 255, 255, 255)
    return Image.fromarray(img, "RGBA")


def shows_errors(page):
    """Run a page; show library errors with st.error instead of a traceback."""
    @functools.wraps(page)
    def wrapper():
        try:
            page()
        except SonoBenchError as e:
            st.error(plain(str(e)))  # messages quote file and team names: shown as literal text
        except sqlite3.DatabaseError as e:
            st.error(f"The results store at {data.db_path()} could not be read ({e}). "
                     "Check the path given to `sonobench app --db`.")
    return wrapper


def task_picker(label: str = "Task", *, key: str) -> tuple[str, int, dict] | None:
    """Select a scored task version; returns (task_id, version, info) or None after saying why."""
    if not data.db_path().is_file():
        st.info(f"No results store yet at `{data.db_path()}`. Score a model on the **Submit** page (or with "
                "`sonobench submit MODEL --task TASK`), or start the app on an existing store with "
                "`sonobench app --db PATH`.")
        return None
    scored = data.scored_tasks()
    if not scored:
        st.info("No results yet. Submit a model on the **Submit** page or run `sonobench submit MODEL --task TASK`.")
        return None
    refs = [f"{t['task_id']}@{t['task_version']}" for t in scored]
    chosen = st.session_state.get(TASK_KEY)
    index = refs.index(chosen) if chosen in refs else 0
    titles = {f"{t['task_id']}@{t['task_version']}": t.get("title") or "" for t in scored}
    ref = st.selectbox(label, refs, index=index, key=key, format_func=lambda r: f"{r} — {titles[r]}" if titles[r] else r)
    st.session_state[TASK_KEY] = ref  # the Submit and Tasks pages open on the task being looked at
    info = scored[refs.index(ref)]
    return info["task_id"], info["task_version"], info


def submission_label(row: dict) -> str:
    tag = " [baseline]" if row.get("kind") == "baseline" else ""
    team = f" ({row['team']})" if row.get("team") else ""
    return f"#{row['id']} {row['name']}{team}{tag}"


def submission_picker(label: str, choices: list[dict], *, key: str, default_id: int | None = None) -> dict:
    ids = [c["id"] for c in choices]
    index = ids.index(default_id) if default_id in ids else 0
    by_id = {c["id"]: c for c in choices}
    sid = st.selectbox(label, ids, index=index, key=key, format_func=lambda i: submission_label(by_id[i]))
    return by_id[sid]


def requested_submission() -> int | None:
    """A submission id from the URL (?id=N) or from the last page that picked one."""
    raw = st.query_params.get("id")
    if raw and str(raw).isdigit():
        return int(raw)
    return st.session_state.get(SUBMISSION_KEY)


KIND_FILTERS = {"all": "All", "submission": "Submissions", "baseline": "Baselines"}


def kind_picker(*, key: str) -> str:
    return st.segmented_control(
        "Show", list(KIND_FILTERS), format_func=KIND_FILTERS.get, default="all", required=True, key=key,
        help="Baselines are reference models trained by SonoBench on the task's train/val split and scored "
             "by the same evaluator as every submission.") or "all"


def metric_picker(label: str, default: str, *, key: str, first=()) -> str:
    """Pick a per-case metric; `first` (the task's declared metrics) lead the list."""
    from .columns import QUALITY, QUALITY_LABEL, arrow, direction_words

    options = list(dict.fromkeys([m for m in first if m in QUALITY] + list(QUALITY)))
    return st.selectbox(label, options, index=options.index(default) if default in options else 0, key=key,
                        format_func=lambda m: f"{QUALITY_LABEL[m]} {arrow(m)} ({direction_words(m)})")


def task_metric_picker(label: str, task_id: str, version: int, *, key: str) -> str:
    """`metric_picker` for one task: its declared metrics lead the list, and on every switch to
    another task the choice starts again at that task's primary metric."""
    ref, primary = f"{task_id}@{version}", data.primary_metric(task_id, version)
    if st.session_state.get(f"{key}__task") != ref:
        # Set, not cleared: the browser keeps showing a keyed widget's old choice otherwise. The
        # primary metric leads the options, so this agrees with the widget's default index.
        st.session_state[f"{key}__task"] = ref
        st.session_state[key] = primary
    return metric_picker(label, primary, key=key, first=data.task_metrics(task_id, version))


_MARKDOWN_SPECIALS = set("\\`*_{}[]<>#!|~:$&")
_BLOCK_START = re.compile(r"^([-+]|\d+[.)])")  # would start a list item at the beginning of a block


def plain(text) -> str:
    """User-supplied text (a team or model name, a reason) made inert for st.markdown/st.caption:
    every Markdown and HTML special character is backslash-escaped, so a name can never become
    an image, a link, bold text, an icon, colour or HTML. Shows exactly the characters stored."""
    s = "" if text is None else str(text)
    s = " ".join(s.split())  # newlines would start new Markdown blocks
    s = "".join("\\" + ch if ch in _MARKDOWN_SPECIALS else ch for ch in s)
    return _BLOCK_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], s)


def warn_invalid(invalid: list[dict]) -> None:
    """One line per stored result that cannot be shown; the rest of the page renders."""
    for r in invalid:
        st.warning(f"Submission #{r['submission_id']}: its stored result is invalid and is not shown "
                   f"({plain(r['invalid'])}). An operator can withdraw it.", icon=":material/warning:")


def queue_line(st_: dict) -> str:
    """'queued · position 2 · attempt 0 of 2 · about 3 min left' for a queue_status dict."""
    parts = [st_["state"]]
    if st_.get("position"):
        parts.append(f"position {st_['position']} in the queue")
    if st_.get("attempts") is not None:
        parts.append(f"attempt {st_['attempts']} of {st_['max_attempts']}")
    eta = st_.get("eta_seconds")
    if st_.get("workers_active") == 0 and st_["state"] in ("queued", "running"):
        parts.append("no worker is running jobs now")
    elif eta is not None:
        parts.append(f"about {eta:.0f} s left" if eta < 600 else f"about {eta / 60:.0f} min left")
    return " · ".join(parts)


@st.cache_resource
def version_line() -> str:
    """The benchmark version string (`sonobench --version`), computed once per server."""
    from sonobench.evaluator.version import benchmark_version

    return benchmark_version()
