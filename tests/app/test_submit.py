"""The Submit page: the upload is evaluated by a background `sonobench submit` process,
never in the app's own process, and the outcome (or the evaluator's error) is shown."""
import pytest

from evaluator.errors import InvalidSubmission
from evaluator.store import ReadOnlyStore
from evaluator.toy import threshold_onnx
from leaderboard_app import jobs

from .conftest import open_page


def _upload(at, name: str, content: bytes):
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload(name, content)
    at.run()
    at.text_input(key="submit_name").input("uploaded-0.25")
    at.text_input(key="submit_team").input("web")
    at.button(key="submit_go").click()
    return at.run(timeout=120)


def test_upload_is_scored_in_the_background_and_lands_in_the_store(writable_env, tmp_path):
    model = threshold_onnx(tmp_path / "upload.onnx", threshold=0.25)
    at = _upload(open_page("submit"), "upload.onnx", model.read_bytes())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "Scored: submission #" in at.success[0].value
    rows = [r for r in ReadOnlyStore(writable_env["db"]).leaderboard_rows("toy-lesion") if r["name"] == "uploaded-0.25"]
    assert len(rows) == 1 and rows[0]["team"] == "web" and rows[0]["kind"] == "submission"
    assert {m.label for m in at.metric} >= {"Dice ↑", "IoU ↑"}


def test_a_broken_model_shows_the_evaluators_error(writable_env):
    at = _upload(open_page("submit"), "broken.onnx", b"\x08\x07this is not an onnx graph")
    assert at.error and at.error[0].value.startswith("The evaluation failed:")
    assert "Traceback" not in at.error[0].value


def test_uploads_are_size_capped_before_anything_runs(writable_env, monkeypatch):
    monkeypatch.setenv("SONOBENCH_MAX_UPLOAD_MB", "0.001")
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
