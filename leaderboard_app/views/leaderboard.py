"""Leaderboard: every scored model of a task, ranked by a metric and a ranking scheme, with 95%
CIs, rank stability (bootstrap rank ranges, blob plot) and an overall view across tasks."""
import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sonobench.evaluator import board_filter
from sonobench.evaluator.ranking import Scheme
from sonobench.leaderboard_app import columns, data, sweeps, ui

BASELINE_TINT = "background-color: rgba(0, 114, 178, 0.10)"
FLOOR_TINT = "background-color: rgba(128, 128, 128, 0.15)"  # no-skill floors: grey
# pandas' Styler renders every cell in Python (~0.2 ms each): beyond this many rows the
# tint would cost seconds per rerun, and the Type column alone marks baselines.
MAX_TINTED_ROWS = 500
VISIBLE_ROWS = 20
MAX_LISTED_BASELINES = 5


def _styled(table):
    if len(table) > MAX_TINTED_ROWS:
        return table
    kind = table["Type"].to_numpy()
    tint = np.where(np.char.startswith(kind.astype(str), "BASELINE"), BASELINE_TINT,
                    np.where(kind == "FLOOR", FLOOR_TINT, ""))
    return table.style.apply(lambda col: tint, axis=0)


SCHEME_LABELS = {
    Scheme.PAIRED.value: "Paired tests (default)",
    Scheme.CI_OVERLAP.value: "CI overlap (unpaired)",
    Scheme.MEAN.value: "Mean only",
}


def _lead(ranked, scheme: str) -> str:
    top = [ui.plain(n) for n in ranked.loc[ranked["rank"] == 1, "name"]]
    if len(top) == 1:
        return f"Leader: **{top[0]}**."
    reason = {
        "paired": "no other model is significantly better than any of them on the same cases",
        "ci-overlap": "no other row's whole 95% interval lies above theirs",
        "mean": "their means are equal",
    }[scheme]
    return (f"**{len(top)} models hold rank 1** ({reason}; that does not make them equal to each other): "
            + ", ".join(top[:3]) + (f" and {len(top) - 3} more." if len(top) > 3 else "."))


def _summary(ranked, info: dict, metric: str, title: str, metrics: list[str]) -> None:
    n_base = int((ranked["kind"] == "baseline").sum())
    base = ranked[ranked["kind"] == "baseline"].head(MAX_LISTED_BASELINES)
    where = ("  \nReference baselines: " + ", ".join(
        f"**{ui.plain(r.name)}** (rank {lab})" for r, lab in zip(base.itertuples(), columns.rank_labels(ranked["rank"])[base.index]))
        + ("…" if n_base > len(base) else "") + ".") if n_base and len(ranked) > n_base else ""
    st.markdown(
        f"**{len(ranked)} models** ({n_base} baseline{'s' if n_base != 1 else ''}) on *{title}*, scored on "
        f"**{int(ranked['n_cases'].max())} held-out {ranked['split'].iloc[0]} cases**, ranked by "
        f"**{columns.header(metric)}** ({columns.direction_words(metric)}). {_lead(ranked, info['scheme'])}{where}"
    )
    st.caption(_legend(metrics))


def _legend(metrics: list[str]) -> str:
    """The caption under the summary, naming only the metrics this board shows."""
    per_case = [columns.QUALITY_LABEL[m] for m in metrics if m not in columns.DETECTION]
    rates = [columns.QUALITY_LABEL[m].lower() for m in metrics if m in columns.DETECTION]
    parts = ["**↑** higher is better · **↓** lower is better",
             f"{', '.join(per_case)}: mean over cases [95% bootstrap confidence interval]"]
    if rates:
        parts.append(f"{', '.join(rates)}: image-level rate [Wilson 95% interval] (n images)")
    parts += ["**missing**: scored before that metric existed",
              "**Rank range**: 95% interval of the rank over bootstrap resamples of the cases",
              "**BASELINE** (blue rows): reference model trained by SonoBench (**≤ FLOOR**: not significantly "
              "better than the best floor)",
              "**FLOOR** (grey rows): no-skill model that ignores the image, built from the train split"]
    if "hd95" in metrics:
        parts.append("HD95 is medpy's pooled 95th percentile, not MONAI's")
    parts.append("the columns are the metrics this task declares · hover a column header for its definition")
    return " · ".join(parts)


