"""Cross-dataset: one model scored on every task of a family (zero-shot generalisation)."""
import pandas as pd
import streamlit as st

from sonobench.leaderboard_app import data, ui


@ui.shows_errors
def crosseval_page():
    st.title("Cross-dataset")
    st.caption("Rows: a model and the task it was trained on. Columns: every task of the family it was scored on. "
               "Cells: the column task's primary metric (mean and 95% bootstrap CI over its test cases); "
               "★ marks the in-domain cell (the model's own training task); — : not scored there yet "
               "(`sonobench crosseval MODEL --family F` scores it).")
    families = data.families()
    if not families:
        st.info("No task on this machine declares a family (task.json 'family').")
        return
    scored = [f for f in families if data.crosseval(f)["rows"]]  # open on a family with something to show
    family = st.selectbox("Task family", families, index=families.index(scored[0]) if scored else 0, key="cx_family")
    matrix = data.crosseval(family)
    if not matrix["rows"]:
        st.info(f"No model with a known training set is scored on the '{family}' tasks yet.")
        return
    cols = [c["task"] for c in matrix["columns"]]

    def cell(c):
        if c is None:
            return "—"
        if c["mean"] is None:
            return "n/a"
        return f"{'★ ' if c['in_domain'] else ''}{c['mean']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}]"

    table = pd.DataFrame([{"trained on": r["trained_on"], "model": r["model"],
                           **{t: cell(r["cells"][t]) for t in cols}} for r in matrix["rows"]])
    st.dataframe(table, hide_index=True, key="cx_table")
    metrics = ", ".join(f"{c['task']}: {c['primary_metric']}" for c in matrix["columns"])
    st.caption(f"Primary metric per column — {metrics}.")


crosseval_page()
