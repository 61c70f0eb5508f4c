"""`sonobench export`: the .npz arrays equal the data API's, the nnU-Net v2 raw layout holds
what nnU-Net's dataset verification checks, image/mask folders, and private test labels never
leave (by the library or the command).

nnU-Net v2 installs with the pinned torch (`pip install -c constraints.txt nnunetv2` resolves
nnunetv2 2.7.0 beside torch 2.13.0+cpu), and its own `verify_dataset_integrity` runs on the export
whenever `nnunetv2` is importable (`test_nnunet_own_verification_passes_*`; skipped without it).
The schema check runs always and tests the same expectations, read from nnunetv2 2.7.0's
nnunetv2/experiment_planning/verify_dataset_integrity.py: dataset.json has
channel_names, labels (background 0, consecutive ints), numTraining and file_ending; every
training case has one `<case>_0000<ending>` image per channel and a `<case><ending>` label;
numTraining equals the number of labelled cases; label values are declared labels; image and
label shapes agree; plus the split nnU-Net reads as fold 0 of splits_final.json.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench import data
from sonobench.cli import cli
from sonobench.data.export import InvalidExport, export
from sonobench.evaluator.tasks import write_task
from sonobench.kernel.errors import ManifestMismatch


def _png(path):
    with Image.open(path) as im:
        return im.mode, np.asarray(im)


def _private_copy(task, root):
    shutil.copytree(task.data_root, root / "toy-private" / "v1" / "data")
    spec = {**json.loads((task.folder / "task.json").read_text()), "id": "toy-private", "test_labels_private": True}
    spec.pop("data_root")
    cases = [{"id": c.id, "split": c.split, "image": c.image, "label": c.label} for c in task.cases]
    return write_task(root / "toy-private" / "v1", spec, cases, data_root="data")


def test_the_npz_arrays_equal_the_data_api_arrays(toy_task, tmp_path):
    report = export("toy-lesion", "npz", tmp_path / "out")
    assert report.path == tmp_path / "out" / "toy-lesion_v1.npz" and report.counts == {"train": 12, "val": 6, "test": 6}
    with np.load(report.path, allow_pickle=False) as npz:
        assert list(npz["classes"]) == ["background", "lesion"]
        for split in ("train", "val", "test"):
            arrays = data.load_split("toy-lesion", split)
            np.testing.assert_array_equal(npz[f"{split}_images"], arrays.images)
            np.testing.assert_array_equal(npz[f"{split}_label"], arrays.labels)
            assert list(npz[f"{split}_case_ids"]) == arrays.case_ids
            assert npz[f"{split}_images"].dtype == np.uint8
    side = json.loads((tmp_path / "out" / "toy-lesion_v1.sonobench_export.json").read_text())
    assert side["task"] == "toy-lesion@1" and side["digest"] == toy_task.digest


def test_the_npz_at_the_input_size_equals_the_data_api_at_that_size(toy_task, tmp_path):
    report = export("toy-lesion", "npz", tmp_path, splits=["val"], size=(32, 32))
    with np.load(report.path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["classes", "val_case_ids", "val_images", "val_label"]
        np.testing.assert_array_equal(npz["val_images"], data.load_split("toy-lesion", "val", size=(32, 32)).images)


def _check_nnunet_schema(folder, task):
    """nnU-Net's verify_dataset_integrity expectations (see the module docstring), written out."""
    ds = json.loads((folder / "dataset.json").read_text())
    assert {"channel_names", "labels", "numTraining", "file_ending"} <= set(ds)
    assert ds["channel_names"] == {"0": "ultrasound"} and ds["file_ending"] == ".png"
    assert ds["labels"] == {name: i for i, name in enumerate(task.classes)} and ds["labels"]["background"] == 0
    train_ids = [c.id for c in task.split("train") + task.split("val")]
    assert ds["numTraining"] == len(train_ids)
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == sorted(f"{i}_0000.png" for i in train_ids)
    assert sorted(p.name for p in (folder / "labelsTr").iterdir()) == sorted(f"{i}.png" for i in train_ids)
    for cid in train_ids:
        mode_i, image = _png(folder / "imagesTr" / f"{cid}_0000.png")
        mode_l, label = _png(folder / "labelsTr" / f"{cid}.png")
        assert mode_i == mode_l == "L" and image.shape == label.shape
        assert set(np.unique(label)) <= set(ds["labels"].values())
    splits = json.loads((folder / "splits_final.json").read_text())
    assert splits[0] == {"train": [c.id for c in task.split("train")], "val": [c.id for c in task.split("val")]}
    test_images = sorted(f"{c.id}_0000.png" for c in task.split("test"))
    assert sorted(p.name for p in (folder / "imagesTs").iterdir()) == test_images
    return ds


def test_the_nnunet_layout_holds_what_nnunet_verifies(toy_task, tmp_path):
    report = export("toy-lesion", "nnunet", tmp_path / "raw", dataset_id=42)
    assert report.path == tmp_path / "raw" / "Dataset042_ToyLesionV1"
    _check_nnunet_schema(report.path, toy_task)
    arrays = data.load_split("toy-lesion", "train")
    for i, cid in enumerate(arrays.case_ids):
        np.testing.assert_array_equal(_png(report.path / "imagesTr" / f"{cid}_0000.png")[1], arrays.images[i])
        np.testing.assert_array_equal(_png(report.path / "labelsTr" / f"{cid}.png")[1], arrays.labels[i])
    assert len(list((report.path / "labelsTs").iterdir())) == 6  # this task's test labels are public


