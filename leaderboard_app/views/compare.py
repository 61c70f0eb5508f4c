"""Compare: the significance map of the top N models, and one pair case by case (paired
differences, one-sided Wilcoxon signed-rank tests, bootstrap CI of the mean difference)."""
import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sonobench.evaluator.ranking.compare import NotComparable
from sonobench.leaderboard_app import columns, data, ui

DEFAULT_MAP_N = 10
OUTCOME = {1: "significantly better", -1: "significantly worse", 0: "not separable"}
# Okabe-Ito: blue = row better, vermillion = row worse, grey = not separable
OUTCOME_COLOURS = [[0.0, "#D55E00"], [0.333, "#D55E00"], [0.333, "#DDDDDD"], [0.667, "#DDDDDD"],
                   [0.667, "#0072B2"], [1.0, "#0072B2"]]


def _verdict(cmp: dict, a: dict, b: dict) -> str:
    label = columns.QUALITY_LABEL[cmp["metric"]]
    la, lb = ui.plain(ui.submission_label(a)), ui.plain(ui.submission_label(b))
    if cmp["p_a_better"] <= cmp["alpha"]:
        return (f"**{la}** is significantly better than {lb} on {label}: one-sided Wilcoxon p = "
                f"{cmp['p_a_better']:.3g} ≤ α = {cmp['alpha']:g}.")
    if cmp["p_b_better"] <= cmp["alpha"]:
        return (f"**{lb}** is significantly better than {la} on {label}: one-sided Wilcoxon p = "
                f"{cmp['p_b_better']:.3g} ≤ α = {cmp['alpha']:g}.")
    return (f"Not separable on {label} at α = {cmp['alpha']:g}: neither one-sided test rejects "
            f"(p = {cmp['p_a_better']:.3g} for A better, {cmp['p_b_better']:.3g} for B better).")


def significance_map(sig: dict, metric: str) -> go.Figure:
    """Heatmap: cell (row i, column j) = row i significantly better / worse / not separable
    than column j; hover = the one-sided p-value and the paired mean difference with its CI."""
    rows = sig["rows"]
    names = [html.escape(f"#{r['submission_id']} {r['name']}") for r in rows]  # plotly renders HTML tags
    d = columns.ndigits(metric)
    hover = [[(f"{names[i]}<br>vs {names[j]}<br><b>{OUTCOME[int(sig['sign'][i, j])]}</b><br>"
               f"p(row better), one-sided Wilcoxon = {sig['p'][i, j]:.3g}<br>"
               f"mean difference row − column = {sig['diff'][i, j]:+.{d}f} "
               f"[{sig['low'][i, j]:+.{d}f}, {sig['high'][i, j]:+.{d}f}] (95% bootstrap CI)")
              if i != j else names[i] for j in range(len(rows))] for i in range(len(rows))]
    z = [[None if i == j else int(sig["sign"][i, j]) for j in range(len(rows))] for i in range(len(rows))]
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, zmin=-1, zmax=1, colorscale=OUTCOME_COLOURS, xgap=2, ygap=2,
        text=hover, hoverinfo="text",
        colorbar=dict(tickvals=[-0.667, 0, 0.667], ticktext=["row worse", "not separable", "row better"],
                      title="")))
    fig.update_layout(height=max(360, 60 + 38 * len(rows)), margin=dict(t=40, l=10),
                      title=f"Top {len(rows)} by mean {columns.QUALITY_LABEL[metric]}: row vs column",
                      yaxis=dict(autorange="reversed"), xaxis=dict(tickangle=-35, side="bottom"))
    return fig


def _map_section(task_id: str, version: int, metric: str) -> None:
    st.subheader("Significance map")
    n = st.slider("Models in the map (top N by mean)", 2, 30, DEFAULT_MAP_N, key="cmp_map_n")
    sig = data.significance(task_id, version, metric, n)
    if len(sig["rows"]) < 2 or sig["n_cases"] < 2:
        st.info("The map needs at least two results sharing at least two scored cases with this metric.")
        return
    st.plotly_chart(significance_map(sig, metric), key="cmp_map")
    st.caption(f"Each cell: is the **row** model better than the **column** model on the same {sig['n_cases']} "
               f"{sig['split']} cases? One-sided Wilcoxon signed-rank tests, Holm-corrected over each model's "
               f"comparisons at α = {sig['alpha']:g}, exactly as the paired ranking decides ranks. Hover a cell for "
               "the p-value and the paired mean difference with its 95% bootstrap CI (10,000 resamples, seed 0).")


