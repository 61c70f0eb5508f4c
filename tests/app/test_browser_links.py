"""Real browser, the app's links and queues: an upload on each task opens its own submission
from the result link, the shift-set follow-ups of an upload finish, and a failed upload is
listed for its team."""
from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from sonobench.cli.toy import threshold_onnx

from .helpers import band_onnx
from .test_browser import _no_exception, _shot, page, running_app  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def shifted_tasks(writable_env, tmp_path, monkeypatch):
    """The app's toy tasks, toy-lesion@1 with one shift set, on a search path of their own
    (set before `running_app` starts the server, which inherits it)."""
    from sonobench.evaluator.tasks import get_task
    from tests.spine.test_robustness import brighter, make_shift

    root = tmp_path / "tasks"
    for name in ("toy-lesion", "toy-bands"):
        shutil.copytree(writable_env["tasks"] / name, root / name)
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    make_shift(get_task("toy-lesion@1"), root, "brighter", brighter, n=4)
    return root


def _other_band_model(path):
    """The app store's band model with another bias: a new file (the same bytes are not scored twice)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(band_onnx(path)))
    bias = next(i for i in model.graph.initializer if i.name == "b")
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 0.5, "b"))
    onnx.save(model, str(path))
    return path


def _upload(page, url: str, task: str, model, team: str = "playwright") -> None:  # noqa: F811
    page.goto(f"{url}/submit")
    page.get_by_role("heading", name="Submit a model").wait_for()
    box = page.locator("[data-testid=stSelectbox]").first
    box.click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(task)} ")).click()
    # the page has rerun with the task chosen before the file goes in
    expect(box.locator("input")).to_have_value(re.compile(re.escape(task)), timeout=30_000)
    page.locator("input[type=file]").first.set_input_files(str(model))
    # the uploader lists the file once the server holds it (a file set during a rerun can be lost)
    page.get_by_text(model.name).first.wait_for(timeout=60_000)
    page.get_by_label("Team").fill(team)
    page.get_by_role("button", name="Evaluate").click(timeout=120_000)


def test_uploads_open_their_own_submission_follow_ups_finish_and_failures_are_listed(
        shifted_tasks, running_app, page, artifacts_dir, tmp_path):  # noqa: F811  (fixtures)
    uploads = {"toy-lesion@1": (threshold_onnx(tmp_path / "lesion.onnx", threshold=0.31), 1),
               "toy-bands@1": (_other_band_model(tmp_path / "bands-b.onnx"), 0)}
    for task, (model, follow_ups) in uploads.items():
        _upload(page, running_app, task, model)
        done = page.get_by_text(re.compile(r"Scored: submission #\d+"))
        done.wait_for(timeout=90_000)
        sid = int(re.search(r"#(\d+)", done.inner_text()).group(1))
        if follow_ups:
            page.get_by_text(f"{follow_ups} of {follow_ups} done.").wait_for(timeout=90_000)
        _no_exception(page)
        _shot(page, artifacts_dir, f"links-{task}-result")
        page.get_by_role("link", name=f"Open submission #{sid}").click()
        page.get_by_role("heading", name=re.compile(f"^#{sid} ")).wait_for()
        box = page.locator("[data-testid=stSelectbox]").first
        assert task in box.inner_text() + box.locator("input").input_value()
        _no_exception(page)

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07not a model")
    _upload(page, running_app, "toy-lesion@1", broken)
    page.get_by_text("The evaluation failed").wait_for(timeout=60_000)
    page.get_by_role("button", name="Submit another model").click()
    page.get_by_label("Team").fill("playwright")
    page.get_by_label("Team").press("Enter")
    page.get_by_text("Failed submissions of this team (1)").click()
    page.get_by_text("not a readable ONNX model").first.wait_for()
    _shot(page, artifacts_dir, "links-failed-listed")
    page.goto(f"{running_app}/submission?id=424242")
    page.get_by_text("Submission #424242 was not found").wait_for()
