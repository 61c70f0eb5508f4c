"""The app's sweep loaders and the sweep column group: a bone task's 3D reconstruction scores on its
tracked sweeps (evaluator.sweeps.board), read through the read-only store, cached per store state."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from . import data, ui


@st.cache_data(show_spinner=False, max_entries=32)
def _board(path: str, fp: data.Fingerprint, task_ref: str, kind: str) -> dict:
    from sonobench.evaluator.sweeps import board
    from sonobench.evaluator.tasks import get_task

    task = get_task(task_ref)
    with data._reader(path) as store:
        child, rows, tau = board.sweep_board(store, task, kind)
    if child is None:
        return {"sweep_set": None, "rows": [], "tau": None, "sweeps": []}
    return {"sweep_set": child.ref, "metric": task.primary_metric, "tolerance": child.sweeps.get("tolerance_mm"),
            "sweeps": [f.rsplit("/", 1)[-1] for f in child.sweeps["folders"]], "tau": tau,
            "rows": [r.to_json() for r in rows], "table": board.table(rows, task.primary_metric)}


def board(task_id: str, version: int, kind: str = "all") -> dict:
    """The sweeps board of a task (`sweep_set` None when the task has no sweep set)."""
    return _board(*data._key(), f"{task_id}@{version}", kind)


@st.cache_data(show_spinner=False, max_entries=16)
def _reconstruction(path: str, fp: data.Fingerprint, sweep_ref: str, submission_id: int, sweep_id: str) -> dict:
    from sonobench.evaluator.sweeps import board as sweep_board
    from sonobench.evaluator.tasks import get_task

    with data._reader(path) as store:
        return sweep_board.reconstruction(store, get_task(sweep_ref), submission_id, sweep_id)


def reconstruction(sweep_ref: str, submission_id: int, sweep_id: str) -> dict:
    return _reconstruction(*data._key(), sweep_ref, int(submission_id), sweep_id)


def column_group(task_id: str, version: int, kind: str) -> None:
    """The sweep column group under a bone task's board: nothing for a task without a sweep set."""
    body = board(task_id, version, kind)
    if body["sweep_set"] is None or not body["rows"]:
        return
    with st.expander(f"Sweeps (3D): reconstruction on {body['sweep_set']} ({len(body['sweeps'])} tracked sweeps, "
                     f"τ = {body['tolerance']} mm)", expanded=False):
        st.dataframe(pd.DataFrame(body["table"]), hide_index=True, key="lb_sweeps")
        tau = "n/a" if body["tau"] is None else f"{body['tau']:.2f}"
        st.caption(ui.plain(f"Frame ranking vs 3D ranking: Kendall τ = {tau}. The Sweeps (3D) page draws a "
                            "model's reconstruction over the bone's mesh."))