def _definition(info: dict) -> None:
    words = f"**Ranking ({info['scheme']}):** {info['definition']}."
    if info.get("kendall_tau") is not None and info["kendall_tau"] == info["kendall_tau"]:
        lo, hi = info["kendall_tau_ci"]
        words += (f"  \n**Rank stability:** Kendall's τ between the full ranking and {info['resamples']:,} "
                  f"bootstrap rerankings of the {info['n_cases']} cases = **{info['kendall_tau']:.3f}** "
                  f"(95% of resamples in [{lo:.3f}, {hi:.3f}]; 1 = every resample ranks the tested models alike).")
    st.markdown(words)


def blob_plot(ranked, info: dict) -> go.Figure | None:
    """challengeR's blob plot: per tested model (x, in rank order) the share of bootstrap resamples
    giving each rank (y); marker area ∝ share; the median rank and the 95% rank interval marked."""
    boot = info.get("bootstrap_ranks")
    if boot is None or not len(info.get("tested") or []):
        return None
    by_id = ranked.set_index("submission_id")
    ids = list(info["tested"])
    order = sorted(range(len(ids)), key=lambda k: (by_id.loc[ids[k], "rank"], k))  # rank order, then mean
    names = [f"#{ids[k]} {by_id.loc[ids[k], 'name']}" for k in order]
    names = [html.escape(n) for n in names]  # plotly renders HTML tags in labels
    xs, ys, sizes, text = [], [], [], []
    n = boot.shape[0]
    for pos, k in enumerate(order):
        values, counts = np.unique(boot[:, k], return_counts=True)
        for v, c in zip(values, counts):
            xs.append(names[pos])
            ys.append(int(v))
            sizes.append(c / n)
            text.append(f"{names[pos]}<br>rank {int(v)} in {c / n:.1%} of {n:,} resamples")
    med = [float(by_id.loc[ids[k], "rank_median"]) for k in order]
    low = [float(by_id.loc[ids[k], "rank_low"]) for k in order]
    high = [float(by_id.loc[ids[k], "rank_high"]) for k in order]
    full = [int(by_id.loc[ids[k], "rank"]) for k in order]
    fig = go.Figure([
        go.Scatter(x=xs, y=ys, mode="markers", name="share of resamples", text=text, hoverinfo="text",
                   marker=dict(size=sizes, sizemode="area", sizeref=1.0 / 500, sizemin=2, color="#0072B2",
                               opacity=0.55, line=dict(width=0))),
        go.Scatter(x=names, y=med, mode="markers", name="median rank, 95% interval",
                   error_y=dict(type="data", symmetric=False, array=np.subtract(high, med),
                                arrayminus=np.subtract(med, low), color="#222", thickness=1.5, width=6),
                   marker=dict(symbol="line-ew-open", size=16, color="#222", line=dict(width=2)),
                   customdata=np.c_[low, high], hovertemplate="median %{y}<br>95%: %{customdata[0]:.0f}–"
                                                             "%{customdata[1]:.0f}<extra></extra>"),
        go.Scatter(x=names, y=full, mode="markers", name="rank on all cases",
                   marker=dict(symbol="x", size=8, color="#D55E00"), hovertemplate="rank %{y}<extra></extra>"),
    ])
    top = int(max(max(ys), max(full)))
    fig.update_layout(height=max(380, 160 + 30 * top), margin=dict(t=70, b=10), legend=dict(orientation="h", y=1.08),
                      title=f"Rank stability: {n:,} bootstrap resamples of the cases "
                            f"(Kendall's τ = {info['kendall_tau']:.3f})",
                      yaxis=dict(title="rank", range=[top + 0.6, 0.4], dtick=1 if top <= 25 else None, zeroline=False),
                      xaxis=dict(title="model (in rank order)", tickangle=-30))
    return fig


MISSING_TASK = "—"


