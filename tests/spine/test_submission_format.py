import zipfile

import pytest

from sonobench.evaluator.submission import Format, prepare, read_spec, sniff_format
from sonobench.kernel.errors import InvalidSubmission


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for m in members:  # pickles must parse: an unreadable one is refused, never "only weights"
            z.writestr(m, b"\x80\x02}q\x00." if m.endswith(".pkl") else b"x")
    return path


@pytest.mark.parametrize("members,fmt", [
    (["archive/data.pkl", "archive/code/__torch__.py", "archive/constants.pkl"], Format.TORCHSCRIPT),
    (["m/archive_format", "m/models/model.json"], Format.EXPORT),
    (["archive/data.pkl", "archive/data/0"], Format.STATE_DICT),
])
def test_torch_archives_are_told_apart_by_content(tmp_path, members, fmt):
    assert sniff_format(_zip(tmp_path / "model.pt", members)) is fmt


def test_onnx_and_pickles(tmp_path, toy_onnx):
    assert sniff_format(toy_onnx) is Format.ONNX
    legacy = tmp_path / "model.pt"
    legacy.write_bytes(b"\x80\x02cbuiltins\n")
    assert sniff_format(legacy) is Format.PICKLE
    disguised = tmp_path / "evil.onnx"
    disguised.write_bytes(b"\x80\x04\x95")
    with pytest.raises(InvalidSubmission, match="holds a PyTorch archive/pickle"):
        sniff_format(disguised)


@pytest.mark.parametrize("name,content,match", [
    ("empty.onnx", b"", "is empty"),
    ("model.txt", b"hello", "unsupported file type '.txt'"),
    ("trunc.pt", b"PK\x03\x04garbage", "damaged zip archive"),
    ("noise.pt", b"\x00\x01\x02", "not a PyTorch archive"),
])
def test_bad_files_get_a_clear_reason(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InvalidSubmission, match=match):
        prepare(p)


def test_missing_path_and_weights_without_architecture(tmp_path):
    with pytest.raises(InvalidSubmission, match="No model file"):
        prepare(tmp_path / "nope.onnx")
    (tmp_path / "w.safetensors").write_bytes(b"{}")
    with pytest.raises(InvalidSubmission, match="name the architecture"):
        prepare(tmp_path / "w.safetensors")


def test_spec_is_validated(tmp_path, toy_onnx):
    spec = tmp_path / "submission.json"
    spec.write_text('{"name": "A", "teem": "x"}')
    with pytest.raises(InvalidSubmission, match="unknown key 'teem'.*Did you mean 'team'"):
        read_spec(spec)
    spec.write_text('{"name": "A", "team": "T", "task": "toy-lesion", "output": "probabilities"}')
    sub = prepare(toy_onnx, read_spec(spec), team="override")
    assert (sub.name, sub.team, sub.task, sub.output.value) == ("A", "override", "toy-lesion", "probabilities")
    assert len(sub.sha256) == 64
