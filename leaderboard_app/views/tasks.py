"""Tasks: what each benchmark task asks for, its frozen split, and sample training images."""
import pandas as pd
import streamlit as st

from sonobench.leaderboard_app import columns, data, overlays, ui

N_SAMPLES = 8


def _facts(t: dict) -> None:
    s = t["splits"]
    size = lambda v: "varies" if not v else f"{v[0]} × {v[1]} px"  # noqa: E731
    spacing = t.get("spacing_mm")
    st.markdown(
        f"**Modality:** {t.get('modality', '')}  \n"
        f"**Native image size:** {size(t.get('native_size'))} · **Model input:** {size(t.get('input_size'))}, "
        f"{t.get('input_channels', 1)} channel(s), values in [0, 1]  \n"
        f"**Pixel spacing:** {f'{spacing[0]:g} × {spacing[1]:g} mm (HD95 in mm)' if spacing else 'unknown (HD95 in pixels)'}  \n"
        f"**Primary metric:** {columns.QUALITY_LABEL[t['primary_metric']]} · **Leaderboard metrics:** "
        f"{', '.join(columns.QUALITY_LABEL[m] for m in t.get('metrics') or [t['primary_metric']])}  \n"
        f"**Test labels:** {'private (held by the operator)' if t.get('test_labels_private') else 'in the task folder'}"
    )
    split_table = pd.DataFrame([{"Split": k, "Cases": s.get(k, 0)} for k in ("train", "val", "test")])
    classes = pd.DataFrame([{"Index": i, "Class": c, "Overlay colour": "—" if i == 0 else
                             "#%02x%02x%02x" % overlays.class_color(i)} for i, c in enumerate(t["classes"])])
    left, right = st.columns(2)
    left.dataframe(split_table, hide_index=True)
    right.dataframe(classes, hide_index=True)
    st.markdown("**Manifest digest** (SHA-256 over every case's files; each result records the digest it was "
                "scored on):")
    st.code(t["digest"], language=None)


def power_statement(p: dict | None, primary: str) -> str:
    """What the paired ranking can tell apart on this task, from resampling its reference results."""
    if p is None:
        return ("**Power:** not estimated — it needs at least two reference results scored on this task version "
                "(`sonobench baselines`).")
    label = columns.QUALITY_LABEL[p["metric"]]
    d = columns.ndigits(p["metric"])
    if p.get("delta") is None:
        found = (f"even a shift as large as the largest per-case difference is not detected {p['power']:.0%} of "
                 "the time")
    else:
        found = (f"the smallest difference in mean {label} that the one-sided paired Wilcoxon test detects "
                 f"**{p['power']:.0%} of the time** at α = {p['alpha']:g} is **{p['delta']:.{d}f}**")
        if p.get("delta_holm") is not None:
            found += (f" ({p['delta_holm']:.{d}f} at the strictest Holm level α/(m − 1) a model's comparisons can "
                      "face)")
    return (f"**Power at this task's size ({p['n_cases']} test cases):** {found}. Observed per-case spread: "
            f"standard deviation of one model's per-case {label} **{p['per_case_sd']:.{d}f}**, of the paired "
            f"difference between two models **{p['paired_sd']:.{d}f}** (medians over the {p['n_references']} "
            f"references). Method: {p['method']}.")


def _samples(ref: str, show_labels: bool) -> None:
    task = data.task(ref)
    train = task.split("train")
    if not train:
        st.caption("This task has no training cases.")
        return
    step = max(1, len(train) // N_SAMPLES)
    picked = train[::step][:N_SAMPLES]
    cols = st.columns(4)
    for i, case in enumerate(picked):
        image, label = data.case_arrays(ref, case.id, show_labels)
        cols[i % 4].image(overlays.overlay(image, label), caption=f"{case.id} (train)", width="stretch")


@ui.shows_errors
def tasks_page():
    st.title("Tasks")
    summaries, problems = data.task_summaries()
    for p in problems:
        st.error(f"Skipped an unreadable task: {p}")
    if not summaries:
        st.info("No tasks on this machine. Generate the default benchmark with `sonobench simulate`, or import "
                "a dataset with `sonobench datasets import`.")
        return
    refs = [f"{t['id']}@{t['version']}" for t in summaries]
    chosen = st.session_state.get(ui.TASK_KEY)
    ref = st.selectbox("Task", refs, index=refs.index(chosen) if chosen in refs else 0, key="tasks_task",
                       format_func=lambda r: f"{r} — {summaries[refs.index(r)]['title']}")
    t = summaries[refs.index(ref)]
    st.header(t["title"])
    st.write(t.get("description") or "")
    _facts(t)
    st.markdown(power_statement(data.power(t["id"], int(t["version"])), t["primary_metric"]))
    st.subheader("Sample training images")
    show = st.toggle("Show ground-truth labels", value=True, key="tasks_labels")
    _samples(ref, show)


tasks_page()
