"""Robustness: how much of its skill above the no-skill floor each model keeps when the
acquisition changes (the same phantoms re-imaged under a named condition), paired case by case
against the unshifted images; accuracy (the task's primary metric) beside it, rows ordered by it,
floors last and shown "n/a"."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sonobench.evaluator.robustness import DEFINITION
from sonobench.leaderboard_app import data, ui

NA = "n/a"


NOT_SUBMITTED = "not submitted"  # a prediction submission without masks for this condition


def _model(r: dict) -> str:
    if r.get("predictions"):
        return f"{r['name']} [predictions]"
    return f"{r['name']} [FLOOR]" if r["kind"] == "floor" else r["name"]


def _skill(value, low, high) -> str:
    return NA if value is None else f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _table(body: dict) -> pd.DataFrame:
    metric = body["metric"]
    out = []
    for r in body["rows"]:
        line = {"ID": r["submission_id"], "Model": _model(r), "Team": r["team"], "Kind": r["kind"],
                f"{metric} (test)": r["primary"], "Unshifted": r["unshifted"],
                "Robustness (retained skill)": _skill(r["robustness"], r["robustness_ci_low"], r["robustness_ci_high"])
                if r["kind"] != "floor" else NA}
        for c in body["conditions"]:
            s = r["conditions"].get(c)
            line[f"{c}"] = None if s is None else s["shifted"]
            line[f"{c} retained"] = (NOT_SUBMITTED if s is None and r.get("predictions") else
                                     NA if s is None or r["kind"] == "floor" else
                                     _skill(s["retained"], s["retained_ci_low"], s["retained_ci_high"]))
            line[f"{c} drop"] = None if s is None else s["drop"]
        line["Mean drop"] = r["mean_drop"]
        line["Why n/a"] = r["why_none"] or ""
        out.append(line)
    return pd.DataFrame(out)


def _figure(body: dict) -> go.Figure:
    fig = go.Figure()
    for r in [r for r in body["rows"] if r["robustness"] is not None][:12]:
        conds = [c for c in body["conditions"] if r["conditions"].get(c, {}).get("retained") is not None]
        s = [r["conditions"][c] for c in conds]
        fig.add_trace(go.Scatter(
            x=conds, y=[x["retained"] for x in s], mode="markers", name=f"#{r['submission_id']} {r['name']}",
            error_y={"type": "data", "symmetric": False, "array": [x["retained_ci_high"] - x["retained"] for x in s],
                     "arrayminus": [x["retained"] - x["retained_ci_low"] for x in s]}))
    fig.add_hline(y=1, line_dash="dot", line_color="#777")
    fig.add_hline(y=0, line_dash="dot", line_color="#bbb")
    fig.update_yaxes(title=f"retained skill above the floor in {body['metric']} (95% CI; 1 = all kept, 0 = at the floor)")
    fig.update_layout(height=440, legend={"orientation": "h", "y": 1.12}, margin={"t": 40})
    return fig


@ui.shows_errors
def robustness_page():
    st.title("Robustness")
    st.caption("Each shift set re-images some of the task's test phantoms under one named change of acquisition. "
               "Every submission to the task is scored on each set after its main result. Robustness is the share "
               "of a model's skill above the task's no-skill floor that it keeps: a model that ignores the image "
               "has none to keep.")
    left, right = st.columns([2.5, 1.5])
    with left:
        picked = ui.task_picker(key="rob_task")
    if picked is None:
        return
    task_id, version, _ = picked
    with right:
        kind = ui.kind_picker(key="rob_kind")
    body = data.robustness(task_id, version, kind)
    if not body["conditions"]:
        st.info(f"{task_id}@{version} has no acquisition-shift sets. A shift set is a test-only task whose "
                f"task.json names \"parent\": \"{task_id}@{version}\" and a \"condition\".")
        return
    st.markdown(f"**Definition.** {DEFINITION}")
    st.markdown("**Conditions:** " + "; ".join(
        ui.plain(f"{c} ({body['sets'][c]}): {body['descriptions'][c]}") for c in body["conditions"]))
    table = _table(body)
    if table.empty:
        st.info("Nothing scored for this selection yet.")
        return
    if not (table["Kind"] == "floor").any():
        st.warning(f"No no-skill floor is scored on {task_id}@{version}, so no retained skill can be computed: "
                   f"`sonobench baselines floors {task_id}@{version}` builds them.")
    st.dataframe(table, hide_index=True, key="rob_table")
    st.plotly_chart(_figure(body), key="rob_chart")


robustness_page()