def overall_table(rows: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The Overall table: consensus rank, mean rank, per main task the model's rank ('—' where it
    has no result there); rows in consensus order."""
    tasks = sorted({t for r in rows for t in r["ranks"]} | {t for r in rows for t in r["missing"]})
    table = pd.DataFrame([{
        "Rank": r["consensus_rank"], "Model": r["name"], "Team": r.get("team") or "",
        "Relative rank": r["mean_relative_rank"], "Mean rank": r["mean_rank"], "Tasks": r["n_tasks"],
        **{t: str(r["ranks"][t]) if t in r["ranks"] else MISSING_TASK for t in tasks},
    } for r in rows])
    return table, tasks


def _overall() -> None:
    st.subheader("Overall: consensus rank across tasks")
    rows, problem = data.consensus()
    if problem:
        st.info(problem)
        return
    table, tasks = overall_table(rows)
    st.caption(f"challengeR's consensus over the {len(tasks)} main tasks (acquisition-shift sets re-image a task's "
               "own test phantoms and are not tasks): each model's rank on each task (paired scheme, the task's "
               "primary metric) divided by the number of models ranked there (1.00 = last), averaged over the tasks "
               "it is scored on; **Rank** = 1 + the number of models with a lower mean relative rank. "
               f"**{MISSING_TASK}**: no result on that task, so its mean covers fewer tasks "
               "(see **Tasks**).")
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "Rank": st.column_config.NumberColumn("Rank", format="%d", width=55,
                                              help="Consensus rank: 1 + the number of models with a lower mean "
                                                   "relative rank."),
        "Relative rank": st.column_config.NumberColumn(
            "Relative rank ↓", format="%.2f",
            help="Mean over its tasks of rank / models ranked on that task (1.00 = last on every board)."),
        "Mean rank": st.column_config.NumberColumn("Mean rank", format="%.2f",
                                                   help="Plain mean of the per-task ranks, for reference."),
        "Tasks": st.column_config.NumberColumn("Tasks", format="%d", help="Main tasks this model is scored on."),
        **{t: st.column_config.Column(t, help=f"Rank on {t}; {MISSING_TASK} = not scored there") for t in tasks}})


@ui.shows_errors
def leaderboard_page():
    st.title("SonoBench leaderboard")
    st.caption("Ultrasound segmentation models scored by a sandboxed evaluator on frozen, held-out splits.")
    if data.db_path().is_file() and len(data.main_tasks()) > 1 and st.segmented_control(
            "View", ["task", "overall"], format_func={"task": "One task", "overall": "Overall"}.get, default="task",
            required=True, key="lb_view", help="Overall: models scored on several tasks, by their mean rank.") == "overall":
        _overall()
        return
    left, mid, scol, right = st.columns([2.2, 1.3, 1.4, 1.5])
    with left:
        picked = ui.task_picker(key="lb_task")
    if picked is None:
        return
    task_id, version, info = picked
    with mid:  # each task switch starts at that task's primary metric
        metric = ui.task_metric_picker("Rank by", task_id, version, key="lb_metric")
    with scol:
        scheme = st.selectbox("Ranking", list(SCHEME_LABELS), format_func=SCHEME_LABELS.get, key="lb_scheme",
                              help="How ranks are computed; the exact definition is printed under the table.")
    with right:
        kind = ui.kind_picker(key="lb_kind")
    split = _split_picker(task_id, version)
    trained = _training_picker()
    page = st.session_state.get("lb_page", 1)
    ranked, board, table, helps, metrics = data.leaderboard_table(task_id, version, metric, kind, scheme, split,
                                                                  page=page, trained_on=",".join(trained))
    if table.empty and page > 1:  # the board shrank under the chosen page (a filter, a withdrawal)
        page = st.session_state["lb_page"] = 1
        ranked, board, table, helps, metrics = data.leaderboard_table(task_id, version, metric, kind, scheme, split,
                                                                      trained_on=",".join(trained))
    ui.warn_invalid(data.invalid_rows(task_id, version))
    if trained and (ranked.empty or (ranked["kind"] == "floor").all()):
        st.info(f"No model trained on {board_filter.describe(tuple(trained))} is scored on the {split} split of "
                f"{task_id}@{version}. Clear the training-data filter to see every model.")
        return
    if ranked.empty:
        st.info(f"No {ui.KIND_FILTERS[kind].split()[0].lower()} scored on the {split} split of {task_id}@{version} yet.")
        return
    _summary(ranked, board, metric, info.get("title") or f"{task_id}@{version}", metrics)
    config = {name: st.column_config.Column(name, help=text) for name, text in helps.items()}
    config.update({
        "Rank": st.column_config.Column("Rank", help=helps["Rank"], width=55),
        "Rank range": st.column_config.Column("Rank range", help=helps["Rank range"], width=80),
        "P(rank 1)": st.column_config.Column("P(rank 1)", help=helps["P(rank 1)"], width=75),
        "Type": st.column_config.Column("Type", help=helps["Type"], width=140),
        "Date": st.column_config.Column("Date", help=helps["Date"], width=95),
        columns.header("gflops"): st.column_config.NumberColumn(columns.header("gflops"), help=helps[columns.header("gflops")], format="%.3g"),
        columns.header("params"): st.column_config.NumberColumn(columns.header("params"), help=helps[columns.header("params")], format="compact"),
        columns.header("latency_ms"): st.column_config.NumberColumn(columns.header("latency_ms"), help=helps[columns.header("latency_ms")], format="%.1f"),
        "ID": st.column_config.NumberColumn("ID", help=helps["ID"], format="%d", width=50),
    })
    height = 38 + 35 * min(len(table), VISIBLE_ROWS)  # header + rows; longer tables scroll
    event = st.dataframe(_styled(table), column_config=config, hide_index=True, width="stretch", height=height,
                         on_select="rerun", selection_mode="single-row", key="lb_table")
    offset = (page - 1) * data.PAGE_ROWS
    _pager(len(ranked), offset, len(table))
    _definition(board)
    _actions(ranked, event, offset, task_id, version, metric, metrics)
    sweeps.column_group(task_id, version, kind)  # a bone task's 3D scores on its tracked sweeps (if it has any)
    fig = blob_plot(ranked, board)
    if fig is not None:
        st.plotly_chart(fig, key="lb_blob")
        st.caption("Blob plot (challengeR): for each tested model, the share of bootstrap resamples of the cases "
                   "that give it each rank (marker area ∝ share); the black bar is the median rank and its 95% "
                   "interval, the orange × the rank on all cases. Narrow columns: a stable rank.")


SPLIT_LABELS = {"test": "Test (held-out)", "val": "Validation (public labels)"}
TRAINING_LABELS = {"train-only": "Train split only", "pretraining": "+ pretraining set", "external": "+ external data",
                   "not-stated": "Not stated"}


def _training_picker() -> list[str]:
    """The training-data filter: none picked shows every model; floors stay on every board."""
    narrow, _ = st.columns([2, 3])
    return narrow.multiselect(
        "Training data", list(board_filter.CHOICES), default=[], format_func=TRAINING_LABELS.get, key="lb_training",
        placeholder="any", help="Only models trained on this data, as their submitters declared it (train split "
        "only, plus a named pretraining set, plus external data). The floors stay on every board; ranks are "
        "computed among the models shown.")


def _split_picker(task_id: str, version: int) -> str:
    """Test by default; a choice only where results were scored on another split too (boards never
    mix splits: a validation result is ranked only against validation results)."""
    splits = data.splits(task_id, version) or ["test"]
    split = splits[0] if len(splits) < 2 else st.segmented_control(
        "Split", splits, format_func=lambda s: SPLIT_LABELS.get(s, s), default=splits[0], required=True,
        key="lb_split", help="Each split is its own board; the test board is the leaderboard.")
    if split != "test":
        st.warning(f"**{SPLIT_LABELS.get(split, split)} board**: results scored with `--split {split}`, ranked "
                   "only against each other; they are never on the test leaderboard.")
    return split


def _pager(n_rows: int, offset: int, shown: int) -> None:
    """Boards longer than a page (data.PAGE_ROWS rows) page: a page picker and where this page lies."""
    n_pages = data.pages(n_rows)
    if n_pages < 2:
        return
    left, right = st.columns([1, 4])
    left.number_input("Page", min_value=1, max_value=n_pages, step=1, key="lb_page",
                      help=f"{data.PAGE_ROWS} rows a page, best first.")
    right.caption(f"Rows {offset + 1:,}–{offset + shown:,} of {n_rows:,} (page {offset // data.PAGE_ROWS + 1} "
                  f"of {n_pages}); the CSV holds every row.")


CSV_WITH_PAGE = 2000  # rows up to which the CSV is built with the page (larger boards build it on click)


def _actions(ranked, event, offset, task_id, version, metric, metrics) -> None:
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    cols = st.columns([1.2, 1.2, 4])
    if rows:
        sid = int(ranked["submission_id"].iloc[offset + rows[0]])
        st.session_state[ui.SUBMISSION_KEY] = sid
        if cols[0].button(f"Open #{sid} in detail", type="primary"):
            st.switch_page("views/submission.py")
        if cols[1].button(f"Compare #{sid} with…"):
            st.switch_page("views/compare.py")
    else:
        cols[0].caption("Select a row to open it in detail or compare it.")
    # A board of up to CSV_WITH_PAGE rows sends its CSV with the page (a deferred callable waits for
    # the server's script run, which a busy machine can hold up past a browser's download wait);
    # a larger one builds it when clicked, so its page view does not wait for 10,000 CSV lines.
    # Either way a click downloads without rerunning the page.
    def csv() -> str:
        return columns.csv_table(ranked, metrics).to_csv(index=False)

    cols[2].download_button("Download CSV", csv() if len(ranked) <= CSV_WITH_PAGE else csv,
                            file_name=f"sonobench-{task_id}-v{version}-by-{metric}.csv", mime="text/csv",
                            on_click="ignore", help="Every row; numbers unformatted, CI ends in their own columns.")


leaderboard_page()
