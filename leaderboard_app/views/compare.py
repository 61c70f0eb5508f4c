"""Compare two: paired per-case differences, Wilcoxon signed-rank test, bootstrap CI."""
import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from leaderboard_app import columns, data, stats, ui

ALPHA = 0.05


def _verdict(cmp: stats.PairedComparison, metric: str, a: dict, b: dict) -> str:
    if cmp.n == 0:
        return "These two submissions share no scored cases."
    good_for_a = (cmp.mean_diff > 0) == columns.higher_is_better(metric)
    winner, loser = (a, b) if good_for_a else (b, a)
    ci_excludes_zero = cmp.ci_low > 0 or cmp.ci_high < 0
    significant = cmp.wilcoxon_p is not None and cmp.wilcoxon_p < ALPHA and ci_excludes_zero
    if cmp.mean_diff == 0:
        return "The two submissions score the same on average."
    if significant:
        return (f"**{ui.plain(ui.submission_label(winner))}** is better than {ui.plain(ui.submission_label(loser))} on "
                f"{columns.QUALITY_LABEL[metric]}: the Wilcoxon test gives p < {ALPHA} and the 95% CI of the "
                "mean difference excludes 0.")
    return (f"No significant difference on {columns.QUALITY_LABEL[metric]}: {ui.plain(ui.submission_label(winner))} is ahead "
            f"on average, but the evidence is weak (p ≥ {ALPHA} or the 95% CI includes 0).")


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
    st.title("Compare two submissions")
    st.caption("Both models are scored on the same cases, so each case gives a paired difference A − B. "
               "The Wilcoxon signed-rank test asks whether those differences are centred on zero; the bootstrap "
               "interval shows how precisely the mean difference is known.")
    picked = ui.task_picker(key="cmp_task")
    if picked is None:
        return
    task_id, version, info = picked
    choices = data.submission_choices(task_id, version)
    if len(choices) < 2:
        st.info("Comparing needs at least two scored submissions on this task.")
        return
    left, right, mcol = st.columns([2, 2, 1.4])
    first = ui.requested_submission()
    with left:
        a = ui.submission_picker("A", choices, key="cmp_a", default_id=first)
    with right:
        others = [c for c in choices if c["id"] != a["id"]]
        b = ui.submission_picker("B", others, key="cmp_b")
    with mcol:
        metric = ui.metric_picker("Metric", (info.get("spec") or {}).get("primary_metric", "dice"), key="cmp_metric")
    pairs = data.paired_cases(a["id"], b["id"])
    paired = pd.DataFrame({"case_id": [p["case_id"] for p in pairs],
                           "a": [p["a"][metric] for p in pairs], "b": [p["b"][metric] for p in pairs]})
    paired["diff"] = paired["a"] - paired["b"]
    cmp = stats.paired_comparison(paired["a"], paired["b"])
    digits = 2 if metric == "hd95" else 3
    c1, c2, c3 = st.columns(3)
    c1.metric("Paired cases", cmp.n)
    favours_a = "positive" if columns.higher_is_better(metric) else "negative"
    c2.metric(f"Mean difference A − B ({favours_a} favours A)",
              "n/a" if np.isnan(cmp.mean_diff) else f"{cmp.mean_diff:+.{digits}f}",
              help=f"95% bootstrap CI [{cmp.ci_low:+.{digits}f}, {cmp.ci_high:+.{digits}f}] (10,000 resamples of cases).")
    c3.metric("Wilcoxon signed-rank p", "n/a" if cmp.wilcoxon_p is None else f"{cmp.wilcoxon_p:.3g}",
              help="Two-sided test of zero median difference; small p = a real difference.")
    st.markdown(f"95% bootstrap CI of the mean difference: **[{cmp.ci_low:+.{digits}f}, {cmp.ci_high:+.{digits}f}]**"
                + (f" — {cmp.note}" if cmp.note else ""))
    st.markdown(_verdict(cmp, metric, a, b))
    if cmp.n:
        g1, g2 = st.columns(2)
        g1.plotly_chart(_scatter(paired, metric, a, b), key="cmp_scatter")
        g2.plotly_chart(_histogram(paired, metric), key="cmp_hist")
        st.dataframe(paired.reindex(paired["diff"].abs().sort_values(ascending=False).index), hide_index=True,
                     column_config={"case_id": "Case", "a": f"A {metric}", "b": f"B {metric}", "diff": "A − B"})


compare_page()
