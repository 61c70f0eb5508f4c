import io

import pandas as pd
import pytest

from sonobench.evaluator.metrics import METRICS
from sonobench.evaluator.store import ReadOnlyStore

from .conftest import open_page


def _store_order(db, metric, kind=None):
    rows = ReadOnlyStore(db).leaderboard_rows("toy-lesion")
    rows = [r for r in rows if kind in (None, r["kind"])]
    sign = -1 if METRICS.get(metric).higher_is_better else 1
    return [r["submission_id"] for r in sorted(rows, key=lambda r: sign * r[f"{metric}_mean"])]


def test_default_view_ranks_the_busiest_task_by_its_primary_metric(app_env):
    at = open_page()
    assert at.title[0].value == "SonoBench leaderboard"
    assert at.selectbox(key="lb_task").value == "toy-lesion@1"
    table = at.dataframe[0].value
    assert len(table) == 4
    assert list(table["ID"]) == _store_order(app_env["db"], "dice")
    assert set(table.columns) >= {"Rank", "Model", "Type", "Team", "Dice ↑", "IoU ↑", "HD95 (mm) ↓", "GFLOPs ↓",
                                  "Params ↓", "Latency (ms) ↓", "Date"}
    assert table.loc[table["Model"] == "unet-baseline", "Type"].item() == "BASELINE"
    assert all(s.count("[") == 1 and "–" in s for s in table["Dice ↑"])  # mean [CI]
    assert "ranked by **Dice ↑** (higher is better)" in at.markdown[0].value


@pytest.mark.parametrize("metric", ["dice", "iou", "hd95"])
def test_sorting_follows_each_metrics_direction(app_env, metric):
    at = open_page()
    at.selectbox(key="lb_metric").set_value(metric).run()
    table = at.dataframe[0].value
    assert list(table["ID"]) == _store_order(app_env["db"], metric)
    ranks = [int(r.lstrip("=")) for r in table["Rank"]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    arrow = "↑" if METRICS.get(metric).higher_is_better else "↓"
    assert any(c.endswith(arrow) and c.split()[0].lower() == metric for c in table.columns)


def test_baselines_are_filterable(app_env):
    at = open_page()
    at.segmented_control(key="lb_kind").set_value("baseline").run()
    assert list(at.dataframe[0].value["Model"]) == ["unet-baseline"]
    at.segmented_control(key="lb_kind").set_value("submission").run()
    table = at.dataframe[0].value
    assert len(table) == 3 and set(table["Type"]) == {"submission"}


def test_csv_download_holds_numbers(app_env):
    at = open_page()
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV"]
    from sonobench.leaderboard_app import columns
    from sonobench.leaderboard_app.data import board  # the exact frame the button exports

    ranked = board("toy-lesion", 1, "dice", "all", "paired")[0]
    csv = pd.read_csv(io.StringIO(columns.csv_table(ranked).to_csv(index=False)))
    assert {"dice_mean", "dice_ci_low", "dice_ci_high", "hd95_unit", "kind", "rank_low", "rank_high", "p_rank1",
            "nsd_mean", "sensitivity", "sensitivity_n", "nsd_tolerance"} <= set(csv.columns)
    assert list(csv["rank"]) == sorted(csv["rank"])


def test_missing_store_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOBENCH_DB", str(tmp_path / "none.db"))
    for page in (None, "efficiency", "submission", "compare", "baselines"):
        at = open_page(page)
        assert "No results store yet" in at.info[0].value and "Submit" in at.info[0].value


def test_unreadable_store_is_an_error_not_a_traceback(tmp_path, monkeypatch):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("SONOBENCH_DB", str(bad))
    at = open_page()
    assert at.error and "could not be read" in at.error[0].value


@pytest.mark.parametrize("metric,title", [("surface_f1", "Surface F1 ↑"),
                                          ("mean_dist_pred_to_ref", "Mean dist pred→ref (mm) ↓")])
def test_thin_structure_metrics_are_columns_and_sort_by_their_direction(app_env, metric, title):
    at = open_page()
    at.selectbox(key="lb_metric").set_value(metric).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert title in table.columns and all(s.count("[") == 1 for s in table[title])
    assert list(table["ID"]) == _store_order(app_env["db"], metric)


def test_thin_structure_metrics_reach_help_and_csv(app_env):
    from sonobench.leaderboard_app import columns
    from sonobench.leaderboard_app.data import board

    ranked = board("toy-lesion", 1, "dice", "all", "paired")[0]
    assert "Surface F1 ↑" not in columns.display_table(ranked)[0]  # toy-lesion does not declare them
    thin = ["dice", "surface_f1", "surface_precision", "surface_recall", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred"]
    shown, helps = columns.display_table(ranked, metrics=thin)  # a task declaring them
    assert "Tolerance τ = 0.4 mm on this task." in helps["Surface F1 ↑"]  # the toy task's default: 2 px of 0.2 mm
    assert "not contours" in helps["Surface precision ↑"]
    assert "In mm." in helps["Mean dist ref→pred (mm) ↓"] and "Tolerance" not in helps["Mean dist ref→pred (mm) ↓"]
    csv = pd.read_csv(io.StringIO(columns.csv_table(ranked, thin).to_csv(index=False)))
    assert {"surface_precision_mean", "surface_recall_ci_low", "surface_f1_ci_high", "mean_dist_pred_to_ref_mean",
            "mean_dist_ref_to_pred_std", "surface_tolerance"} <= set(csv.columns)
    assert csv["surface_tolerance"].tolist() == [pytest.approx(0.4)] * len(csv)
    assert csv["surface_f1_mean"].between(0, 1).all()


def test_a_board_longer_than_a_page_pages_and_selection_opens_the_shown_row(app_env, monkeypatch):
    import streamlit as st

    from sonobench.leaderboard_app import data

    monkeypatch.setattr(data, "PAGE_ROWS", 3)  # the toy board has 4 rows: two pages
    st.cache_data.clear()
    order = _store_order(app_env["db"], "dice")
    at = open_page()
    assert list(at.dataframe[0].value["ID"]) == order[:3]
    assert at.number_input(key="lb_page").value == 1
    assert any("Rows 1–3 of 4 (page 1 of 2)" in c.value for c in at.caption)
    at.number_input(key="lb_page").set_value(2).run()
    assert not at.exception
    assert list(at.dataframe[0].value["ID"]) == order[3:]      # page 2: the fourth row, formatted alone
    ranked = data.board("toy-lesion", 1, "dice", "all", "paired")[0]
    assert at.dataframe[0].value["Rank"].iloc[0].lstrip("=") == str(int(ranked["rank"].iloc[3]))  # its own rank
    assert any("Rows 4–4 of 4 (page 2 of 2)" in c.value for c in at.caption)
    st.cache_data.clear()
