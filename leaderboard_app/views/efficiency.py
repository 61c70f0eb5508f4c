"""Efficiency: quality against compute, with the Pareto front of the best trade-offs."""
import html

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from sonobench.leaderboard_app import columns, data, stats, ui

KIND_STYLE = {"submission": ("circle", "#0072B2"), "baseline": ("diamond", "#D55E00")}


def _hover(df, metric: str, unit: str) -> list[str]:
    return [
        f"<b>#{r.submission_id} {html.escape(str(r.name))}</b> ({r.kind})<br>team: {html.escape(str(r.team or '—'))}<br>"
        f"{columns.QUALITY_LABEL[metric]}: {getattr(r, metric + '_mean'):.3f} "
        f"[{getattr(r, metric + '_ci_low'):.3f}–{getattr(r, metric + '_ci_high'):.3f}] {unit}<br>"
        f"GFLOPs: {r.gflops:.3g} · params: {columns.fmt_count(r.params)} · latency: {r.latency_ms:.1f} ms"
        for r in df.itertuples()
    ]


def _figure(df, metric: str, unit: str) -> go.Figure:
    size = df["params"].fillna(0).to_numpy(float)
    # marker area proportional to parameters, between 6 and 30 px across
    diam = 6 + 24 * np.sqrt(size / size.max()) if size.max() > 0 else np.full(len(df), 12.0)
    fig = go.Figure()
    for kind, (symbol, color) in KIND_STYLE.items():
        part = df["kind"] == kind
        if not part.any():
            continue
        sub = df[part]
        fig.add_trace(go.Scatter(
            x=sub["gflops"], y=sub[f"{metric}_mean"], mode="markers", name=kind + "s",
            marker=dict(size=diam[part.to_numpy()], symbol=symbol, color=color, opacity=0.6,
                        line=dict(width=1, color="white")),
            error_y=dict(type="data", symmetric=False, thickness=1, width=0, color="rgba(0,0,0,0.25)",
                         array=sub[f"{metric}_ci_high"] - sub[f"{metric}_mean"],
                         arrayminus=sub[f"{metric}_mean"] - sub[f"{metric}_ci_low"]),
            hovertext=_hover(sub, metric, unit), hoverinfo="text"))
    front = df.iloc[stats.pareto_front(df["gflops"], df[f"{metric}_mean"],
                                       higher_quality_is_better=columns.higher_is_better(metric))]
    fig.add_trace(go.Scatter(x=front["gflops"], y=front[f"{metric}_mean"], mode="lines+markers", name="Pareto front",
                             line=dict(shape="hv", dash="dash", color="#333"),
                             marker=dict(size=diam[df.index.get_indexer(front.index)] + 4, symbol="circle-open",
                                         color="#333", line=dict(width=2)),
                             hovertext=_hover(front, metric, unit), hoverinfo="text"))
    fig.update_xaxes(type="log", title="GFLOPs per image (log scale) — further left is cheaper")
    better = "higher" if columns.higher_is_better(metric) else "lower"
    fig.update_yaxes(title=f"{columns.header(metric, unit)}  (mean, 95% CI; {better} is better)")
    fig.update_layout(height=520, legend=dict(orientation="h", y=1.08), margin=dict(t=40))
    return fig


@ui.shows_errors
def efficiency_page():
    st.title("Efficiency")
    st.caption("Each marker is a scored model: quality against compute. Marker size grows with the parameter "
               "count. Models on the dashed Pareto front are not beaten on both axes at once by any other model.")
    left, mid, right = st.columns([2.2, 1.3, 1.5])
    with left:
        picked = ui.task_picker(key="eff_task")
    if picked is None:
        return
    task_id, version, info = picked
    with mid:
        metric = ui.task_metric_picker("Quality metric", task_id, version, key="eff_metric")
    with right:
        kind = ui.kind_picker(key="eff_kind")
    df = data.ranked(task_id, version, metric, kind)
    ui.warn_invalid(data.invalid_rows(task_id, version))
    if df.empty:
        st.info("Nothing scored for this selection yet.")
        return
    # hd95 and assd are distances in the row's unit (px, or mm on a task with a spacing)
    unit = str(df["hd95_unit"].iloc[0] or "") if columns.is_distance(metric) else ""
    missing = df[df["gflops"].isna() | ~(df["gflops"] > 0)]
    plotted = df.drop(missing.index)
    if plotted.empty:
        st.warning("No model here has a GFLOPs count, so there is nothing to plot.")
    else:
        st.plotly_chart(_figure(plotted, metric, unit), key="eff_chart")
        front = plotted.iloc[stats.pareto_front(plotted["gflops"], plotted[f"{metric}_mean"],
                                                higher_quality_is_better=columns.higher_is_better(metric))]
        st.markdown("**On the Pareto front** (cheapest first): " +
                    ", ".join(ui.plain(f"#{r.submission_id} {r.name}") for r in front.itertuples()))
    if not missing.empty:
        st.caption("Not plotted (no GFLOPs count): " + ", ".join(ui.plain(f"#{r.submission_id} {r.name}") for r in missing.itertuples()))


efficiency_page()
