"""Floors and references not above the best floor are marked in the app's leaderboard table."""
import pandas as pd

from sonobench.leaderboard_app import columns
from sonobench.leaderboard_app.views import baselines as baselines_view


def test_type_labels_mark_floors_and_references_not_above_them():
    ranked = pd.DataFrame({"kind": ["baseline", "baseline", "floor", "submission"],
                           "not_above_floor": [None, {"floor": "floor: train prior", "p": 0.4, "n": 100}, None, None]})
    assert list(columns.type_labels(ranked)) == ["BASELINE", "BASELINE ≤ FLOOR", "FLOOR", "submission"]
    unmarked = ranked.drop(columns=["not_above_floor"])
    assert list(columns.type_labels(unmarked)) == ["BASELINE", "BASELINE", "FLOOR", "submission"]


def test_the_baselines_page_says_whether_a_reference_is_above_the_floor():
    assert baselines_view._floor_cell({"not_above_floor": None}) == "yes"
    cell = baselines_view._floor_cell({"not_above_floor": {"floor": "floor: train prior", "p": 0.31, "n": 100}})
    assert cell.startswith("**NO** (≤ FLOOR)") and "'floor: train prior' (p = 0.31, 100 cases)" in cell
