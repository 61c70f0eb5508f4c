"""Hostile prediction files: every bad input gets one `Error:` line and leaves the store as it was."""
import io
import os
import stat
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.evaluator.predictions import MAX_ZIP_RATIO, file_limit
from sonobench.evaluator.store import Store
from sonobench.kernel import imageio

TABLES = ("submissions", "results", "case_results", "predictions", "jobs")


def _png(mask, mode="L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8)).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def _npz(array) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, array)
    return buf.getvalue()


@pytest.fixture
def setup(toy_task, tmp_path):
    """A store holding one scored prediction submission, and the task's good masks as PNG bytes."""
    masks = {c.id: imageio.load_label(toy_task.label_path(c)) for c in toy_task.split("test")}
    good = tmp_path / "good"
    good.mkdir()
    for k, m in masks.items():
        (good / f"{k}.png").write_bytes(_png(m))
    db = tmp_path / "r.db"
    first = _submit(good, db, "--name", "first")
    assert first.exit_code == 0, first.output
    return {"task": toy_task, "masks": masks, "db": db, "tmp": tmp_path, "snapshot": _snapshot(db)}


def _submit(path, db, *extra):
    return CliRunner().invoke(cli, ["submit", str(path), "--predictions", "--task", "toy-lesion", "--db", str(db),
                                    *extra])


def _snapshot(db) -> dict:
    with Store(db) as store:
        return {t: [dict(r) for r in store.db.query(f"select * from {t} order by rowid")] for t in TABLES
                if store.db[t].exists()}


def _folder(setup, name, files: dict) -> str:
    folder = setup["tmp"] / name
    folder.mkdir()
    for fname, data in files.items():
        (folder / fname).write_bytes(data)
    return str(folder)


def _good_files(setup, fn=_png) -> dict:
    return {f"{k}.png" if fn is _png else f"{k}.npz": fn(m) for k, m in setup["masks"].items()}


def _zip(setup, name, files: dict, compression=zipfile.ZIP_DEFLATED) -> str:
    path = setup["tmp"] / name
    with zipfile.ZipFile(path, "w", compression) as zf:
        for fname, data in files.items():
            zf.writestr(fname, data)
    return str(path)


def _refused(setup, path, *words):
    out = _submit(path, setup["db"])
    assert out.exit_code == 1, out.output
    errors = [line for line in out.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, out.output
    for w in words:
        assert w in errors[0], errors[0]
    assert _snapshot(setup["db"]) == setup["snapshot"]  # nothing stored, nothing changed
    return errors[0]


def test_a_missing_case_is_refused_and_named(setup):
    files = _good_files(setup)
    gone = sorted(files)[0]
    del files[gone]
    _refused(setup, _folder(setup, "missing", files), "have no prediction", gone.removesuffix(".png"))


def test_an_extra_file_is_refused_and_named(setup):
    files = {**_good_files(setup), "not-a-case.png": _png(np.zeros((4, 4)))}
    _refused(setup, _folder(setup, "extra", files), "not-a-case.png")


def test_a_wrong_size_is_refused_before_decoding(setup):
    files = _good_files(setup)
    k = sorted(files)[0]
    files[k] = _png(np.zeros((7, 9)))
    _refused(setup, _folder(setup, "size", files), "7 x 9", "native size")


def test_an_rgb_png_and_a_float_npz_are_wrong_dtypes(setup):
    files = _good_files(setup)
    k = sorted(files)[0]
    files[k] = _png(setup["masks"][k.removesuffix(".png")], mode="RGB")
    _refused(setup, _folder(setup, "rgb", files), "mode RGB")
    npz = _good_files(setup, _npz)
    k = sorted(npz)[0]
    npz[k] = _npz(setup["masks"][k.removesuffix(".npz")].astype(np.float32))
    _refused(setup, _folder(setup, "float", npz), "float32")


def test_label_values_out_of_range_are_refused(setup):
    files = _good_files(setup)
    k = sorted(files)[0]
    files[k] = _png(np.full(setup["masks"][k.removesuffix(".png")].shape, 7))
    _refused(setup, _folder(setup, "range", files), "label value 7", "classes 0 .. 1")


def test_an_object_array_npz_is_refused_without_unpickling(setup):
    files = _good_files(setup, _npz)
    k = sorted(files)[0]
    buf = io.BytesIO()
    np.savez(buf, np.array([{"x": 1}], dtype=object))
    files[k] = buf.getvalue()
    _refused(setup, _folder(setup, "pickle", files), "object arrays are refused")


def test_a_zip_bomb_is_refused_by_size_and_by_ratio(setup):
    files = _good_files(setup)
    k = sorted(files)[0]
    limit = file_limit(setup["task"], setup["task"].split("test"))
    files[k] = b"\0" * (limit * 4)  # declares more than any mask of the task can be
    _refused(setup, _zip(setup, "bomb.zip", files), "unpacks to", "zip bomb")
    files[k] = b"\0" * (limit - 1)  # within the size limit, but compressed ~1000:1
    _refused(setup, _zip(setup, "dense.zip", files), f"over the limit of {MAX_ZIP_RATIO:.0f}:1", "zip bomb")


def test_a_path_traversal_member_is_refused(setup):
    files = _good_files(setup)
    k = sorted(files)[0]
    files[f"../{k}"] = files.pop(k)
    _refused(setup, _zip(setup, "traversal.zip", files), "../", "path traversal")


def test_a_zipped_folder_is_refused_with_how_to_zip(setup):
    files = {f"preds/{k}": v for k, v in _good_files(setup).items()}
    _refused(setup, _zip(setup, "nested.zip", files), "zip the files, not their folder")


def test_a_symlink_in_a_folder_is_refused(setup):
    folder = _folder(setup, "links", _good_files(setup))
    victim = sorted(os.listdir(folder))[0]
    os.remove(os.path.join(folder, victim))
    os.symlink(setup["task"].label_path(setup["task"].split("test")[0]), os.path.join(folder, victim))
    _refused(setup, folder, "symbolic link")


def test_a_symlink_member_of_a_zip_is_refused(setup):
    files = _good_files(setup)
    k = sorted(files)[0]
    path = setup["tmp"] / "symlink.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            if name == k:
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, "/etc/passwd")
            else:
                zf.writestr(name, data)
    _refused(setup, str(path), "symbolic link")


def test_a_sub_folder_is_refused(setup):
    folder = _folder(setup, "subdir", _good_files(setup))
    os.mkdir(os.path.join(folder, "more"))
    _refused(setup, folder, "folder", "no sub-folders")


def test_a_text_file_is_neither_a_folder_nor_a_zip(setup):
    path = setup["tmp"] / "notes.txt"
    path.write_text("hello")
    _refused(setup, str(path), "neither a folder nor a zip")
