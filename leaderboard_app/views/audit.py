"""Audit log: every operator action (withdraw, restore, verify, disqualify, team tokens) with who, when and why."""
import pandas as pd
import streamlit as st

from sonobench.leaderboard_app import data, ui


@ui.shows_errors
def audit_page():
    st.title("Audit log")
    st.caption("Every operator action on results and teams, newest first, as recorded by the `sonobench admin` and "
               "`sonobench teams` commands. The log is append-only: the store refuses edits and deletions.")
    rows = data.audit_log()
    if not rows:
        st.info("No operator actions recorded yet.")
        return
    table = pd.DataFrame(rows)[["at", "actor", "action", "target", "reason"]]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "at": "When (UTC)", "actor": "Who", "action": "Action", "target": "On", "reason": "Why"})


audit_page()
