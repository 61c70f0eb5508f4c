"""Robustness: how much each model loses when the acquisition changes (the same phantoms
re-imaged under a named condition), paired case by case against the unshifted images."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from evaluator.robustness import DEFINITION
from leaderboard_app import data, ui


def _table(body: dict) -> pd.DataFrame:
    out = []
    for r in body["rows"]:
        line = {"ID": r["submission_id"], "Model": r["name"], "Team": r["team"], "Kind": r["kind"],
                "Unshifted": r["unshifted"]}
        for c in body["conditions"]:
            s = r["conditions"].get(c)
            line[f"{c}"] = None if s is None else s["shifted"]
            line[f"{c} drop"] = None if s is None else s["drop"]
        line["Robustness (mean drop)"] = r["robustness"]
        out.append(line)
    return pd.DataFrame(out)


def _figure(body: dict) -> go.Figure:
    fig = go.Figure()
    for r in body["rows"][:12]:
        conds = [c for c in body["conditions"] if c in r["conditions"]]
        s = [r["conditions"][c] for c in conds]
        fig.add_trace(go.Scatter(
            x=conds, y=[x["drop"] for x in s], mode="markers", name=f"#{r['submission_id']} {r['name']}",
            error_y=dict(type="data", symmetric=False, array=[x["drop_ci_high"] - x["drop"] for x in s],
                         arrayminus=[x["drop"] - x["drop_ci_low"] for x in s])))
    fig.add_hline(y=0, line_dash="dot", line_color="#777")
    fig.update_yaxes(title=f"drop in {body['metric']} vs unshifted (95% CI; higher = worse)")
    fig.update_layout(height=440, legend=dict(orientation="h", y=1.12), margin=dict(t=40))
    return fig


@ui.shows_errors
def robustness_page():
    st.title("Robustness")
    st.caption("Each shift set re-images some of the task's test phantoms under one named change of acquisition. "
               "Every submission to the task is scored on each set after its main result.")
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
    st.dataframe(table, hide_index=True, key="rob_table")
    st.plotly_chart(_figure(body), key="rob_chart")


robustness_page()
