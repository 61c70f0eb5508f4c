"""SonoBench leaderboard: this file only routes (one page per file in views/; the folder is not named pages/, which Streamlit would also route by file name)."""
import streamlit as st

from sonobench.leaderboard_app.ui import favicon, version_line

# The icon is an image made here and served by the app itself: a ":material/...:" page icon
# makes every browser fetch it from fonts.gstatic.com, and the app contacts no host but its own.
st.set_page_config(page_title="SonoBench", page_icon=favicon(), layout="wide")

pages = {
    "Results": [
        st.Page("views/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", default=True),
        st.Page("views/efficiency.py", title="Efficiency", icon=":material/speed:"),
        st.Page("views/submission.py", title="Submission detail", icon=":material/query_stats:"),
        st.Page("views/compare.py", title="Compare two", icon=":material/compare_arrows:"),
        st.Page("views/crosseval.py", title="Cross-dataset", icon=":material/grid_on:"),
        st.Page("views/robustness.py", title="Robustness", icon=":material/shield:"),
        st.Page("views/sweeps.py", title="Sweeps (3D)", icon=":material/view_in_ar:"),
    ],
    "Benchmark": [
        st.Page("views/baselines.py", title="Baselines", icon=":material/school:"),
        st.Page("views/tasks.py", title="Tasks", icon=":material/dataset:"),
        st.Page("views/audit.py", title="Audit log", icon=":material/history:"),
    ],
    "Participate": [
        st.Page("views/submit.py", title="Submit a model", icon=":material/upload:"),
    ],
}
st.navigation(pages).run()
st.divider()
st.caption(f"{version_line()} — quote it next to any number taken from this board.")
