"""The Robustness page: per condition, the shifted score, the retained skill above the floor and
the paired drop, and one robustness number per model, as the library computes them, accuracy
beside it and the floors last as "n/a"; and what it says without sets or without floors."""
import shutil

import pytest

from sonobench.baselines import floors
from sonobench.evaluator import follow_ups, robustness
from sonobench.evaluator.evaluate import Request, evaluate
from sonobench.evaluator.store import Store
from sonobench.evaluator.submission import prepare
from sonobench.evaluator.tasks import get_task
from sonobench.kernel.settings import Settings

from ..spine.test_robustness import brighter, make_shift
from .conftest import open_page
from .helpers import TOY_THRESHOLDS


@pytest.fixture(params=[True, False], ids=["with-floors", "no-floors"])
def shifted_env(built_store, tmp_path, monkeypatch, request):
    """A copy of the app store whose toy task has one shift set, scored for two submissions (and
    for the task's two floors, or not)."""
    with_floors = request.param
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
        follow_ups.score_shifts(store, toy, sub, Request.for_task(toy), Settings(), built_store["ids"][name])
    if with_floors:
        for f in floors.build_floors(toy):
            sub = prepare(floors.floor_onnx(f, toy, tmp_path / f"{f.key}.onnx"), {}, name=f.name)
            request = Request.for_task(toy, kind="floor")
            sid = evaluate(store, toy, sub, request=request).submission_id
            follow_ups.score_shifts(store, toy, sub, request, Settings(), sid)
    expected = robustness.robustness_rows(store, toy)
    store.close()
    return expected


def test_the_page_shows_the_librarys_drops_and_robustness(shifted_env):
    _, rows = shifted_env
    at = open_page("robustness")
    assert at.title[0].value == "Robustness" and not at.exception
    table = at.dataframe[0].value
    assert list(table["ID"]) == [r.submission_id for r in rows]
    by_id = {r.submission_id: r for r in rows}
    n_floors = sum(r.kind == "floor" for r in rows)
    assert n_floors in (0, 2) and all(r.kind == "floor" for r in rows[len(rows) - n_floors:])  # floors last
    for _, line in table.iterrows():
        r = by_id[line["ID"]]
        assert line["dice (test)"] == pytest.approx(r.primary)
        if "gain" in r.conditions:
            assert line["gain drop"] == pytest.approx(r.conditions["gain"].drop)
        else:
            assert line["gain drop"] is None or line["gain drop"] != line["gain drop"]
        if r.robustness is None:
            assert line["Robustness (retained skill)"] == "n/a" and line["Why n/a"] == r.why_none
        else:
            assert line["Robustness (retained skill)"].startswith(f"{r.robustness:.2f} [")
        if r.kind == "floor":
            assert line["Model"].endswith("[FLOOR]") and line["gain retained"] == "n/a"
    assert sum(line["gain drop"] == line["gain drop"] and line["gain drop"] is not None
               for _, line in table.iterrows()) == 2 + n_floors  # the rows scored on the shift set
    assert any("**Definition.**" in m.value for m in at.markdown)
    assert any("No no-skill floor" in w.value for w in at.warning) == (n_floors == 0)
    assert at.get("plotly_chart")


def test_without_shift_sets_the_page_says_how_to_declare_one(app_env):
    at = open_page("robustness")
    assert any("has no acquisition-shift sets" in i.value for i in at.info)