def _nnunet_verify(folder):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity")
    verify.verify_dataset_integrity(str(folder), num_processes=1)


def test_nnunet_own_verification_passes_the_toy_export(toy_task, tmp_path):
    _nnunet_verify(export("toy-lesion", "nnunet", tmp_path / "raw").path)


@pytest.mark.slow
def test_nnunet_own_verification_passes_sim_breast_lesion(tmp_path):
    folder = export("sim-breast-lesion", "nnunet", tmp_path / "raw").path
    _check_nnunet_schema(folder, data.resolve("sim-breast-lesion"))
    _nnunet_verify(folder)


def test_image_and_mask_folders(toy_task, tmp_path):
    export("toy-lesion", "folders", tmp_path / "f", splits=["train", "val"])
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["sonobench_export.json", "train", "val"]
    arrays = data.load_split("toy-lesion", "val")
    for i, cid in enumerate(arrays.case_ids):
        np.testing.assert_array_equal(_png(tmp_path / "f" / "val" / "images" / f"{cid}.png")[1], arrays.images[i])
        np.testing.assert_array_equal(_png(tmp_path / "f" / "val" / "masks" / f"{cid}.png")[1], arrays.labels[i])


@pytest.mark.parametrize("fmt", ["npz", "nnunet", "folders"])
def test_private_test_labels_never_leave(toy_task, tmp_path, fmt):
    private = _private_copy(toy_task, toy_task.folder.parent.parent)
    test_ids = {c.id for c in private.split("test")}
    report = export("toy-private", fmt, tmp_path / "out")
    assert report.labelled == {"train": True, "val": True, "test": False} and "private" in report.notes[0]
    if fmt == "npz":
        with np.load(report.path, allow_pickle=False) as npz:
            assert "test_label" not in npz.files and len(npz["test_images"]) == len(test_ids)
    else:
        masks = [p for p in report.path.rglob("*.png") if p.parent.name in ("labelsTs", "labelsTr", "masks")]
        assert masks and not any(p.stem in test_ids for p in masks)
        assert not (report.path / "labelsTs").exists() and not (report.path / "test" / "masks").exists()
    with pytest.raises(data.PrivateLabels):
        export("toy-private", fmt, tmp_path / "asked", splits=["test"])
    assert not (tmp_path / "asked").exists()


def test_the_command_refuses_private_labels_with_one_error_and_writes_nothing(toy_task, tmp_path):
    _private_copy(toy_task, toy_task.folder.parent.parent)
    out = tmp_path / "x"
    result = CliRunner().invoke(cli, ["export", "toy-private", "--format", "folders", "--out", str(out),
                                      "--split", "test"])
    assert result.exit_code == 1 and result.output.startswith("Error: The test labels of toy-private@1 are private")
    assert not out.exists()
    ok = CliRunner().invoke(cli, ["export", "toy-private", "--format", "folders", "--out", str(out),
                                  "--split", "test", "--images-only"])
    assert ok.exit_code == 0, ok.output
    assert "test 6 (images only)" in ok.output
    assert sorted(p.name for p in (out / "test").iterdir()) == ["images"]
    assert len(list((out / "test" / "images").iterdir())) == 6


def test_the_command_writes_nnunet_and_says_where(toy_task, tmp_path):
    result = CliRunner().invoke(cli, ["export", "toy-lesion", "--format", "nnunet", "--out", str(tmp_path),
                                      "--dataset-id", "7"])
    assert result.exit_code == 0, result.output
    assert "train 12, val 6, test 6 cases as nnunet" in result.output and "Dataset007_ToyLesionV1" in result.output
    bad = CliRunner().invoke(cli, ["export", "toy-lesion", "--format", "npz", "--out", str(tmp_path), "--size", "big"])
    assert bad.exit_code == 1 and "Error: --size takes native, input or HxW" in bad.output


def test_refusals_write_nothing(toy_task, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidExport, match="not empty"):
        export("toy-lesion", "folders", tmp_path / "full")
    with pytest.raises(InvalidExport, match="Did you mean 'npz'"):
        export("toy-lesion", "npy", tmp_path / "a")
    with pytest.raises(InvalidExport, match="--images-only exports only the test split"):
        export("toy-lesion", "nnunet", tmp_path / "b", images_only=True)
    label = toy_task.label_path(toy_task.split("val")[0])
    label.write_bytes(label.read_bytes() + b"\0")
    with pytest.raises(ManifestMismatch, match=toy_task.split("val")[0].id):
        export("toy-lesion", "folders", tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["keep.txt"]


def test_an_unknown_format_names_the_valid_ones():
    from sonobench.data.export import ExportFormat, InvalidExport
    with pytest.raises(InvalidExport, match=r"Unknown export format 'nnUnet'. Valid choices: nnunet, npz, folders. "
                                            r"Did you mean 'nnunet'\?"):
        ExportFormat.parse("nnUnet")
