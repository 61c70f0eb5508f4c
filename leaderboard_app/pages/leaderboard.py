"""Leaderboard: every scored model of a task, ranked by a metric, with 95% CIs."""
import numpy as np
import streamlit as st

from leaderboard_app import columns, data, ui

# Row tint for baselines; computed per column at once so 10,000 rows stay fast.
BASELINE_TINT = "background-color: rgba(0, 114, 178, 0.10)"


def _styled(table):
    tint = np.where(table["Type"].to_numpy() == "BASELINE", BASELINE_TINT, "")
    return table.style.apply(lambda col: tint, axis=0)


def _legend(metric: str, n_cases, split: str) -> None:
    st.markdown(
        f"Ranked by **{columns.header(metric)}** ({columns.direction_words(metric)}). "
        f"**↑** = higher is better, **↓** = lower is better. "
        f"Quality numbers are the **mean [95% bootstrap confidence interval]** over {n_cases} held-out "
        f"*{split}* cases. A rank written **=2** is shared: those models' intervals overlap, so the data "
        "cannot tell them apart. Rows marked **BASELINE** (tinted) are reference models trained by SonoBench; "
        "hover a column header for its definition."
    )


@ui.shows_errors
def leaderboard_page():
    st.title("SonoBench leaderboard")
    st.caption("Ultrasound segmentation models scored by a sandboxed evaluator on frozen, held-out splits.")
    left, mid, right = st.columns([2, 1.3, 1.7])
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
    ranked = data.ranked(task_id, version, metric, kind)
    if ranked.empty:
        st.info(f"No {ui.KIND_FILTERS[kind].split()[0].lower()} scored on {task_id}@{version} yet.")
        return
    split = ranked["split"].iloc[0]
    n_cases = int(ranked["n_cases"].max())
    _legend(metric, n_cases, split)
    table, helps = columns.display_table(ranked)
    config = {name: st.column_config.Column(name, help=text) for name, text in helps.items()}
    config.update({
        columns.header("gflops"): st.column_config.NumberColumn(columns.header("gflops"), help=helps[columns.header("gflops")], format="%.2f"),
        columns.header("params"): st.column_config.NumberColumn(columns.header("params"), help=helps[columns.header("params")], format="%.2f"),
        columns.header("latency_ms"): st.column_config.NumberColumn(columns.header("latency_ms"), help=helps[columns.header("latency_ms")], format="%.1f"),
        "ID": st.column_config.NumberColumn("ID", help=helps["ID"], format="%d"),
    })
    event = st.dataframe(_styled(table), column_config=config, hide_index=True, width="stretch",
                         on_select="rerun", selection_mode="single-row", key="lb_table")
    _actions(ranked, event, task_id, version, metric)


def _actions(ranked, event, task_id, version, metric) -> None:
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    cols = st.columns([1.2, 1.2, 4])
    if rows:
        sid = int(ranked["submission_id"].iloc[rows[0]])
        st.session_state[ui.SUBMISSION_KEY] = sid
        if cols[0].button(f"Open #{sid} in detail", type="primary"):
            st.switch_page("pages/submission.py")
        if cols[1].button(f"Compare #{sid} with…"):
            st.switch_page("pages/compare.py")
    else:
        cols[0].caption("Select a row to open it in detail or compare it.")
    csv = columns.csv_table(ranked).to_csv(index=False).encode()
    cols[2].download_button("Download CSV", csv, file_name=f"sonobench-{task_id}-v{version}-by-{metric}.csv",
                            mime="text/csv", help="Numbers unformatted, CI ends in their own columns.")


leaderboard_page()
