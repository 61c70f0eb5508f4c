"""Submission detail: the method, per-case spread, per-class scores, metrics by case strata,
worst cases, validation overlays."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from sonobench.evaluator import board_columns, private
from sonobench.evaluator.store import validity
from sonobench.kernel import imageio
from sonobench.kernel.errors import TaskNotFound
from sonobench.leaderboard_app import columns, data, details, overlays, ui

N_WORST = 10
N_OVERLAYS = 4


def _header(sub: dict, res: dict) -> None:
    kind = "BASELINE — a reference model trained by SonoBench" if sub["kind"] == "baseline" else "submission"
    arch = (sub.get("meta") or {}).get("architecture")
    arch = arch.get("name") if isinstance(arch, dict) else arch
    verified = f" · **Verified by the operator** ({sub['verified_at'][:10]})" if sub.get("verified_at") else ""
    st.markdown(
        f"**Team:** {ui.plain(sub.get('team')) or '—'}{verified} · **Type:** {kind} · **Format:** {ui.plain(sub['format'])}"
        f"{f' · **Architecture:** {ui.plain(arch)}' if arch else ''} · **Scored:** {(res['created_at'] or '')[:19]} UTC  \n"
        f"Scored on **{res['n_cases']} {res['split']} cases** of {res['task_id']}@{res['task_version']} "
        f"(manifest `{res['manifest_digest'][:12]}`), evaluator {res.get('evaluator_version') or '?'}."
    )


def _fmt(value, d: int) -> str:
    return columns.MISSING if value is None or value != value else f"{value:.{d}f}"


def _metric_cards(res: dict, metrics: list[str]) -> None:
    """One card per metric of the task's board (`metrics`, the primary metric first), then the costs."""
    unit = res.get("hd95_unit") or "px"
    st.markdown(_headline(res, metrics[0]))
    per_case = [m for m in metrics if m in columns.QUALITY]
    detection = [m for m in metrics if m in columns.DETECTION]
    per_row = 5  # cards per row: ten metrics in one row would be too narrow to read
    rows = [per_case[i:i + per_row] for i in range(0, len(per_case), per_row)]
    for m, col in ((m, col) for row in rows for m, col in zip(row, st.columns(per_row))):  # aligned rows
        d = columns.ndigits(m)
        mean = res.get(f"{m}_mean")
        tau = res.get(columns.METRICS.get(m).tolerance) if columns.METRICS.get(m).tolerance else None
        tol = f" Tolerance τ = {tau:g} {unit}." if tau is not None else ""
        primary = " · primary" if m == metrics[0] else ""
        col.metric(columns.metric_header(m, unit) + (f" @ τ = {tau:g} {unit}" if tol else "") + primary, _fmt(mean, d),
                   help=(f"{columns.QUALITY_HELP[m]}{tol} 95% CI [{_fmt(res.get(f'{m}_ci_low'), d)}, "
                         f"{_fmt(res.get(f'{m}_ci_high'), d)}], std {_fmt(res.get(f'{m}_std'), d)}."
                         if mean is not None else f"{columns.QUALITY_HELP[m]} Missing: this result was scored "
                         "before the metric existed; `sonobench rescore` fills it in where predictions are stored."))
    cols = st.columns(len(detection) + len(columns.COSTS))
    for col, m in zip(cols, detection):
        text = columns.rate_ci(res.get(m), res.get(f"{m}_ci_low"), res.get(f"{m}_ci_high"), res.get(f"{m}_n"))
        col.metric(columns.header(m), text.split(" ")[0] if text[0].isdigit() else text,
                   help=f"{columns.QUALITY_HELP[m]} {text}: rate [Wilson 95% CI] (n = images it is a rate over).")
    fmt = {"gflops": lambda v: f"{v:.3g}", "params": columns.fmt_count, "latency_ms": lambda v: f"{v:.1f}"}
    for col, c in zip(cols[len(detection):], columns.COSTS):
        value = res.get(c)
        col.metric(columns.header(c), "n/a" if value is None else fmt[c](value), help=columns.COSTS[c].help)
    distances = [columns.QUALITY_LABEL[m] for m in per_case if columns.is_distance(m)]
    st.caption("The task's declared metrics, its primary metric first · 95% bootstrap CI over cases — " + " · ".join(
        f"{columns.QUALITY_LABEL[m]} [{_fmt(res.get(f'{m}_ci_low'), columns.ndigits(m))}, "
        f"{_fmt(res.get(f'{m}_ci_high'), columns.ndigits(m))}]" for m in per_case if res.get(f"{m}_mean") is not None)
        + (" · image-level rates with Wilson 95% CI — " + " · ".join(
           f"{columns.QUALITY_LABEL[m]} {columns.rate_ci(res.get(m), res.get(f'{m}_ci_low'), res.get(f'{m}_ci_high'), res.get(f'{m}_n'))}"
           for m in detection) if detection else "")
        + " · ↑ higher is better, ↓ lower is better"
        + (f" · distances ({', '.join(distances)}) in {unit}" if distances else "")
        + (" · HD95 is medpy's pooled 95th percentile of both directions' distances; MONAI's (the larger directed "
           "percentile) can be much larger" if "hd95" in per_case else "")
        + " · **missing**: scored before that metric existed")


