"""Malformed copies fail before anything is written, with messages naming the file."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.adapters import LayoutError
from sonobench.cli import cli
from sonobench.evaluator.tasks import user_data_dir

from .replicas import REPLICAS, save, texture


def _flip_byte(path, offset=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _fails(run_import, name, root, *expected):
    with pytest.raises(LayoutError) as err:
        run_import(name, root)
    for text in expected:
        assert text in str(err.value), str(err.value)
    tasks = user_data_dir() / "tasks"
    assert not tasks.exists() or not any(p.name == name or p.name.startswith(".import") for p in tasks.iterdir())
    return str(err.value)


def test_missing_mask_is_named(replica, run_import):
    root = replica("busi")
    (root / "benign" / "benign (3)_mask.png").unlink()
    _fails(run_import, "busi", root, "benign/benign (3).png: no mask (expected benign/benign (3)_mask.png)")


def test_orphan_extra_mask_and_missing_class_folder_are_named(replica, run_import):
    root = replica("busi")
    save(root / "malignant" / "malignant (9)_mask_1.png", np.zeros((8, 8), np.uint8))
    for f in (root / "normal").iterdir():
        f.unlink()
    (root / "normal").rmdir()
    _fails(run_import, "busi", root, "malignant/malignant (9)_mask_1.png: mask without an image",
           "normal/: folder is missing")


def test_unreadable_image_is_named(replica, run_import):
    root = replica("busbra")
    _flip_byte(root / "Images" / "bus_0003-l.png")
    _fails(run_import, "busbra", root, "Images/bus_0003-l.png: cannot be read as an image")


def test_unreadable_mask_is_named(replica, run_import):
    root = replica("bus-uc")
    (root / "Malignant" / "masks" / "002.png").write_bytes(b"not a png")
    _fails(run_import, "bus-uc", root, "Malignant/masks/002.png: cannot be read as an image")


@pytest.mark.parametrize("name, mask", [("yap2018", "GT/000003.png"), ("tn3k", "label/trainval0002.png"),
                                        ("ultrabones100k", None)])
def test_mask_of_wrong_size_is_named(replica, run_import, name, mask):
    root = replica(name)
    if mask is None:
        mask = next(p for p in sorted(root.rglob("*_label.png"))).relative_to(root).as_posix()
    image_size = Image.open(root / mask).size
    save(root / mask, np.zeros((image_size[1] + 3, image_size[0]), np.uint8))
    msg = _fails(run_import, name, root, f"{mask}: mask is {image_size[0]}x{image_size[1] + 3} px but its image")
    assert f"is {image_size[0]}x{image_size[1]} px" in msg


def test_uclm_mask_with_an_unknown_colour_is_named(replica, run_import):
    root = replica("bus-uclm")
    rgb = np.zeros((48, 40, 3), np.uint8)
    rgb[10:20, 10:20, 2] = 255                                   # blue: neither benign nor malignant
    save(root / "masks" / "ANAT_000.png", rgb)
    _fails(run_import, "bus-uclm", root, "masks/ANAT_000.png: 100 pixel(s) are neither black, green")


def test_busbra_metadata_gaps_are_named(replica, run_import):
    root = replica("busbra")
    save(root / "Images" / "bus_0099-l.png", texture(1, (40, 40)))
    save(root / "Masks" / "mask_0099-l.png", np.zeros((40, 40), np.uint8))
    (root / "Images" / "bus_0010-l.png").unlink()
    (root / "Masks" / "mask_0010-l.png").unlink()
    _fails(run_import, "busbra", root, "Images/bus_0099-l.png: not listed in bus_data.csv",
           "Images/bus_0099-l.png: not listed in 5-fold-cv.csv",
           "bus_0010-l: listed in the metadata but Images/bus_0010-l.png is missing")


def test_abdomenus_missing_array_and_bad_class_index(tmp_path, run_import):
    arrays = dict(np.load(REPLICAS["abdomenus"](tmp_path / "a")))
    del arrays["val_label"]
    np.savez(tmp_path / "a" / "abdomenus_256.npz", **arrays)
    _fails(run_import, "abdomenus", tmp_path / "a", "abdomenus_256.npz: lacks array(s) val_label")
    arrays = dict(np.load(REPLICAS["abdomenus"](tmp_path / "b")))
    arrays["test_label"][1, 0, 0] = 12
    np.savez(tmp_path / "b" / "abdomenus_256.npz", **arrays)
    _fails(run_import, "abdomenus", tmp_path / "b", "abdomenus_256.npz:test_label[1]: label holds class index 12")


def test_abdomenus_npz_with_one_byte_changed_is_named(replica, run_import):
    npz = replica("abdomenus")
    _flip_byte(npz)
    _fails(run_import, "abdomenus", npz, "abdomenus_256.npz: cannot be read")


def test_ultrabones_missing_specimen_and_unknown_specimen(tmp_path, run_import):
    root = REPLICAS["ultrabones100k"](tmp_path / "copy")
    import shutil
    shutil.rmtree(next(root.glob("cadaver07_*")))
    (root / "cadaver15_X" / "record01").mkdir(parents=True)
    _fails(run_import, "ultrabones100k", root, "specimen 7 (test) is missing",
           "cadaver15_X/: specimen 15 is in neither the published training specimens")


def test_us30k_split_list_naming_a_missing_image(replica, run_import):
    ds = replica("tn3k")
    (ds / "img" / "test0002.png").unlink()
    (ds / "label" / "test0002.png").unlink()
    _fails(run_import, "tn3k", ds, "../MainPatient/test-ThyroidNodule-TN3K.txt: lists 'test0002' but img/test0002.png "
                                   "is missing")


def test_cli_prints_the_named_file_and_exits_1(replica, splits_dir):
    root = replica("busi")
    (root / "malignant" / "malignant (2)_mask.png").unlink()
    r = CliRunner().invoke(cli, ["datasets", "import", "busi", str(root), "--splits-dir", str(splits_dir)])
    assert r.exit_code == 1
    assert r.output.startswith("Error: BUSI copy at")
    assert "malignant/malignant (2).png: no mask" in r.output
