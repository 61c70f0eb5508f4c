"""Every supported layout, as a miniature replica, imports end to end into a task
that loads, verifies, and holds 8-bit images with class-index labels."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sonobench.adapters import ADAPTERS
from sonobench.evaluator.tasks import get_task, verify_task

from .replicas import REPLICAS, make_bus_uclm, make_busbra, texture

CASES = {"busi": 15, "busbra": 14, "bus-uc": 11, "bus-uclm": 14, "yap2018": 12, "abdomenus": 15,
         "ultrabones100k": 32, "tn3k": 12, "ddti": 14, "udiat": 14, "mmotu2d": 15}


def test_every_adapter_has_a_replica():
    assert sorted(REPLICAS) == ADAPTERS.names() == sorted(CASES)


@pytest.mark.parametrize("name", sorted(REPLICAS))
def test_replica_imports_end_to_end(name, replica, run_import):
    report = run_import(name, replica(name))
    task = get_task(name)                                   # found on the task search path
    assert report.status == "created" and task.digest == report.task.digest
    verify_task(task)
    assert len(task.cases) == CASES[name]
    assert {c.split for c in task.cases} == {"train", "val", "test"}
    assert task.input_size == (256, 256) and task.input_channels == 1
    for case in task.cases:
        with Image.open(task.image_path(case)) as im, Image.open(task.label_path(case)) as lab:
            assert im.mode == "L" and lab.mode == "L" and im.size == lab.size
            assert np.asarray(lab).max() < task.num_classes
        assert case.meta["source"]
    assert task.source["adapter"] == name and task.source["split_rule"]


def _by_source(task):
    return {c.meta["source"]: c for c in task.cases}


def test_busi_merges_extra_masks_and_keeps_native_resolution(replica, run_import):
    root = replica("busi")
    task = run_import("busi", root).task
    case = _by_source(task)["benign/benign (1).png"]
    masks = [np.asarray(Image.open(root / "benign" / n)) > 127 for n in ("benign (1)_mask.png", "benign (1)_mask_1.png")]
    label = np.asarray(Image.open(task.label_path(case)))
    assert masks[0].any() and masks[1].any() and (masks[1] & ~masks[0]).any()
    assert np.array_equal(label, (masks[0] | masks[1]).astype(np.uint8))
    source = np.asarray(Image.open(root / "benign" / "benign (1).png").convert("L"))
    assert np.array_equal(np.asarray(Image.open(task.image_path(case))), source)
    assert task.native_size is None                          # sizes vary: no single native size
    normals = [c for c in task.cases if c.meta["stratum"] == "normal"]
    assert len(normals) == 4 and all(not np.asarray(Image.open(task.label_path(c))).any() for c in normals)
    assert {c.meta["stratum"] for c in task.split("test")} == {"benign", "malignant", "normal"}


def test_busbra_uses_the_published_partitions(replica, run_import):
    task = run_import("busbra", replica("busbra")).task
    for c in task.cases:
        fold = c.meta["fold"]
        assert c.split == {1: "test", 2: "val"}.get(fold, "train")
    assert "5-fold-cv.csv" in task.source["split_rule"]


def test_busbra_without_partitions_keeps_patients_whole(tmp_path, run_import):
    task = run_import("busbra", make_busbra(tmp_path / "copy", folds=False)).task
    by_patient = {}
    for c in task.cases:
        by_patient.setdefault(c.meta["patient"], set()).add(c.split)
    assert all(len(splits) == 1 for splits in by_patient.values())
    assert {c.meta["stratum"] for c in task.cases} == {"benign", "malignant"}


@pytest.mark.parametrize("info", [True, False])
def test_bus_uclm_strata_come_from_info_or_mask_colour(tmp_path, run_import, info):
    task = run_import("bus-uclm", make_bus_uclm(tmp_path / "copy", info=info)).task
    strata = {c.meta["source"]: c.meta["stratum"] for c in task.cases}
    assert strata["images/ALWI_000.png"] == "benign" and strata["images/ANAT_000.png"] == "malignant"
    assert strata["images/ALWI_002.png"] == "normal"
    patients = {}
    for c in task.cases:
        patients.setdefault(c.meta["patient"], set()).add(c.split)
    assert all(len(s) == 1 for s in patients.values())


def test_ultrabones_is_split_by_specimen_as_published(replica, run_import):
    task = run_import("ultrabones100k", replica("ultrabones100k")).task
    specimens = {}
    for c in task.cases:
        specimens.setdefault(c.meta["specimen"], set()).add(c.split)
    assert all(len(s) == 1 for s in specimens.values())
    assert {n for n, s in specimens.items() if s == {"test"}} == {2, 7, 8}
    val = {n for n, s in specimens.items() if s == {"val"}}
    assert val and val <= {1, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14}
    assert task.native_size == (40, 48)


def test_abdomenus_keeps_the_published_arrays_and_class_indices(replica, run_import):
    npz = replica("abdomenus")
    task = run_import("abdomenus", npz).task
    assert len(task.classes) == 9 and task.native_size == (32, 32)
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [8, 3, 4]
    arrays = np.load(npz)
    case = next(c for c in task.cases if c.id == "val_0002")
    assert np.array_equal(np.asarray(Image.open(task.label_path(case))), arrays["val_label"][2])
    assert np.array_equal(np.asarray(Image.open(task.image_path(case))), arrays["val_images"][2])


def test_us30k_split_files_are_followed(replica, run_import):
    tn3k = run_import("tn3k", replica("tn3k")).task                   # shared lists, no val list
    assert {c.id for c in tn3k.split("test")} == {f"test{i:04d}" for i in range(1, 5)}
    assert all(c.id.startswith("trainval") for c in tn3k.split("val"))
    ddti = run_import("ddti", replica("ddti")).task                   # own lists with val
    assert {c.id for c in ddti.split("val")} == {"val0001", "val0002"}
    udiat = run_import("udiat", replica("udiat")).task                # no lists: computed split
    assert "held-out test" in udiat.source["split_rule"]


def test_point_at_the_parent_folder(tmp_path, run_import):
    root = REPLICAS["yap2018"](tmp_path / "download")                  # .../download/DatasetB
    assert run_import("yap2018", root.parent).task.source["imported_from"] == str(root)


def test_rgb_images_become_luminance(tmp_path, run_import):
    root = REPLICAS["yap2018"](tmp_path / "copy")
    rgb = np.stack([texture(s, (40, 48)) for s in (5, 6, 7)], axis=2)      # 000001 is 40 x 48
    Image.fromarray(rgb).save(root / "original" / "000001.png")
    task = run_import("yap2018", root).task
    case = next(c for c in task.cases if c.id == "000001")
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(np.asarray(Image.open(task.image_path(case))), expected)
