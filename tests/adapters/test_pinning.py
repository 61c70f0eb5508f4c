"""The first import pins the task; later imports of a copy are compared with it
file by file, and pinned split lists fix the split for everyone."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from sonobench.adapters import CopyMismatch, LayoutError, SplitListMismatch
from sonobench.evaluator.tasks import get_task, verify_task

from .replicas import save, texture


def test_same_copy_twice_gives_the_same_digest(replica, run_import, tmp_path):
    root = replica("busi")
    first = run_import("busi", root)
    again = run_import("busi", root)
    assert again.status == "unchanged" and again.task.digest == first.task.digest
    elsewhere = shutil.copytree(root, tmp_path / "second-copy")               # another user's identical copy
    other = run_import("busi", elsewhere, out=tmp_path / "other-tasks")
    assert other.status == "created" and other.task.digest == first.task.digest


@pytest.mark.parametrize("name", ["bus-uclm", "ultrabones100k", "abdomenus"])
def test_digest_is_reproducible_across_adapters(name, replica, run_import, tmp_path):
    root = replica(name)
    a = run_import(name, root).task.digest
    assert run_import(name, root, out=tmp_path / "again").task.digest == a


def test_a_changed_pixel_is_reported_naming_the_file(replica, run_import):
    root = replica("busi")
    before = run_import("busi", root).task
    path = root / "benign" / "benign (2).png"
    pixels = np.asarray(Image.open(path)).copy()
    pixels[5, 5] ^= 1                                                         # one value, one bit
    save(path, pixels)
    with pytest.raises(CopyMismatch) as err:
        run_import("busi", root)
    msg = str(err.value)
    assert "changed: benign/benign (2).png (SHA-256 differs)" in msg
    assert "case benign_2: converted image differs (source benign/benign (2).png)" in msg
    assert err.value.cases == ["benign_2"]
    task = get_task("busi")                                                   # the frozen version is untouched
    assert task.digest == before.digest
    verify_task(task)


def test_a_changed_byte_in_an_image_file_is_named(replica, run_import):
    root = replica("yap2018")
    run_import("yap2018", root)
    path = root / "original" / "000004.png"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(LayoutError, match=r"original/000004.png: cannot be read as an image"):
        run_import("yap2018", root)


def test_a_changed_byte_in_metadata_is_reported_but_scoring_is_unchanged(replica, run_import):
    root = replica("busbra")
    first = run_import("busbra", root)
    csv = root / "bus_data.csv"
    csv.write_bytes(csv.read_bytes().replace(b"histology", b"Histology", 1))   # one byte
    again = run_import("busbra", root)
    assert again.status == "unchanged" and again.task.digest == first.task.digest
    assert any("changed: bus_data.csv" in note for note in again.notes)


def test_missing_and_new_files_are_reported(replica, run_import):
    root = replica("bus-uc")
    run_import("bus-uc", root)
    (root / "Benign" / "images" / "004.png").unlink()
    (root / "Benign" / "masks" / "004.png").unlink()
    save(root / "Malignant" / "images" / "077.png", texture(77, (40, 40)))
    save(root / "Malignant" / "masks" / "077.png", np.zeros((40, 40), np.uint8))
    with pytest.raises(CopyMismatch) as err:
        run_import("bus-uc", root)
    msg = str(err.value)
    for text in ("missing: Benign/images/004.png", "missing: Benign/masks/004.png", "new: Malignant/images/077.png",
                 "missing: case Benign/images/004.png", "new: case Malignant/images/077.png"):
        assert text in msg, msg


def test_a_new_version_freezes_a_changed_copy(replica, run_import):
    root = replica("yap2018")
    run_import("yap2018", root)
    save(root / "GT" / "000005.png", np.zeros(Image.open(root / "GT" / "000005.png").size[::-1], np.uint8))
    with pytest.raises(CopyMismatch, match="label differs"):
        run_import("yap2018", root)
    v2 = run_import("yap2018", root, version=2).task
    assert v2.ref == "yap2018@2" and get_task("yap2018").version == 2 and get_task("yap2018@1").version == 1


def test_frozen_split_lists_fix_the_split(replica, run_import, splits_dir, tmp_path):
    root = replica("busi")
    first = run_import("busi", root, freeze_lists=True)
    lists = splits_dir / "busi"
    assert first.lists_dir == lists
    for split in ("train", "val", "test"):
        listed = [x for x in (lists / f"{split}.txt").read_text().splitlines() if not x.startswith("#")]
        assert sorted(listed) == sorted(c.meta["source"] for c in first.task.split(split))
    import csv
    with open(lists / "folds.csv", newline="") as f:
        folds = {row["file"]: int(row["fold"]) for row in csv.DictReader(f)}
    assert folds == {c.meta["source"]: c.meta["fold"] for c in first.task.cases if c.split != "test"}
    # another operator, another seed: the pinned lists win, so the task is identical
    other = run_import("busi", shutil.copytree(root, tmp_path / "theirs"), out=tmp_path / "their-tasks", seed=7)
    assert other.task.digest == first.task.digest and other.split_rule.startswith("pinned")


def test_pinned_lists_refuse_a_copy_with_other_files(replica, run_import, splits_dir):
    root = replica("busi")
    run_import("busi", root, freeze_lists=True, task_id="busi-pinned")
    (root / "normal" / "normal (2).png").unlink()
    (root / "normal" / "normal (2)_mask.png").unlink()
    save(root / "normal" / "normal (9).png", texture(9, (40, 40)))
    save(root / "normal" / "normal (9)_mask.png", np.zeros((40, 40), np.uint8))
    shutil.copytree(splits_dir / "busi-pinned", splits_dir / "busi-other-home")
    with pytest.raises(SplitListMismatch) as err:
        run_import("busi", root, task_id="busi-other-home")
    assert err.value.missing == ["normal/normal (2).png"] and err.value.new == ["normal/normal (9).png"]
    assert "normal/normal (9).png" in str(err.value)