def _headline(res: dict, metric: str) -> str:
    """'**Dice ↑** (the task's primary metric): **0.706**, 95% CI [0.642, 0.767] over 100 test cases'."""
    d = columns.ndigits(metric)
    mean = res.get(f"{metric}_mean")
    if mean is None:
        return f"**{columns.header(metric)}** (the task's primary metric): {columns.MISSING}"
    return (f"**{columns.metric_header(metric, res.get('hd95_unit') or 'px')}** (the task's primary metric): "
            f"**{mean:.{d}f}**, 95% CI [{_fmt(res.get(f'{metric}_ci_low'), d)}, {_fmt(res.get(f'{metric}_ci_high'), d)}] "
            f"over {res['n_cases']} {res['split']} cases")


def _shown_metrics(cases: pd.DataFrame, metrics: list[str]) -> list[str]:
    """The board's per-case metrics this result has values for (old rows lack the metrics added later)."""
    return [m for m in metrics if m in columns.QUALITY and m in cases and cases[m].notna().any()]


def _distribution(cases: pd.DataFrame, unit: str, metrics: list[str]) -> go.Figure:
    shown = _shown_metrics(cases, metrics)
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=[columns.metric_header(m, unit) for m in shown])
    for i, m in enumerate(shown, start=1):
        fig.add_trace(go.Violin(y=cases[m], name=columns.QUALITY_LABEL[m], box_visible=True, meanline_visible=True,
                                points="all", pointpos=0, jitter=0.3, spanmode="hard", text=cases["case_id"],
                                hovertemplate="%{text}: %{y:.3f}<extra></extra>", showlegend=False,
                                line_color="#0072B2"), row=1, col=i)
    fig.update_layout(height=380, margin=dict(t=40))
    return fig


def _per_class_table(res: dict, metrics: list[str]) -> pd.DataFrame:
    rows = []
    unit = res.get("hd95_unit") or "px"
    for cls, by_metric in (res.get("per_class") or {}).items():
        row = {"Class": cls}
        for m in (m for m in metrics if m in columns.QUALITY):
            agg = by_metric.get(m) or {}
            d = columns.ndigits(m)
            row[columns.metric_header(m, unit)] = (
                columns.MISSING if agg.get("mean") is None else
                f"{agg['mean']:.{d}f} [{_fmt(agg.get('ci_low'), d)}–{_fmt(agg.get('ci_high'), d)}]")
        for m in (m for m in metrics if m in columns.DETECTION):
            r = by_metric.get(m) or {}
            row[columns.header(m)] = columns.rate_ci(r.get("value"), r.get("ci_low"), r.get("ci_high"), r.get("n"))
        rows.append(row)
    return pd.DataFrame(rows)


