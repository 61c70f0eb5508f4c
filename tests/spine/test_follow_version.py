"""Stored submissions follow a new task version: model files are kept (operator-only, capped,
hashed) and `sonobench follow-version` scores every one of version N on version N + 1."""
import json
import shutil

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.cli.toy import build_toy_task, threshold_onnx
from sonobench.evaluator.store import Store


@pytest.fixture
def two_versions(toy_task, tmp_path):
    """toy-lesion@1 (the fixture's) and a v2 of other cases beside it."""
    build_toy_task(toy_task.folder.parent / "v2", version=2, seed=7)
    return toy_task


def _submit(db, model, *extra):
    out = CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion@1", "--db", str(db), *extra])
    assert out.exit_code == 0, out.output
    return out


def _rows(db, version):
    with Store(db) as store:
        return [store.submission(r["id"]) for r in store.db.query(
            "select id from submissions where task_id = 'toy-lesion' and task_version = ? order by id", [version])]


def test_submitted_files_are_kept_for_the_operator_only(two_versions, tmp_path):
    db = tmp_path / "store" / "r.db"
    _submit(db, threshold_onnx(tmp_path / "a.onnx", threshold=0.3), "--team", "alpha")
    [row] = _rows(db, 1)
    kept = row["meta"]["kept_model"]
    folder = db.parent / "models" / row["file_sha256"]
    assert kept["sha256"] == row["file_sha256"] and (folder / "a.onnx").read_bytes() == (tmp_path / "a.onnx").read_bytes()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"


def test_over_the_cap_nothing_is_kept_and_the_row_says_why(two_versions, tmp_path, monkeypatch):
    from sonobench.evaluator import kept_models
    from sonobench.evaluator.submission import prepare
    from sonobench.kernel.settings import Settings

    store = Store(tmp_path / "r.db")
    sub = prepare(threshold_onnx(tmp_path / "a.onnx"))
    tiny = Settings(max_model_mb=0)
    assert "over the keep cap" in kept_models.keep(store, sub, tiny)["kept_model_skipped"]
    assert not (tmp_path / "models").exists()


def test_follow_version_scores_every_stored_submission_on_the_new_version(two_versions, tmp_path):
    db = tmp_path / "r.db"
    _submit(db, threshold_onnx(tmp_path / "a.onnx", threshold=0.3), "--team", "alpha",
            "--paper-url", "https://a.org/p", "--training-data", "external")
    _submit(db, threshold_onnx(tmp_path / "b.onnx", threshold=0.45), "--name", "bee")
    from sonobench.evaluator.tasks import get_task

    from .test_robustness import brighter, make_shift

    make_shift(get_task("toy-lesion@2"), two_versions.folder.parent.parent, "gain", brighter, n=3)
    out = CliRunner().invoke(cli, ["follow-version", "toy-lesion@1", "--to", "toy-lesion@2", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "2 scored, 0 already there, 0 without a kept model file, 0 failed" in out.output
    with Store(db) as store:  # the new version's shift set follows too, as for a new submission
        shifted = list(store.db.query("select status from submissions where task_id = 'toy-lesion-gain'"))
    assert [r["status"] for r in shifted] == ["done", "done"]
    old, new = _rows(db, 1), _rows(db, 2)
    assert [r["name"] for r in new] == [r["name"] for r in old] and [r["team"] for r in new] == ["alpha", ""]
    assert [r["meta"]["followed_from"] for r in new] == [{"submission_id": r["id"], "task": "toy-lesion@1"} for r in old]
    assert [(r["paper_url"], r["training_data"]) for r in new] == [("https://a.org/p", "external"), (None, None)]
    v2 = json.loads((two_versions.folder.parent / "v2" / "manifest.json").read_text())["digest"]
    with Store(db) as store:
        results = [store.result_for(r["id"]) for r in new]
        used = store.db.execute("select count(*) from submissions where status = 'done'").fetchone()[0]
    assert all(r["task_version"] == 2 and r["manifest_digest"] == v2 for r in results)   # rows say their version
    assert used == 6
    again = CliRunner().invoke(cli, ["follow-version", "toy-lesion@1", "--to", "toy-lesion@2", "--db", str(db)])
    assert "0 scored, 2 already there" in again.output


def test_a_missing_or_changed_kept_file_is_skipped_with_its_reason(two_versions, tmp_path):
    db = tmp_path / "r.db"
    _submit(db, threshold_onnx(tmp_path / "a.onnx", threshold=0.3))
    _submit(db, threshold_onnx(tmp_path / "b.onnx", threshold=0.45))
    a, b = _rows(db, 1)
    shutil.rmtree(db.parent / "models" / a["file_sha256"])
    (db.parent / "models" / b["file_sha256"] / "b.onnx").write_bytes(b"tampered")
    out = CliRunner().invoke(cli, ["follow-version", "toy-lesion@1", "--to", "toy-lesion@2", "--db", str(db)])
    assert "0 scored, 0 already there, 2 without a kept model file" in out.output
    assert f"#{a['id']}" in out.output and "not kept" in out.output
    assert _rows(db, 2) == []


def test_follow_version_refuses_another_task(two_versions, tmp_path):
    build_toy_task(tmp_path / "tasks" / "toy-other" / "v1", task_id="toy-other")
    out = CliRunner().invoke(cli, ["follow-version", "toy-lesion@1", "--to", "toy-other@1",
                                   "--db", str(tmp_path / "r.db")])
    assert out.exit_code == 1 and "different tasks" in out.output
