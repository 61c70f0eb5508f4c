"""Two sections of the Submission page: the submitter's method metadata (plain text and safe
links only) and the result's metrics broken down by case strata (evaluator/strata.py)."""
from __future__ import annotations

from urllib.parse import quote

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sonobench.evaluator.method import link_or_none, training_data_text
from sonobench.evaluator.strata import StrataUnavailable

from . import columns, data, ui

# characters a Markdown link target could be broken out of with: percent-encoded in every link
_URL_SAFE = "/:?#@!$&*+,;=%-._~"


def safe_link(url) -> str | None:
    """Markdown for a link to `url` (validated http/https, percent-encoded so no character can end
    the link or start markup), its text the escaped address itself; None when it is not a link."""
    url = link_or_none(url)
    if url is None:
        return None
    return f"[{ui.plain(url)}]({quote(url, safe=_URL_SAFE)})"


def show_method(sub: dict) -> None:
    """Training data, paper, code and description. Everything the submitter wrote is shown by
    st.text (no Markdown at all: even a bare address stays unlinked); only a validated http(s)
    link becomes one, through `safe_link`."""
    lines, links = [f"Training data: {training_data_text(sub)}"], []
    for key, title in (("paper_url", "Paper"), ("code_url", "Code")):
        value = sub.get(key)
        link = safe_link(value) if value else None
        if link:
            links.append(f"**{title}:** {link}")
        elif value:
            lines.append(f"{title}: {' '.join(str(value).split())}")  # a repository path, or a damaged row
    st.text("\n".join(lines))
    if links:
        st.markdown("  \n".join(links))
    if sub.get("description"):
        st.text(str(sub["description"]))


def _cell(agg: dict | None, m: str) -> str:
    if not agg:
        return columns.MISSING
    if m in columns.DETECTION:
        return columns.rate_ci(agg.get("value"), agg.get("ci_low"), agg.get("ci_high"), agg.get("n"))
    if agg.get("mean") is None:
        return "n/a"
    d = columns.ndigits(m)
    return f"{agg['mean']:.{d}f} [{agg['ci_low']:.{d}f}–{agg['ci_high']:.{d}f}] (n={agg['n']})"


def strata_table(body: dict, unit: str) -> pd.DataFrame:
    rows = []
    for s in body["strata"]:
        for g in s["groups"]:
            rows.append({"Stratum": s["title"], "Group": g["group"], "Cases": g["n_cases"],
                         **{columns.metric_header(m, unit): _cell(g["metrics"].get(m), m) for m in body["metrics"]}})
    return pd.DataFrame(rows)


def strata_figure(body: dict, metric: str, unit: str, overall: float | None = None) -> go.Figure:
    """The metric's mean and 95% CI per group, every stratum stacked: where the model fails; a
    dashed line at the mean over every case (`overall`)."""
    ys, xs, lo, hi = [], [], [], []
    for s in body["strata"]:
        for g in s["groups"]:
            agg = g["metrics"].get(metric) or {}
            value = agg.get("mean", agg.get("value"))
            if value is None:
                continue
            ys.append(f"{s['title']}: {g['group']} (n={g['n_cases']})")
            xs.append(value)
            lo.append(value - agg["ci_low"])
            hi.append(agg["ci_high"] - value)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(color="#0072B2", size=9),
                               error_x=dict(type="data", array=hi, arrayminus=lo, color="#0072B2"),
                               hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    if overall is not None:
        fig.add_vline(x=overall, line_dash="dash", line_color="#666666", annotation_text="all cases",
                      annotation_position="top")
    fig.update_layout(height=max(240, 28 * len(ys) + 80), margin=dict(t=30, l=10),
                      xaxis_title=columns.metric_header(metric, unit), yaxis=dict(autorange="reversed"))
    return fig


def show_strata(submission_id: int, metric: str, unit: str, overall: float | None = None) -> None:
    st.subheader("Where it fails: metrics by case strata")
    try:
        body = data.strata(submission_id)
    except StrataUnavailable as e:
        st.caption(ui.plain(f"No strata: {e}"))
        return
    if not body["strata"]:
        st.caption("This task declares no strata and its cases carry no metadata to split them by.")
        return
    st.caption(ui.plain(f"Each group's cases from the task's case metadata and labels ({body['n_cases']} "
                        f"{body['split']} cases); {body['definition']}.") +
               " Also `sonobench strata ID --format json`.")
    for skip in body.get("skipped") or []:
        st.caption(ui.plain(f"Not shown: {', '.join(skip['strata'])} ({skip['why']})"))
    st.plotly_chart(strata_figure(body, metric, unit, overall), key="sub_strata")
    st.dataframe(strata_table(body, unit), hide_index=True)
