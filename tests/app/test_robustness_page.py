"""The Robustness page: per condition, the shifted score and the paired drop, and one
robustness number per model, as the library computes them; and what it says without sets."""
import shutil

import pytest

from evaluator import robustness
from evaluator.evaluate import Request
from evaluator.settings import Settings
from evaluator.store import Store
from evaluator.submission import prepare
from evaluator.tasks import get_task

from ..spine.test_robustness import brighter, make_shift
from .conftest import open_page
from .helpers import TOY_THRESHOLDS


@pytest.fixture
def shifted_env(built_store, tmp_path, monkeypatch):
    """A copy of the app store whose toy task has one shift set, scored for two submissions."""
    tasks = tmp_path / "tasks"
    shutil.copytree(built_store["tasks"], tasks)
    db = tmp_path / "results.db"
    shutil.copy(built_store["db"], db)
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(tasks))
    toy = get_task("toy-lesion@1")
    make_shift(toy, tasks, "gain", brighter)
    toy = get_task("toy-lesion@1")
    store = Store(db)
    for name in list(TOY_THRESHOLDS)[:2]:
        sub = prepare(built_store["db"].parent / f"{name}.onnx", {}, name=name)
        robustness.score_shifts(store, toy, sub, Request.for_task(toy), Settings(), built_store["ids"][name])
    expected = robustness.robustness_rows(store, toy)
    store.close()
    return expected


def test_the_page_shows_the_librarys_drops_and_robustness(shifted_env):
    conditions, rows = shifted_env
    at = open_page("robustness")
    assert at.title[0].value == "Robustness" and not at.exception
    table = at.dataframe[0].value
    assert list(table["ID"]) == [r.submission_id for r in rows]
    scored = {r.submission_id: r for r in rows if r.robustness is not None}
    assert len(scored) == 2
    for _, line in table.iterrows():
        r = scored.get(line["ID"])
        if r is None:
            assert line["Robustness (mean drop)"] is None or line["Robustness (mean drop)"] != line["Robustness (mean drop)"]
            continue
        assert line["gain drop"] == pytest.approx(r.conditions["gain"].drop)
        assert line["Robustness (mean drop)"] == pytest.approx(r.robustness)
    assert any("**Definition.**" in m.value for m in at.markdown)
    assert at.get("plotly_chart")


def test_without_shift_sets_the_page_says_how_to_declare_one(app_env):
    at = open_page("robustness")
    assert any("has no acquisition-shift sets" in i.value for i in at.info)
