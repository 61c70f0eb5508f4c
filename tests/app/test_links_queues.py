"""The app's links and queues: ?id=N opens that submission on any task (and says "not found"
otherwise), the Submit page opens on the default task, an upload's shift-set follow-ups run,
a team sees its failed submissions, and `sonobench app` can reuse its port at once."""
import shutil
import socket
import time

import pytest

from sonobench.cli.toy import threshold_onnx
from sonobench.evaluator.store import ReadOnlyStore
from sonobench.leaderboard_app import jobs, ui

from .conftest import APP
from .test_submit import _until_done


def _page_with_id(sid):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=30)
    at.query_params["id"] = str(sid)
    at.run()
    at.switch_page("views/submission.py").run()
    return at


def test_id_in_the_url_opens_that_submission_on_its_own_task(app_env):
    sid = app_env["ids"]["bands"]  # on toy-bands@1, not the task the page opens on by default
    at = _page_with_id(sid)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.header[0].value == ui.plain(f"#{sid} band-model")
    assert at.selectbox(key="sub_task").value == "toy-bands@1"


def test_an_unknown_id_says_not_found_instead_of_showing_another(app_env):
    at = _page_with_id(987654)
    assert not at.exception
    assert at.error and "Submission #987654 was not found" in at.error[0].value
    assert not at.header


def test_submit_page_opens_on_the_default_task(app_env):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=30).run()
    looked_at = at.session_state[ui.TASK_KEY]       # the Leaderboard's task: Submit follows it
    at.session_state[ui.TASK_KEY] = None            # a fresh session that opens on Submit
    at.switch_page("views/submit.py").run()
    assert at.selectbox(key="submit_task").value == "sim-breast-lesion@2"
    at.session_state[ui.TASK_KEY] = looked_at
    at.switch_page("views/leaderboard.py").run()
    at.switch_page("views/submit.py").run()
    assert at.selectbox(key="submit_task").value == looked_at


def test_failed_submissions_are_listed_for_their_team(writable_env):
    db = writable_env["db"]
    job = jobs.start(b"\x08\x07not a model at all", "broken.onnx", "toy-lesion@1", db=db, name="b", team="web")
    assert job.refusal and "not a readable ONNX model" in job.refusal
    rows = jobs.failed_submissions(db, team="web")
    assert [r["name"] for r in rows] == ["b"] and "not a readable ONNX model" in rows[0]["error"]
    assert jobs.failed_submissions(db, team="someone-else") == []
    assert jobs.failed_submissions(db, token="sb_1_wrong") == []        # a wrong token shows nothing


def _shifted_tasks(built_tasks, tmp_path, monkeypatch):
    """The app's toy task plus one shift set of it, on a search path of their own."""
    from sonobench.evaluator.tasks import get_task
    from tests.spine.test_robustness import brighter, make_shift

    root = tmp_path / "tasks"
    shutil.copytree(built_tasks / "toy-lesion", root / "toy-lesion")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    make_shift(get_task("toy-lesion@1"), root, "brighter", brighter, n=4)


def test_an_uploads_shift_set_follow_ups_run_and_finish(writable_env, tmp_path, monkeypatch):
    from .conftest import open_page

    _shifted_tasks(writable_env["tasks"], tmp_path, monkeypatch)
    model = threshold_onnx(tmp_path / "follow.onnx", threshold=0.33)
    at = open_page("submit")
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload("follow.onnx", model.read_bytes())
    at.run()
    at.button(key="submit_go").click()
    at = _until_done(at.run(timeout=60))
    assert at.success and "Scored: submission #" in at.success[0].value, [e.value for e in at.error]
    job = at.session_state["sonobench_submit_job"]
    deadline = time.monotonic() + 120
    while job.thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    follow = job.follow_ups()
    assert [ref for _, ref in follow] == ["toy-lesion-brighter@1"]
    with ReadOnlyStore(writable_env["db"]) as store:
        row = store.submission(follow[0][0])
        assert row["status"] == "done" and row["task_id"] == "toy-lesion-brighter"
    at.run()
    assert any("1 of 1 done" in c.value for c in at.caption)


def test_the_app_port_is_free_again_at_once_after_a_stop():
    from sonobench.leaderboard_app.cli import PortInUse, _check_port

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's server (Tornado) binds
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    try:
        _check_port("127.0.0.1", port)
        raise AssertionError("a port with a live listener must be refused")
    except PortInUse:
        pass
    conn.close()   # the server side closes first: its end of the connection stays in TIME_WAIT
    server.close()
    client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # the old probe (no SO_REUSEADDR) refused here for ~60 s
    _check_port("127.0.0.1", port)  # what a restarted `sonobench app` does: no wait


def test_evaluate_gives_checks_message_for_a_wrong_input_size(writable_env, tmp_path):
    from tests.spine.test_hosted import _fixed_size_onnx

    model = _fixed_size_onnx(tmp_path / "small.onnx", 32)
    job = jobs.start(model.read_bytes(), "small.onnx", "toy-lesion@1", db=writable_env["db"], team="web")
    assert job.refusal and "exported for 32 x 32 inputs, but task toy-lesion@1 feeds 64 x 64 images" in job.refusal
    assert "torch.zeros(1, 1, 64, 64)" in job.refusal


def _private_toy():
    """A hidden test split of toy-lesion@1 in the data dir: the toy's test cases, frozen as
    toy-lesion-private@1 (private_of toy-lesion@1)."""
    import json

    from sonobench.evaluator import private
    from sonobench.evaluator.tasks import get_task, write_task

    toy = get_task("toy-lesion@1")
    folder = private.folder_for("toy-lesion", 1)
    spec = json.loads((toy.folder / "task.json").read_text())
    spec.update(id="toy-lesion-private", test_labels_private=True,
                source={**spec.get("source", {}), "private_of": "toy-lesion@1"})
    cases = [{"id": c.id, "split": "test", "image": c.image, "label": c.label} for c in toy.split("test")]
    return write_task(folder, spec, cases, data_root=str(toy.data_root))


def test_a_hidden_splits_cases_are_never_shown(writable_env, tmp_path):
    from sonobench.evaluator.store import Store

    from .helpers import score

    split = _private_toy()
    with Store(writable_env["db"]) as store:
        sid = score(store, split, threshold_onnx(tmp_path / "p.onnx", threshold=0.29), name="hidden-one")
    at = _page_with_id(sid)
    assert not at.exception and at.header[0].value == ui.plain(f"#{sid} hidden-one")
    assert any("hidden test split" in i.value for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart")              # no per-case table, no distribution
