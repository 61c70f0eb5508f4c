"""Reference files are per task version (`<id>@<version>.json.gz`, or a plain `.json` written by an
older SonoBench or by hand); a file under the older name `<id>.json` is still read, for the version
it declares; a file naming another version than its own, or one that is not a readable reference
file, is refused; compressed files are written byte-for-byte reproducibly."""
import json

import pytest

from sonobench.baselines.reference import (
    ReferenceMismatch,
    read_reference,
    reference_path,
    reference_versions,
    write_json,
)


def _ref(version, rows=()):
    return {"format": 1, "task": "toy-lesion", "task_version": version, "manifest_digest": "d" * 64,
            "note": "", "rows": list(rows)}


def test_versions_are_read_apart_and_the_newest_is_the_default(tmp_path):
    write_json(reference_path("toy-lesion", 1, tmp_path), _ref(1, [{"model": "a"}]))
    (tmp_path / "toy-lesion@2.json").write_text(json.dumps(_ref(2, [{"model": "b"}])))  # plain: still read
    (tmp_path / "toy-lesion-shift-x@2.json").write_text(json.dumps({**_ref(2), "task": "toy-lesion-shift-x"}))
    assert reference_path("toy-lesion", 1, tmp_path).name == "toy-lesion@1.json.gz"
    assert reference_versions("toy-lesion", tmp_path) == [1, 2]
    assert read_reference("toy-lesion", tmp_path)["rows"] == [{"model": "b"}]
    assert read_reference("toy-lesion", tmp_path, version=1)["rows"] == [{"model": "a"}]
    assert read_reference("toy-lesion", tmp_path, version=3) is None


def test_the_older_file_name_is_read_for_the_version_it_declares(tmp_path):
    (tmp_path / "toy-lesion.json").write_text(json.dumps(_ref(1, [{"model": "a"}])))
    assert reference_versions("toy-lesion", tmp_path) == [1]
    assert read_reference("toy-lesion", tmp_path, version=1)["rows"] == [{"model": "a"}]
    assert read_reference("toy-lesion", tmp_path, version=2) is None


def test_a_file_holding_another_version_is_refused(tmp_path):
    write_json(reference_path("toy-lesion", 2, tmp_path), _ref(1))
    with pytest.raises(ReferenceMismatch, match="holds results for toy-lesion@1, not @2"):
        read_reference("toy-lesion", tmp_path, version=2)


def test_a_damaged_compressed_file_is_refused_with_what_to_do(tmp_path):
    path = write_json(reference_path("toy-lesion", 1, tmp_path), _ref(1))
    path.write_bytes(path.read_bytes()[:-9])  # truncated
    with pytest.raises(ReferenceMismatch, match="restore it from version control"):
        read_reference("toy-lesion", tmp_path, version=1)


def test_compressed_files_are_reproducible_byte_for_byte(tmp_path):
    a = write_json(tmp_path / "a@1.json.gz", _ref(1, [{"model": "a"}])).read_bytes()
    b = write_json(tmp_path / "b@1.json.gz", _ref(1, [{"model": "a"}])).read_bytes()
    assert a == b and a[:2] == b"\x1f\x8b"
