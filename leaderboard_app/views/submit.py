"""Submit a model: upload, queue it through the evaluator, follow it without blocking, show the outcome."""
import json

import streamlit as st

from sonobench.evaluator.method import FIELDS as METHOD_FIELDS
from sonobench.evaluator.method import TrainingData, check_method
from sonobench.evaluator.metrics import always_stored_metrics
from sonobench.evaluator.submission import EXTENSIONS
from sonobench.leaderboard_app import columns, data, jobs, ui

JOB_KEY = "sonobench_submit_job"
POLL_S = 1.0


def _instructions() -> None:
    st.markdown(
        "Upload a trained segmentation model; it is scored on the task's held-out test split by the sandboxed "
        "evaluator (no network, no view of labels, memory and time limits) in a separate process — this web app "
        "never loads it.  \n"
        "**Formats:** ONNX `.onnx`, TorchScript `.pt`/`.ts`, `torch.export` `.pt2`, or weights "
        "(`.pt`/`.pth` state_dict, `.safetensors`) plus an architecture JSON naming a registered baseline "
        f"architecture, e.g. `{json.dumps(jobs.EXAMPLE_ARCHITECTURE)}`.  \n"
        "**Contract:** input float32 N×C×H×W in [0, 1] at the task's input size; output N×K×H×W logits "
        f"(K classes, or 1 for binary). Uploads are capped at {jobs.max_upload_bytes() / 1024**2:.0f} MB.  \n"
        "**Or predictions:** a `.zip` of one class-index mask per test case (`<case_id>.png` at the case's native "
        "size, or `.npz` with one array), for the images `sonobench export TASK --split test --images-only` "
        "hands out; ranked on the same board, labelled as predictions (params, GFLOPs, latency n/a)."
    )


def _form() -> None:
    summaries, problems = data.task_summaries()
    if not summaries:
        st.info("No tasks on this machine to submit to. Generate one with `sonobench simulate`.")
        return
    refs = [f"{t['id']}@{t['version']}" for t in summaries]
    ref = st.selectbox("Task", refs, index=_default_index(summaries, refs), key="submit_task",
                       format_func=lambda r: f"{r} — {summaries[refs.index(r)]['title']}")
    model = st.file_uploader("Model file (or a .zip of prediction masks)",
                             type=[e.lstrip(".") for e in sorted(EXTENSIONS)] + [jobs.PREDICTIONS_EXTENSION.lstrip(".")],
                             key="submit_model")
    spec = st.file_uploader("Architecture or submission.json (optional)", type=["json"], key="submit_spec",
                            help="Needed for state_dict/safetensors weights. Either {\"name\": ..., \"kwargs\": {...}} "
                                 "or a full submission.json (name, team, architecture, output).")
    c1, c2 = st.columns(2)
    name = c1.text_input("Display name", key="submit_name", placeholder="default: the file name")
    if jobs.require_auth():
        token = c2.text_input("Team token", type="password", key="submit_token",
                              help="Issued by the operator (`sonobench teams add`); it decides your team.")
        team = ""
    else:
        team, token = c2.text_input("Team", key="submit_team"), ""
    method = _method_fields()
    b1, b2 = st.columns([1, 4])
    if b2.button("Check first (nothing is stored)", disabled=model is None, key="submit_check"):
        _show_check(jobs.check(model.getvalue(), model.name, ref, spec_json=_spec_json(spec, method)))
    _failures(team, token)
    if b1.button("Evaluate", type="primary", disabled=model is None, key="submit_go"):
        task_id = summaries[refs.index(ref)]["id"]
        check_method(method, where="Method: ")  # a bad link or text: one error naming the field, nothing queued
        st.session_state[JOB_KEY] = jobs.start(
            model.getvalue(), model.name, ref, task_id, db=data.db_path(), name=name.strip(), team=team.strip(),
            spec_json=_spec_json(spec, method), token=token.strip())
        st.rerun()


_NOT_STATED = "not stated"


def _method_fields() -> dict:
    """The optional method metadata, as submission.json keys (only those filled in)."""
    with st.expander("Method (optional): description, paper, code, training data"):
        description = st.text_area("Short method description", key="submit_description",
                                   max_chars=METHOD_FIELDS["description"])
        c1, c2 = st.columns(2)
        paper = c1.text_input("Paper URL", key="submit_paper_url", placeholder="https://...")
        code = c2.text_input("Code URL", key="submit_code_url", placeholder="https://...")
        c3, c4 = st.columns(2)
        training = c3.selectbox("Training data", [_NOT_STATED, *(t.value for t in TrainingData)],
                                format_func=lambda v: v if v == _NOT_STATED else TrainingData(v).label,
                                key="submit_training_data", help="Boards can be filtered by it.")
        pretraining = c4.text_input("Pretraining set (its name)", key="submit_pretraining_set",
                                    disabled=training != TrainingData.PRETRAINING.value)
    fields = {"description": description, "paper_url": paper, "code_url": code,
              "training_data": None if training == _NOT_STATED else training,
              "pretraining_set": pretraining if training == TrainingData.PRETRAINING.value else None}
    return {k: v.strip() for k, v in fields.items() if isinstance(v, str) and v.strip()}


