"""Sweeps (3D): a bone task's models scored on its tracked sweeps — the sweep column group (frame score
and rank beside the 3D accuracy, completeness and F-score) and, for a chosen model and sweep, its
reconstructed surface points coloured by their distance to the bone's mesh, drawn over the mesh."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sonobench.evaluator.sweeps.board import DEFINITION, scores_text
from sonobench.leaderboard_app import sweeps, ui


def _figure(rec: dict, tolerance: float) -> go.Figure:
    v, f, p, d = (np.asarray(rec[k]) for k in ("vertices", "faces", "points", "distances"))
    fig = go.Figure(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], color="#c9c2b0",
                              opacity=0.45, name="bone mesh (ground truth)", showlegend=True, hoverinfo="skip",
                              flatshading=True))
    if len(p):
        fig.add_trace(go.Scatter3d(
            x=p[:, 0], y=p[:, 1], z=p[:, 2], mode="markers", name="reconstructed points",
            marker={"size": 2, "color": d, "colorscale": "Turbo", "cmin": 0.0, "cmax": 2 * tolerance,
                    "colorbar": {"title": {"text": "distance to mesh (mm)"}}},
            hovertemplate="%{marker.color:.2f} mm<extra></extra>"))
    # world z is depth (into the body): drawn downwards, the probe above
    fig.update_layout(height=620, margin={"l": 0, "r": 0, "t": 30, "b": 0}, legend={"orientation": "h", "y": 1.02},
                      scene={"aspectmode": "data", "xaxis_title": "x (mm)", "yaxis_title": "y: along the bone (mm)",
                             "zaxis": {"title": "depth (mm)", "autorange": "reversed"}})
    return fig


def _model(row: dict) -> str:
    return f"#{row['submission_id']} {row['name']}" + (" [FLOOR]" if row["kind"] == "floor" else "")


@ui.shows_errors
def sweeps_page():
    st.title("Sweeps (3D)")
    st.caption("A bone task's tracked sweeps: every submission to the task is also scored on them. Each frame's "
               "probe-facing predicted surface is placed in 3D with the frame's tracked pose and compared with the "
               "bone's mesh: accuracy (distance to the mesh), completeness (share of the surface the sweep sees that "
               "was found) and their F-score at τ.")
    left, right = st.columns([2.5, 1.5])
    with left:
        picked = ui.task_picker(key="sw_task")
    if picked is None:
        return
    task_id, version, _ = picked
    with right:
        kind = ui.kind_picker(key="sw_kind")
    body = sweeps.board(task_id, version, kind)
    if body["sweep_set"] is None:
        st.info(f"{task_id}@{version} has no sweep set. A sweep set is a test-only task whose task.json names "
                f"\"parent\": \"{task_id}@{version}\" and its \"sweeps\" (`sonobench sweeps make` makes one for a "
                "simulated bone task).")
        return
    if not body["rows"]:
        st.info("Nothing scored for this selection yet.")
        return
    st.markdown(f"**Definition.** {DEFINITION}")
    st.dataframe(pd.DataFrame(body["table"]), hide_index=True, key="sw_table")
    tau = "n/a" if body["tau"] is None else f"{body['tau']:.2f}"
    st.caption(f"Frame ranking vs 3D ranking: Kendall τ = {tau}")
    scored = [r for r in body["rows"] if r["sweep_submission_id"] is not None]
    if not scored:
        st.info(f"No model is scored on {body['sweep_set']} yet.")
        return
    a, b = st.columns(2)
    row = a.selectbox("Model", scored, format_func=_model, key="sw_model")
    sweep_id = b.selectbox("Sweep", body["sweeps"], key="sw_sweep")
    rec = sweeps.reconstruction(body["sweep_set"], row["sweep_submission_id"], sweep_id)
    s = rec["scores"]
    st.markdown(f"**{ui.plain(f'{_model(row)} on {sweep_id}')}** "
                + ui.plain(f"({rec['frames']} frames, {s['n_points']} points): {scores_text(s)}."))
    if not len(rec["points"]):
        st.warning("This model predicts no bone surface on this sweep's frames: nothing to reconstruct.")
    st.plotly_chart(_figure(rec, body["tolerance"]), key="sw_3d")


sweeps_page()
