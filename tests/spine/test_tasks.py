import json
import shutil

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.cli.toy import build_toy_task
from sonobench.evaluator import tasks
from sonobench.kernel.errors import ManifestMismatch, TaskNotFound


def test_manifest_pins_every_file_and_digest_is_stable(tmp_path):
    a = build_toy_task(tmp_path / "a" / "v1")
    b = build_toy_task(tmp_path / "b" / "v1")
    assert a.digest == b.digest and len(a.digest) == 64
    assert all(len(c.image_sha256) == 64 and len(c.label_sha256) == 64 for c in a.cases)
    assert {c.split for c in a.cases} == {"train", "val", "test"}
    c = build_toy_task(tmp_path / "c" / "v1", seed=1)
    assert c.digest != a.digest


def test_tampered_label_is_named(toy_task):
    case = toy_task.split("test")[2]
    path = toy_task.label_path(case)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ManifestMismatch) as e:
        tasks.verify_task(toy_task)
    assert case.id in str(e.value) and e.value.cases == [case.id]


def test_missing_image_is_named(toy_task):
    case = toy_task.split("train")[0]
    toy_task.image_path(case).unlink()
    with pytest.raises(ManifestMismatch, match=f"{case.id}: image missing"):
        tasks.verify_task(toy_task)


def test_edited_manifest_is_refused(toy_task):
    man = toy_task.folder / "manifest.json"
    data = json.loads(man.read_text())
    data["cases"][0]["split"] = "test" if data["cases"][0]["split"] != "test" else "train"
    man.write_text(json.dumps(data))
    with pytest.raises(ManifestMismatch, match="new task version"):
        tasks.get_task("toy-lesion")


def test_private_labels_root(toy_task, tmp_path):
    private = tmp_path / "private"
    for c in toy_task.split("test"):
        dst = private / c.label
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(toy_task.label_path(c), dst)
    with pytest.raises(ManifestMismatch):
        tasks.verify_task(toy_task, splits=("test",))
    tasks.verify_task(toy_task, splits=("test",), labels_root=private)


def test_versions_and_refs(toy_task, tmp_path):
    build_toy_task(toy_task.folder.parent / "v2", version=2, seed=3)
    assert tasks.get_task("toy-lesion").version == 2
    assert tasks.get_task("toy-lesion@1").digest == toy_task.digest
    with pytest.raises(TaskNotFound, match="Versions: 1, 2"):
        tasks.get_task("toy-lesion@7")
    with pytest.raises(TaskNotFound, match="Did you mean 'toy-lesion'"):
        tasks.get_task("toy-lesoin")


def test_write_task_refuses_to_refreeze_a_different_split(toy_task):
    with pytest.raises(ManifestMismatch, match="new version"):
        build_toy_task(toy_task.folder, seed=9)


def test_cli_tasks_list_and_verify(toy_task):
    r = CliRunner().invoke(cli, ["tasks", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["id"]: row for row in json.loads(r.output)}
    assert rows["toy-lesion"]["splits"] == {"train": 12, "val": 6, "test": 6}
    r = CliRunner().invoke(cli, ["tasks", "verify", "toy-lesion"])
    assert r.exit_code == 0 and "all 24 cases match" in r.output
    toy_task.image_path(toy_task.cases[0]).write_bytes(b"tampered")
    r = CliRunner().invoke(cli, ["tasks", "verify", "toy-lesion"])
    assert r.exit_code == 1
    assert r.output.startswith("Error: Task toy-lesion@1: 1 file(s) do not match") and toy_task.cases[0].id in r.output
