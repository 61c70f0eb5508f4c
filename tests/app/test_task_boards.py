"""The app's pages follow each task: the Leaderboard ranks by the task's primary metric (the same
order as the CLI), starts again at it on every task switch, shows the task's declared metrics
only (none missing in every row); the Overall view ranks main tasks only; the Submission page's
first card is the primary metric."""
import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli

from .boards import BONE, build_board_store
from .conftest import open_page


@pytest.fixture(scope="module")
def board_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("board-app")
    ids = build_board_store(root / "results.db")
    (root / "tasks").mkdir()
    return {"db": root / "results.db", "tasks": root / "tasks", "ids": ids}


@pytest.fixture
def board_env(board_store, monkeypatch):
    monkeypatch.setenv("SONOBENCH_DB", str(board_store["db"]))
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(board_store["tasks"]))
    return board_store


def test_bone_task_ranks_by_surface_f1_as_the_cli_does(board_env):
    at = open_page()
    at.selectbox(key="lb_task").set_value("bone-like@1").run()
    assert at.selectbox(key="lb_metric").value == "surface_f1"
    table = at.dataframe[0].value
    cli_rows = json.loads(CliRunner().invoke(cli, ["leaderboard", "bone-like", "--format", "json", "--db",
                                                   str(board_env["db"])]).stdout)["rows"]
    assert list(table["ID"]) == [r["submission_id"] for r in cli_rows]
    assert list(table["Model"]) == list(BONE)
    metric_cols = [c for c in table.columns if c.endswith(("↑", "↓")) and c.split()[0] not in ("GFLOPs", "Params",
                                                                                               "Latency")]
    assert metric_cols[:2] == ["Surface F1 ↑", "Specificity ↑"]
    assert "NSD ↑" not in table.columns  # no row has it


def test_rank_by_starts_at_each_tasks_primary_metric(board_env):
    at = open_page()
    at.selectbox(key="lb_task").set_value("lesion-like@1").run()
    assert at.selectbox(key="lb_metric").value == "dice"
    at.selectbox(key="lb_metric").set_value("iou").run()
    at.selectbox(key="lb_task").set_value("bone-like@1").run()
    assert at.selectbox(key="lb_metric").value == "surface_f1"
    at.selectbox(key="lb_task").set_value("lesion-like@1").run()
    assert at.selectbox(key="lb_metric").value == "dice"
    table = at.dataframe[0].value
    cols = list(table.columns)
    assert cols.index("Specificity ↑") == cols.index("Dice ↑") + 1  # beside the primary metric
    assert not any(c.startswith(("Surface", "Mean dist")) for c in cols)  # not declared on a lesion task
    assert not (table.astype(str) == "None").any().any() and not (table.astype(str) == "missing").all().any()


def test_overall_view_ranks_main_tasks_only(board_env):
    at = open_page()
    at.segmented_control(key="lb_view").set_value("overall").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert not any("shift" in c for c in table.columns)
    assert {"bone-like@1", "lesion-like@1"} <= set(table.columns)
    assert list(table["Rank"]) == sorted(table["Rank"])
    lone = table[table["Model"] == "lesion-x"].iloc[0]
    assert lone["bone-like@1"] == "—"


def test_submission_page_leads_with_the_primary_metric(board_env):
    at = open_page("submission")
    at.selectbox(key="sub_task").set_value("bone-like@1").run()
    sid = board_env["ids"]["bone-like", "bone-a"]
    at.selectbox(key="sub_pick").set_value(sid).run()
    assert not at.exception
    cards = [m.label for m in at.metric]
    assert cards[0].startswith("Surface F1 ↑") and cards[0].endswith("· primary")
    headline = next(m.value for m in at.markdown if "primary metric" in m.value)
    assert headline.startswith("**Surface F1 ↑** (the task's primary metric): **0.9") and "95% CI [" in headline
    assert not any(c.startswith("NSD") for c in cards)
