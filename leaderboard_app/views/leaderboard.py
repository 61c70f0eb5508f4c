"""Leaderboard: every scored model of a task, ranked by a metric, with 95% CIs."""
import numpy as np
import streamlit as st

from leaderboard_app import columns, data, ui

BASELINE_TINT = "background-color: rgba(0, 114, 178, 0.10)"
# pandas' Styler renders every cell in Python (~0.2 ms each): beyond this many rows the
# tint would cost seconds per rerun, and the Type column alone marks baselines.
MAX_TINTED_ROWS = 500
VISIBLE_ROWS = 20
MAX_LISTED_BASELINES = 5


def _styled(table):
    if len(table) > MAX_TINTED_ROWS:
        return table
    tint = np.where(table["Type"].to_numpy() == "BASELINE", BASELINE_TINT, "")
    return table.style.apply(lambda col: tint, axis=0)


def _summary(ranked, metric: str, title: str) -> None:
    n_base = int((ranked["kind"] == "baseline").sum())
    top = [ui.plain(n) for n in ranked.loc[ranked["rank"] == 1, "name"]]
    lead = (f"Leader: **{top[0]}**." if len(top) == 1 else
            f"**{len(top)} models share rank 1** (their intervals overlap): "
            + ", ".join(top[:3]) + (f" and {len(top) - 3} more." if len(top) > 3 else "."))
    base = ranked[ranked["kind"] == "baseline"].head(MAX_LISTED_BASELINES)
    where = ("  \nReference baselines: " + ", ".join(
        f"**{ui.plain(r.name)}** (rank {lab})" for r, lab in zip(base.itertuples(), columns.rank_labels(ranked["rank"])[base.index]))
        + ("…" if n_base > len(base) else "") + ".") if n_base and len(ranked) > n_base else ""
    st.markdown(
        f"**{len(ranked)} models** ({n_base} baseline{'s' if n_base != 1 else ''}) on *{title}*, scored on "
        f"**{int(ranked['n_cases'].max())} held-out {ranked['split'].iloc[0]} cases**, ranked by "
        f"**{columns.header(metric)}** ({columns.direction_words(metric)}). {lead}{where}"
    )
    st.caption(
        "**↑** higher is better · **↓** lower is better · Dice, IoU, HD95: mean over cases "
        "[95% bootstrap confidence interval] · **=2**: shared rank, the intervals overlap so the data cannot "
        "separate those models · **BASELINE** (blue rows): reference model trained by SonoBench · hover a "
        "column header for its definition"
    )


@ui.shows_errors
def leaderboard_page():
    st.title("SonoBench leaderboard")
    st.caption("Ultrasound segmentation models scored by a sandboxed evaluator on frozen, held-out splits.")
    left, mid, right = st.columns([2.2, 1.3, 1.5])
    with left:
        picked = ui.task_picker(key="lb_task")
    if picked is None:
        return
    task_id, version, info = picked
    primary = (info.get("spec") or {}).get("primary_metric", "dice")
    with mid:
        metric = ui.metric_picker("Rank by", primary, key="lb_metric")
    with right:
        kind = ui.kind_picker(key="lb_kind")
    ranked, table, helps = data.leaderboard_table(task_id, version, metric, kind)
    ui.warn_invalid(data.invalid_rows(task_id, version))
    if ranked.empty:
        st.info(f"No {ui.KIND_FILTERS[kind].split()[0].lower()} scored on {task_id}@{version} yet.")
        return
    _summary(ranked, metric, info.get("title") or f"{task_id}@{version}")
    config = {name: st.column_config.Column(name, help=text) for name, text in helps.items()}
    config.update({
        "Rank": st.column_config.Column("Rank", help=helps["Rank"], width=55),
        "Type": st.column_config.Column("Type", help=helps["Type"], width=95),
        "Date": st.column_config.Column("Date", help=helps["Date"], width=95),
        columns.header("gflops"): st.column_config.NumberColumn(columns.header("gflops"), help=helps[columns.header("gflops")], format="%.3g"),
        columns.header("params"): st.column_config.NumberColumn(columns.header("params"), help=helps[columns.header("params")], format="compact"),
        columns.header("latency_ms"): st.column_config.NumberColumn(columns.header("latency_ms"), help=helps[columns.header("latency_ms")], format="%.1f"),
        "ID": st.column_config.NumberColumn("ID", help=helps["ID"], format="%d", width=50),
    })
    height = 38 + 35 * min(len(table), VISIBLE_ROWS)  # header + rows; longer tables scroll
    event = st.dataframe(_styled(table), column_config=config, hide_index=True, width="stretch", height=height,
                         on_select="rerun", selection_mode="single-row", key="lb_table")
    _actions(ranked, event, task_id, version, metric)


def _actions(ranked, event, task_id, version, metric) -> None:
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    cols = st.columns([1.2, 1.2, 4])
    if rows:
        sid = int(ranked["submission_id"].iloc[rows[0]])
        st.session_state[ui.SUBMISSION_KEY] = sid
        if cols[0].button(f"Open #{sid} in detail", type="primary"):
            st.switch_page("views/submission.py")
        if cols[1].button(f"Compare #{sid} with…"):
            st.switch_page("views/compare.py")
    else:
        cols[0].caption("Select a row to open it in detail or compare it.")
    cols[2].download_button("Download CSV", lambda: columns.csv_table(ranked).to_csv(index=False), file_name=f"sonobench-{task_id}-v{version}-by-{metric}.csv",
                            mime="text/csv", help="Numbers unformatted, CI ends in their own columns.")


leaderboard_page()
