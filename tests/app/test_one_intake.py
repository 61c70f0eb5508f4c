"""`sonobench submit` and the app's Evaluate are callers of one library function,
`sonobench.evaluator.intake.submit`, so the team rule (the token decides the team) answers the same
through both."""
import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.cli.toy import threshold_onnx
from sonobench.evaluator import intake
from sonobench.evaluator.store import Store
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError
from sonobench.leaderboard_app import jobs


@pytest.fixture
def hosted(tmp_path, toy_task, monkeypatch):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"require_auth": True}))
    monkeypatch.setenv("SONOBENCH_SETTINGS", str(settings))
    monkeypatch.delenv("SONOBENCH_TOKEN", raising=False)
    db = tmp_path / "hosted.db"
    out = CliRunner().invoke(cli, ["teams", "add", "red", "--db", str(db)])
    assert out.exit_code == 0, out.output
    return {"db": db, "token": out.output.split("\n")[1].strip(), "task": toy_task, "tmp": tmp_path}


def _zip_of_masks(task, path, empty=False):
    with zipfile.ZipFile(path, "w") as zf:
        for c in task.split("test"):
            mask = imageio.load_label(task.label_path(c)) * (0 if empty else 1)
            buf = io.BytesIO()
            Image.fromarray(mask.astype(np.uint8), mode="L").save(buf, format="PNG")
            zf.writestr(f"{c.id}.png", buf.getvalue())
    return path


def _rows(db):
    with Store(db) as store:
        return [dict(r) for r in store.db.query("select team, team_id, format from submissions order by id")]


def test_both_paths_call_the_one_intake(hosted, monkeypatch):
    seen = []

    def spy(store, req, **kwargs):
        seen.append(req)
        raise SonoBenchError("stopped by the test")

    monkeypatch.setattr(intake, "submit", spy)
    model = threshold_onnx(hosted["tmp"] / "m.onnx")
    cli_out = CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", str(hosted["db"]),
                                       "--token", hosted["token"]])
    assert cli_out.exit_code == 1 and "Error: stopped by the test" in cli_out.output
    with pytest.raises(SonoBenchError, match="stopped by the test"):
        jobs.start(model.read_bytes(), "m.onnx", "toy-lesion", db=hosted["db"], token=hosted["token"])
    assert [type(r) for r in seen] == [intake.IntakeRequest, intake.IntakeRequest]
    assert [r.enqueue for r in seen] == [False, True] and {r.token for r in seen} == {hosted["token"]}


def test_a_typed_team_other_than_the_tokens_is_refused_the_same_way_through_both(hosted):
    model = threshold_onnx(hosted["tmp"] / "m.onnx")
    cli_out = CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", str(hosted["db"]),
                                       "--token", hosted["token"], "--team", "blue"])
    assert cli_out.exit_code == 1
    [cli_error] = [line for line in cli_out.output.splitlines() if line.startswith("Error:")]
    with pytest.raises(SonoBenchError) as app_error:
        jobs.start(model.read_bytes(), "m.onnx", "toy-lesion", db=hosted["db"], team="blue", token=hosted["token"])
    assert cli_error == f"Error: {app_error.value}"
    assert "the token decides the team" in cli_error
    assert _rows(hosted["db"]) == []  # nothing stored by either


def test_a_specs_team_gives_way_to_the_token_through_both(hosted):
    spec = hosted["tmp"] / "submission.json"
    spec.write_text(json.dumps({"team": "someone-else", "name": "oracle"}))
    masks = _zip_of_masks(hosted["task"], hosted["tmp"] / "preds.zip")
    cli_out = CliRunner().invoke(cli, ["submit", str(masks), "--predictions", "--task", "toy-lesion", "--db",
                                       str(hosted["db"]), "--token", hosted["token"], "--spec", str(spec)])
    assert cli_out.exit_code == 0, cli_out.output
    other = _zip_of_masks(hosted["task"], hosted["tmp"] / "empty.zip", empty=True)
    job = jobs.start(other.read_bytes(), "empty.zip", "toy-lesion", db=hosted["db"],
                     spec_json=spec.read_bytes(), token=hosted["token"])
    assert job.refusal is None and job.status == "done" and job.verb == "Scored"
    assert _rows(hosted["db"]) == [{"team": "red", "team_id": 1, "format": "predictions"}] * 2


def test_the_cli_reports_a_queued_submission_and_a_repeat(toy_task, tmp_path):
    model, db = threshold_onnx(tmp_path / "m.onnx"), tmp_path / "r.db"
    args = ["submit", str(model), "--task", "toy-lesion", "--db", str(db), "--enqueue"]
    first, again = CliRunner().invoke(cli, args), CliRunner().invoke(cli, args)
    assert "Queued: submission #1 'm' on toy-lesion@1 as job 1" in first.output, first.output
    assert "Already submitted (not scored twice): submission #1" in again.output, again.output
