"""The Submit page: the upload is checked and queued through the evaluator's library and
evaluated by the queue's pipeline in the background (the model runs only in the sandboxed
child); the page follows the store without blocking and shows the outcome or the reason."""
import time

import pytest

from sonobench.cli.toy import threshold_onnx
from sonobench.evaluator.store import ReadOnlyStore
from sonobench.kernel.errors import InvalidSubmission
from sonobench.leaderboard_app import jobs, ui

from .conftest import open_page


def _upload(at, name: str, content: bytes):
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload(name, content)
    at.run()
    at.text_input(key="submit_name").input("uploaded-0.25")
    at.text_input(key="submit_team").input("web")
    at.button(key="submit_go").click()
    return _until_done(at.run(timeout=60))


def _until_done(at, timeout=120.0):
    """Rerun the page (as the browser does through the page's polling fragment) until it
    shows an outcome; each run returns at once instead of blocking on the evaluation."""
    deadline = time.monotonic() + timeout
    while not (at.success or at.error or at.exception) and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run(timeout=30)
    return at


def test_upload_is_scored_in_the_background_and_lands_in_the_store(writable_env, tmp_path):
    model = threshold_onnx(tmp_path / "upload.onnx", threshold=0.25)
    at = _upload(open_page("submit"), "upload.onnx", model.read_bytes())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "Scored: submission #" in at.success[0].value
    rows = [r for r in ReadOnlyStore(writable_env["db"]).leaderboard_rows("toy-lesion") if r["name"] == "uploaded-0.25"]
    assert len(rows) == 1 and rows[0]["team"] == "web" and rows[0]["kind"] == "submission"
    assert [m.label for m in at.metric][:2] == ["Dice ↑ · primary", "IoU ↑"]  # the task's primary metric first


def test_a_broken_model_shows_the_evaluators_error(writable_env):
    at = _upload(open_page("submit"), "broken.onnx", b"\x08\x07this is not an onnx graph")
    assert at.error and at.error[0].value.startswith("The evaluation failed:")
    assert "Traceback" not in at.error[0].value
    # the refusal is recorded by the evaluator (a failed row with the same reason), not scraped
    rows = ReadOnlyStore(writable_env["db"]).submissions(status="failed")
    assert rows and rows[-1]["error"] and ui.plain(rows[-1]["error"]) in at.error[0].value  # shown as literal text


def test_the_page_does_not_block_while_the_model_runs(writable_env, tmp_path):
    from sonobench.evaluator.queue import spool_dir

    model = threshold_onnx(tmp_path / "slow.onnx", threshold=0.37)
    at = open_page("submit")
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload("slow.onnx", model.read_bytes())
    at.run()
    at.button(key="submit_go").click()
    at.run(timeout=60)
    job = at.session_state["sonobench_submit_job"]
    assert job.submission_id is not None and job.job_id is not None
    # the upload went through the queue: its files are in the spool, its row is in the store
    assert (spool_dir(ReadOnlyStore(writable_env["db"])) / job.row()["file_sha256"]).is_dir()
    at = _until_done(at)
    assert at.success and f"submission #{job.submission_id}" in at.success[0].value
    job.thread.join(timeout=30)  # 'done' is set just before the thread returns; on a loaded machine it may lag
    assert job.status == "done" and not job.thread.is_alive()


def test_the_example_architecture_on_the_page_builds():
    from sonobench.evaluator.submission import _architecture
    from sonobench.zoo import build_from_config
    from sonobench.zoo.registry import InvalidArchitectureConfig

    # The page's example goes through the same spec check and registry as an upload's JSON.
    assert build_from_config(_architecture(jobs.EXAMPLE_ARCHITECTURE)) is not None
    # The old example spelled the class count "classes", which the registry refuses by name.
    wrong = {**jobs.EXAMPLE_ARCHITECTURE, "kwargs": {"classes": 1}}
    with pytest.raises(InvalidArchitectureConfig, match="Did you mean 'num_classes'"):
        build_from_config(_architecture(wrong))


def test_uploads_are_size_capped_before_anything_runs(writable_env, monkeypatch):
    monkeypatch.setenv("SONOBENCH_APP_MAX_UPLOAD_MB", "0.001")
    at = _upload(open_page("submit"), "big.onnx", b"x" * 4096)
    assert at.error and "capped at" in at.error[0].value


def test_upload_names_are_sanitised_and_checked():
    assert jobs.safe_filename("../../etc/evil model.onnx") == "evil_model.onnx"
    with pytest.raises(InvalidSubmission, match="unsupported extension"):
        jobs.safe_filename("model.py")


def test_architecture_json_is_wrapped_into_a_spec():
    assert jobs.spec_from_json(b'{"name": "unet", "kwargs": {"classes": 2}}') == \
        {"architecture": {"name": "unet", "kwargs": {"classes": 2}}}
    spec = b'{"name": "mine", "architecture": {"name": "unet"}, "output": "logits"}'
    assert jobs.spec_from_json(spec)["name"] == "mine"
    with pytest.raises(InvalidSubmission, match="unknown key"):
        jobs.spec_from_json(b'{"nme": "x", "kwargs": {}}')
