"""The Sweeps (3D) page and the sweep column group: the library's sweeps board (3D scores of every
model scored on the task's sweep set, frame rank beside) and a chosen model's reconstruction over the
mesh; a task without a sweep set says how to get one."""
import shutil

import pytest

from sonobench.evaluator import follow_ups
from sonobench.evaluator.evaluate import Request
from sonobench.evaluator.store import Store
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.sweeps import board
from sonobench.evaluator.tasks import get_task
from sonobench.kernel.settings import Settings

from ..metrics.sweep_set_factory import make_child
from .conftest import open_page
from .helpers import TOY_THRESHOLDS


@pytest.fixture
def sweep_env(built_store, tmp_path, monkeypatch):
    """A copy of the app store whose toy task has a sweep set, scored for two submissions."""
    tasks = tmp_path / "tasks"
    shutil.copytree(built_store["tasks"], tasks)
    db = tmp_path / "results.db"
    shutil.copy(built_store["db"], db)
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(tasks))
    toy = get_task("toy-lesion@1")
    make_child(toy, tasks)
    toy = get_task("toy-lesion@1")
    store = Store(db)
    for name in list(TOY_THRESHOLDS)[:2]:
        sub = prepare(built_store["db"].parent / f"{name}.onnx", {}, name=name)
        follow_ups.score_shifts(store, toy, sub, Request.for_task(toy), Settings(), built_store["ids"][name])
    child, rows, tau = board.sweep_board(store, toy)
    store.close()
    return child, rows


def test_the_page_shows_the_sweeps_board_and_a_3d_reconstruction(sweep_env):
    child, rows = sweep_env
    at = open_page("sweeps")
    assert at.title[0].value == "Sweeps (3D)" and not at.exception
    table = at.dataframe[0].value
    assert list(table["name"]) == [r.name for r in rows]
    scored = [r for r in rows if r.sweep_submission_id is not None]
    assert len(scored) == 2 and all(r.scores["sweep_fscore"]["mean"] is not None for r in scored)
    assert {m.label for m in at.selectbox} >= {"Model", "Sweep"}
    text = " ".join(m.value for m in at.markdown)
    assert "on shaft-along" in text and "F-score" in text
    chart = at.get("plotly_chart")
    assert chart, "the 3D view is drawn"
    spec = chart[0].proto.spec
    assert '"mesh3d"' in spec and '"scatter3d"' in spec


def test_the_leaderboard_has_the_sweep_column_group(sweep_env):
    _, rows = sweep_env
    at = open_page()
    group = [e for e in at.expander if e.label.startswith("Sweeps (3D)")]
    assert len(group) == 1 and "shaft" not in group[0].label  # names the set and its τ, not a sweep
    assert list(group[0].dataframe[0].value["name"]) == [r.name for r in rows]


def test_a_task_without_sweeps_says_how_to_get_them(app_env):
    at = open_page("sweeps")
    assert not at.exception and any("has no sweep set" in i.value for i in at.info)