def _worst(cases: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The worst cases with a value (a case whose reference lacks every class has none)."""
    scored = cases.dropna(subset=[metric]) if metric in cases else cases
    return scored.sort_values(metric, ascending=columns.higher_is_better(metric)).head(N_WORST)


def _overlays(ref: str, sub: dict, res: dict, cases: pd.DataFrame, metric: str, previews: dict) -> None:
    try:
        task = data.task(ref)
    except TaskNotFound:
        st.caption(f"The files of {ref} are not on this machine, so no images can be shown.")
        return
    val = task.split("val")
    if res["split"] == "val" and not cases.empty:
        order = list(_worst(cases, metric)["case_id"])
        picked = [c for cid in order for c in val if c.id == cid][:N_OVERLAYS]
        st.caption("The worst validation cases of this submission: image, ground truth.")
    else:
        picked = ([c for c in val if c.id in previews] or val)[:N_OVERLAYS]
        st.caption(f"This submission was scored on the **{res['split']}** split, whose images are never shown here. "
                   "Below: validation cases — image, ground truth and this model's prediction.")
    if not previews:
        st.info("No prediction overlays for this submission: the evaluator keeps predictions of a few validation "
                "cases only for results scored after that feature arrived.", icon=":material/info:")
    if not picked:
        st.caption("This task has no validation cases to show.")
        return
    cols = st.columns(len(picked))
    for col, case in zip(cols, picked):
        image, label = data.case_arrays(ref, case.id, True)
        col.image(overlays.overlay(image, None), caption=f"{case.id} (val): image", width="stretch")
        col.image(overlays.overlay(image, label), caption=f"{case.id} (val): ground truth", width="stretch")
        if case.id in previews:
            pred = imageio.decode_png(previews[case.id])
            col.image(overlays.overlay(image, pred), caption=f"{case.id} (val): prediction", width="stretch")


_SHOWN = "sub_shown"  # the submission this page showed last (so ?id=N points the pickers only once)


def _open_requested() -> bool:
    """Point the pickers at the submission the URL names (?id=N), whatever its task. False after
    saying why it cannot be shown: not found (or withdrawn), or not scored (yet)."""
    raw = st.query_params.get("id")
    if raw is None or str(raw) == str(st.session_state.get(_SHOWN)):
        return True
    sub = data.submission_detail(int(raw))["submission"] if str(raw).isdigit() and data.db_path().is_file() else None
    if sub is None or sub.get("withdrawn_at"):
        st.error(f"Submission #{ui.plain(raw)} was not found in this leaderboard. Check the number, or pick one below.")
        del st.query_params["id"]
        return False
    if sub["status"] != "done":
        why = f": {sub['error']}" if sub["status"] == "failed" and sub.get("error") else ""
        st.warning(ui.plain(f"Submission #{sub['id']} '{sub['name']}' on {sub['task_id']}@{sub['task_version']} "
                            f"is {sub['status']}{why}"))
        return False
    ref = f"{sub['task_id']}@{sub['task_version']}"
    st.session_state[ui.TASK_KEY] = ref  # the pickers open on it (ui.requested_submission reads the id)
    return True


@ui.shows_errors
def submission_page():
    st.title("Submission detail")
    if not _open_requested():
        return
    picked = ui.task_picker(key="sub_task")
    if picked is None:
        return
    task_id, version, _ = picked
    choices = data.submission_choices(task_id, version)
    if not choices:
        st.info("No scored submissions on this task yet.")
        return
    row = ui.submission_picker("Submission", choices, key="sub_pick", default_id=ui.requested_submission())
    st.session_state[ui.SUBMISSION_KEY] = st.session_state[_SHOWN] = row["id"]
    st.query_params["id"] = str(row["id"])  # the URL names what is shown (a link to it works anywhere)
    detail = data.submission_detail(row["id"])
    sub, res, cases = detail["submission"], detail["result"], detail["cases"]
    broken = validity.problems(res or {}) if res else ["no result row"]
    if broken:
        st.error(f"The stored result of submission #{row['id']} is invalid and cannot be shown "
                 f"({'; '.join(broken)}). An operator can withdraw it (`sonobench admin withdraw`).")
        return
    st.header(ui.plain(f"#{sub['id']} {sub['name']}"))
    _header(sub, res)
    details.show_method(sub)
    metric = res.get("primary_metric") or data.primary_metric(task_id, version)
    metrics = board_columns.shown_metrics(data.task_spec(task_id, version), [res], metric)
    _metric_cards(res, metrics)
    if private.is_private({"task_id": task_id}):
        st.info("This is the hidden test split: its board gives the official ranks, and its per-case results, "
                "images and predictions are shown to the operator only.", icon=":material/lock:")
        return
    unit = res.get("hd95_unit") or "px"
    st.subheader("Per-case distribution")
    st.caption(f"One dot per {res['split']} case (macro mean over foreground classes); box = quartiles, "
               "dashed line = mean. Hover a dot for its case.")
    st.plotly_chart(_distribution(cases, unit, metrics), key="sub_dist")
    if len(res.get("per_class") or {}) > 1:
        st.subheader("Per class")
        st.dataframe(_per_class_table(res, metrics), hide_index=True)
    details.show_strata(row["id"], metric, unit, res.get(f"{metric}_mean"))
    st.subheader(f"Worst cases by {columns.header(metric)}")
    shown = _shown_metrics(cases, metrics)
    worst = _worst(cases, metric)[["case_id", *shown, "tp", "fp", "fn"]]
    st.dataframe(worst, hide_index=True, column_config={
        "case_id": "Case", **{m: st.column_config.NumberColumn(columns.metric_header(m, unit),
                                                                 format=f"%.{columns.ndigits(m)}f")
                              for m in shown},
        "tp": st.column_config.NumberColumn("TP px", help="True-positive pixels"),
        "fp": st.column_config.NumberColumn("FP px", help="False-positive pixels"),
        "fn": st.column_config.NumberColumn("FN px", help="False-negative pixels")})
    st.subheader("Validation cases")
    _overlays(f"{task_id}@{version}", sub, res, cases, metric, detail.get("val_predictions") or {})


submission_page()