def _spec_json(upload, method: dict) -> bytes | None:
    """The uploaded spec file with the form's method fields over it (the form wins)."""
    raw = upload.getvalue() if upload is not None else None
    if not method:
        return raw
    return json.dumps({**(jobs.spec_from_json(raw) if raw else {}), **method}).encode()


def _default_index(summaries: list[dict], refs: list[str]) -> int:
    """The task being looked at, else the newest version of the default task, else the first."""
    from sonobench.evaluator.tasks import DEFAULT_TASK

    chosen = st.session_state.get(ui.TASK_KEY)
    if chosen in refs:
        return refs.index(chosen)
    versions = [t["version"] for t in summaries if t["id"] == DEFAULT_TASK]
    return refs.index(f"{DEFAULT_TASK}@{max(versions)}") if versions else 0


def _failures(team: str, token: str) -> None:
    """The team's failed submissions with their reasons (newest first)."""
    if not (team.strip() or token.strip()):
        return
    rows = jobs.failed_submissions(data.db_path(), team=team.strip(), token=token.strip())
    if not rows:
        return
    with st.expander(f"Failed submissions of this team ({len(rows)})", expanded=False):
        for r in rows:
            st.markdown(ui.plain(f"#{r['id']} {r['name']} on {r['task_id']}@{r['task_version']} "
                                 f"({(r['created_at'] or '')[:16]})") + "  \n" + ui.plain(r["error"] or "no reason recorded"))


def _show_check(report) -> None:
    """The preflight's findings, every problem at once, as plain text."""
    if report.ok:
        st.success(ui.plain(f"{report.model} meets the contract of {report.task}; nothing was stored."))
    for p in report.problems:
        st.error(ui.plain(p))
    for line in report.checked:
        st.caption(ui.plain("ok: " + line))


@st.fragment(run_every=POLL_S)
def _follow(job: jobs.Job) -> None:
    """Show the job's phase from the store; reruns itself (not the page) until the job ends."""
    if not job.running:
        st.rerun()  # the whole page, which now shows the outcome
    phase, frac = {"queued": ("checked; waiting for the sandbox", 0.15),
                   "running": ("scoring the test cases in the sandbox", 0.5)}.get(job.status, ("finishing", 0.9))
    with st.status(ui.plain(f"Evaluating {job.model_name} on {job.task_ref}…"), expanded=True):
        st.write(f"{phase} … {job.elapsed:.0f} s")
        st.progress(frac)
        where = data.queue_status(job.submission_id) if job.submission_id else None
        if where:
            st.caption(ui.queue_line(where))


def _report(job: jobs.Job) -> None:
    outcome = job.outcome()
    if outcome is None:
        st.error(f"The evaluation failed: {ui.plain(job.error() or 'unknown error')}")
        return
    res, sid = outcome.get("result") or {}, outcome["submission_id"]
    st.session_state[ui.SUBMISSION_KEY] = sid
    st.session_state[ui.TASK_KEY] = job.task_ref  # the Leaderboard and Submission pages open on it
    verb = outcome.get("status", "Scored")
    st.success(f"{verb}: submission #{sid} on {job.task_ref}.")
    if res:
        # the task's primary metric first, then those every result has; the Submission page shows the rest
        primary = res.get("primary_metric") or data.DEFAULT_PRIMARY_METRIC
        shown = list(dict.fromkeys([primary, *always_stored_metrics()]))
        cols = st.columns(len(shown) + 1)
        for col, m in zip(cols, shown):
            d = columns.ndigits(m)
            if res.get(f"{m}_mean") is None:
                col.metric(columns.metric_header(m, res.get("hd95_unit") or "px"), columns.MISSING)
                continue
            col.metric(columns.metric_header(m, res.get("hd95_unit") or "px") + (" · primary" if m == primary else ""),
                       f"{res[f'{m}_mean']:.{d}f}", help=f"95% CI [{res[f'{m}_ci_low']:.{d}f}, {res[f'{m}_ci_high']:.{d}f}]")
        cols[-1].metric(columns.header("gflops"), "n/a" if res.get("gflops") is None else f"{res['gflops']:.3g}")
    st.page_link("views/leaderboard.py", label="See it on the leaderboard", icon=":material/leaderboard:")
    st.page_link("views/submission.py", label=f"Open submission #{sid}", icon=":material/query_stats:",
                 query_params={"id": str(sid)})
    _follow_ups(job)


@st.fragment(run_every=POLL_S)
def _follow_ups(job: jobs.Job) -> None:
    """The follow-up scores of this upload (shift sets, the private split): their state, live."""
    follow = job.follow_ups()
    if not follow:
        return
    states = [data.queue_status(i) or {"state": "unknown"} for i, _ in follow]
    done = sum(s["state"] == "done" for s in states)
    st.caption(f"Follow-up scores (acquisition-shift sets, hidden test split): {done} of {len(follow)} done.")
    for (i, ref), s in zip(follow, states):
        st.caption(ui.plain(f"#{i} on {ref}: {ui.queue_line(s)}" + (f" - {s['error']}" if s.get("error") else "")))


@ui.shows_errors
def submit_page():
    st.title("Submit a model")
    _instructions()
    job = st.session_state.get(JOB_KEY)
    if job is not None:
        if job.running:
            _follow(job)
            return
        _report(job)
        if st.button("Submit another model", key="submit_again"):
            job.cleanup()
            del st.session_state[JOB_KEY]
            st.rerun()
        return
    _form()


submit_page()