def _scatter(paired: pd.DataFrame, metric: str, a: dict, b: dict) -> go.Figure:
    lo = float(min(paired["a"].min(), paired["b"].min()))
    hi = float(max(paired["a"].max(), paired["b"].max()))
    fig = go.Figure([
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dot", color="#999"), name="equal",
                   hoverinfo="skip"),
        go.Scatter(x=paired["a"], y=paired["b"], mode="markers", text=paired["case_id"], name="case",
                   marker=dict(color="#0072B2", opacity=0.7),
                   hovertemplate="%{text}<br>A: %{x:.3f}<br>B: %{y:.3f}<extra></extra>"),
    ])
    fig.update_layout(xaxis_title=f"A: {html.escape(ui.submission_label(a))}",  # plotly renders HTML tags
                      yaxis_title=f"B: {html.escape(ui.submission_label(b))}",
                      height=420, showlegend=False,
                      title=f"Per-case {columns.QUALITY_LABEL[metric]} — "
                            f"{'below' if columns.higher_is_better(metric) else 'above'} the line: A is better",
                      margin=dict(t=50))
    return fig


def _histogram(paired: pd.DataFrame, metric: str) -> go.Figure:
    fig = go.Figure(go.Histogram(x=paired["diff"], nbinsx=30, marker_color="#009E73"))
    fig.add_vline(x=0, line_dash="dot", line_color="#999")
    fig.update_layout(xaxis_title=f"A − B ({columns.QUALITY_LABEL[metric]})", yaxis_title="cases", height=420,
                      title="Paired differences", margin=dict(t=50))
    return fig


@ui.shows_errors
def compare_page():
    st.title("Compare submissions")
    st.caption("Every model is scored on the same cases, so each case gives a paired difference A − B. "
               "The one-sided Wilcoxon signed-rank tests ask whether one model is better case by case; the "
               "bootstrap interval shows how precisely the mean difference is known.")
    picked = ui.task_picker(key="cmp_task")
    if picked is None:
        return
    task_id, version, info = picked
    choices = data.submission_choices(task_id, version)
    if len(choices) < 2:
        st.info("Comparing needs at least two scored submissions on this task.")
        return
    metric = ui.task_metric_picker("Metric", task_id, version, key="cmp_metric")
    _map_section(task_id, version, metric)
    st.subheader("One pair, case by case")
    left, right = st.columns(2)
    first = ui.requested_submission()
    with left:
        a = ui.submission_picker("A", choices, key="cmp_a", default_id=first)
    with right:
        others = [c for c in choices if c["id"] != a["id"]]
        b = ui.submission_picker("B", others, key="cmp_b")
    try:
        cmp = data.compare(a["id"], b["id"], metric)
    except NotComparable as e:
        st.info(ui.plain(str(e)))
        return
    pairs = data.paired_cases(a["id"], b["id"])
    paired = pd.DataFrame({"case_id": [p["case_id"] for p in pairs],
                           "a": [p["a"][metric] for p in pairs], "b": [p["b"][metric] for p in pairs]}).dropna()
    paired["diff"] = paired["a"] - paired["b"]
    d = columns.ndigits(metric)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Paired cases", cmp["n_cases"])
    favours_a = "positive" if cmp["higher_is_better"] else "negative"
    c2.metric(f"Mean difference A − B ({favours_a} favours A)", f"{cmp['mean_difference']:+.{d}f}",
              help=f"95% bootstrap CI [{cmp['ci_low']:+.{d}f}, {cmp['ci_high']:+.{d}f}] "
                   f"({cmp['resamples']:,} resamples of the cases, seed {cmp['seed']}).")
    c3.metric("p (A better)", f"{cmp['p_a_better']:.3g}",
              help="One-sided Wilcoxon signed-rank test that A is better than B case by case; small p = evidence.")
    c4.metric("p (B better)", f"{cmp['p_b_better']:.3g}",
              help="One-sided Wilcoxon signed-rank test that B is better than A case by case.")
    st.markdown(f"95% bootstrap CI of the mean difference: **[{cmp['ci_low']:+.{d}f}, {cmp['ci_high']:+.{d}f}]**"
                + (" — few cases: the p-values are coarse" if cmp["n_cases"] < 10 else ""))
    st.markdown(_verdict(cmp, a, b))
    if len(paired):
        g1, g2 = st.columns(2)
        g1.plotly_chart(_scatter(paired, metric, a, b), key="cmp_scatter")
        g2.plotly_chart(_histogram(paired, metric), key="cmp_hist")
        st.dataframe(paired.reindex(paired["diff"].abs().sort_values(ascending=False).index), hide_index=True,
                     column_config={"case_id": "Case", "a": f"A {metric}", "b": f"B {metric}", "diff": "A − B"})


compare_page()
