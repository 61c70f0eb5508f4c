"""Archived task versions: the folder keeps task.json + manifest (so the version, its digest and
its reference rows still load), the files live in git history, and `tasks restore` brings them
back only when every file matches the frozen manifest."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.cli.toy import build_toy_task, threshold_onnx
from sonobench.evaluator.store import Store
from sonobench.evaluator.task_archive import ARCHIVE_NAME, InvalidArchive, TaskArchived
from sonobench.evaluator.task_restore import restore
from sonobench.evaluator.tasks import get_task, load_task_folder, verify_task

ROOT = Path(__file__).resolve().parents[2]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _archived_repo(tmp_path, tamper=False):
    """A git repository whose tasks/toy-lesion/v1 was committed with its files, then archived."""
    repo = tmp_path / "repo"
    folder = repo / "tasks" / "toy-lesion" / "v1"
    build_toy_task(folder, n=8, size=32)
    _git(repo.parent, "init", "-q", str(repo))
    if tamper:  # the archived commit holds an image that is not the one the manifest froze
        first = json.loads((folder / "manifest.json").read_text())["cases"][0]["image"]
        (folder / "data" / first).write_bytes(b"not the frozen image")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "task with its files")
    commit = _git(repo, "rev-parse", "HEAD")
    shutil.rmtree(folder / "data")
    (folder / ARCHIVE_NAME).write_text(json.dumps({"format": 1, "commit": commit, "path": "tasks/toy-lesion/v1",
                                                   "bytes": 1000, "reason": "a test"}))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "archive it")
    return repo, folder, commit


@needs_git
def test_an_archived_version_loads_but_refuses_its_files_with_the_command_to_run(tmp_path):
    _, folder, _ = _archived_repo(tmp_path)
    task = load_task_folder(folder)
    assert task.archived and len(task.cases) == 8 and task.summary()["archived"]
    with pytest.raises(TaskArchived, match="sonobench tasks restore toy-lesion@1"):
        verify_task(task)
    with pytest.raises(TaskArchived, match="git history"):
        task.load_image(task.cases[0])


@needs_git
def test_restore_brings_back_every_file_checked_and_a_second_restore_changes_nothing(tmp_path):
    repo, folder, _ = _archived_repo(tmp_path)
    task = load_task_folder(folder)
    dest = tmp_path / "home" / "tasks" / "toy-lesion" / "v1"
    restored = restore(task, dest=dest, log=lambda *_: None)
    assert restored.digest == task.digest and not restored.archived and not (dest / ARCHIVE_NAME).exists()
    verify_task(restored)
    assert restored.load_image(restored.cases[0]).shape == (32, 32)
    assert not list(dest.parent.glob(".v1.restoring-*"))  # the work folder is gone
    assert _git(repo, "status", "--porcelain") == ""  # the checkout itself is untouched
    lines = []
    again = restore(task, dest=dest, log=lines.append)
    assert again.digest == task.digest and "already restored" in lines[0]


@needs_git
def test_a_commit_whose_files_differ_from_the_manifest_restores_nothing(tmp_path):
    _, folder, _ = _archived_repo(tmp_path, tamper=True)
    dest = tmp_path / "home" / "tasks" / "toy-lesion" / "v1"
    with pytest.raises(Exception, match="differs from the manifest"):
        restore(load_task_folder(folder), dest=dest, log=lambda *_: None)
    assert not dest.exists() and not list(dest.parent.glob(".v1.*"))


@needs_git
def test_a_commit_missing_from_history_says_how_to_fetch_it(tmp_path):
    _, folder, _ = _archived_repo(tmp_path)
    spec = json.loads((folder / ARCHIVE_NAME).read_text())
    (folder / ARCHIVE_NAME).write_text(json.dumps({**spec, "commit": "0" * 40}))
    with pytest.raises(TaskArchived, match="git fetch --unshallow"):
        restore(load_task_folder(folder), dest=tmp_path / "d" / "v1", log=lambda *_: None)


def test_outside_a_git_checkout_the_error_says_to_clone(tmp_path):
    folder = tmp_path / "export" / "toy-lesion" / "v1"
    build_toy_task(folder, n=8, size=32)
    shutil.rmtree(folder / "data")
    (folder / ARCHIVE_NAME).write_text(json.dumps({"format": 1, "commit": "a" * 40, "path": "tasks/toy-lesion/v1"}))
    with pytest.raises(TaskArchived, match="not inside a git checkout"):
        restore(load_task_folder(folder), dest=tmp_path / "d" / "v1", log=lambda *_: None)


@pytest.mark.parametrize("record", [{"format": 1, "commit": "abc", "path": "x"},
                                    {"format": 1, "commit": "a" * 40, "path": "../../etc"},
                                    {"format": 2, "commit": "a" * 40, "path": "x"}])
def test_a_malformed_archive_record_is_refused_when_the_task_loads(tmp_path, record):
    folder = tmp_path / "toy-lesion" / "v1"
    build_toy_task(folder, n=8, size=32)
    (folder / ARCHIVE_NAME).write_text(json.dumps(record))
    with pytest.raises(InvalidArchive):
        load_task_folder(folder)


def test_the_committed_v1_is_archived_and_its_references_still_load(tmp_path):
    from sonobench.baselines.reference import load_into_store, read_reference

    v1 = get_task("sim-breast-lesion@1")
    assert v1.archived and v1.archive["path"] == "splits/sim-breast-lesion/v1"
    assert get_task("sim-breast-lesion").version == 2  # the default is the newest version
    store = Store(tmp_path / "r.db")
    assert load_into_store(store, v1, log=lambda *_: None) == len(read_reference("sim-breast-lesion", version=1)["rows"])
    listing = CliRunner().invoke(cli, ["tasks"]).output
    assert "archived: its files are in git history; `sonobench tasks restore sim-breast-lesion@1`" in listing
    assert "`sonobench tasks restore sim-breast-lesion@2`" not in listing


def test_submitting_to_an_archived_version_stores_nothing_and_names_the_restore(tmp_path):
    db = tmp_path / "r.db"
    model = tmp_path / "m.onnx"
    threshold_onnx(model)
    r = CliRunner().invoke(cli, ["submit", str(model), "--task", "sim-breast-lesion@1", "--db", str(db)])
    assert r.exit_code != 0 and "sonobench tasks restore sim-breast-lesion@1" in r.output
    assert not db.exists() or Store(db).db["submissions"].count == 0


@needs_git
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="the repository's own git history is needed")
def test_the_committed_v1_restores_from_this_repositorys_history():
    """From a (full) clone, the archived default-task version comes back byte for byte."""
    r = CliRunner().invoke(cli, ["tasks", "restore", "sim-breast-lesion@1"])
    assert r.exit_code == 0, r.output
    assert "all 300 cases match the manifest" in r.output
    task = get_task("sim-breast-lesion@1")
    from sonobench.kernel.paths import user_data_dir

    assert not task.archived and task.folder.is_relative_to(user_data_dir().resolve())
    verify_task(task)
    r = CliRunner().invoke(cli, ["tasks", "verify", "sim-breast-lesion@1"])
    assert r.exit_code == 0 and "all 300 cases match" in r.output


def test_without_tarfiles_data_filter_an_entry_leaving_the_folder_is_refused(tmp_path, monkeypatch):
    """Pythons before 3.10.12/3.11.4 lack tarfile's "data" filter; the hand-written checks refuse the same."""
    import io
    import tarfile

    from sonobench.evaluator import task_restore

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in ("v1/task.json", "../outside"):
            info = tarfile.TarInfo(name)
            info.size = 1
            t.addfile(info, io.BytesIO(b"x"))
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r|") as t, pytest.raises(TaskArchived, match="unexpected entry '../outside'"):
        task_restore._extract(t, tmp_path / "work")
    assert not (tmp_path / "outside").exists()
