"""Format hardening: external data that stays in its folder is scored; archives and
pickles are judged from their bytes."""
import io
import pickle
import zipfile

import pytest
from onnx import TensorProto, helper

from sonobench.evaluator.evaluate import evaluate
from sonobench.evaluator.sandbox import archives, onnx_checks
from sonobench.evaluator.submission import FileLimits, Format, inspect, prepare
from sonobench.kernel.errors import InvalidSubmission
from sonobench.kernel.settings import Settings


@pytest.fixture(scope="module")
def dynamo_export(tmp_path_factory):
    """torch.onnx.export(dynamo=True) writes model.onnx + model.onnx.data."""
    torch = pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("dynamo")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 1, 3, padding=1))
    torch.onnx.export(net, (torch.rand(1, 1, 64, 64),), str(out / "model.onnx"), dynamo=True, external_data=True,
                      input_names=["image"], output_names=["logits"])
    assert (out / "model.onnx.data").stat().st_size > 0  # small tensors stay inline
    return out


@pytest.mark.slow
def test_external_data_next_to_the_model_is_scored(file_store, toy_task, dynamo_export, tmp_path):
    sub = prepare(dynamo_export / "model.onnx")
    assert [c.name for c in sub.companions] == ["model.onnx.data"]
    out = evaluate(file_store, toy_task, sub, settings=Settings())
    assert out.result["hardware"]["sandbox"]["external_data"] == ["model.onnx.data"]
    # the same upload as a folder is the same submission (same digest)
    assert prepare(dynamo_export).sha256 == sub.sha256
    # the weights are part of the identity: other weights, other submission
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.onnx").write_bytes((dynamo_export / "model.onnx").read_bytes())
    data = bytearray((dynamo_export / "model.onnx.data").read_bytes())
    data[0] ^= 1
    (other / "model.onnx.data").write_bytes(bytes(data))
    assert prepare(other).sha256 != sub.sha256


def test_folder_must_hold_one_model(tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"x")
    (tmp_path / "b.onnx").write_bytes(b"x")
    with pytest.raises(InvalidSubmission, match="exactly one model file .*found a.onnx, b.onnx"):
        prepare(tmp_path)
    (tmp_path / "b.onnx").unlink()
    (tmp_path / "c.pt").write_bytes(b"x")
    (tmp_path / "a.onnx").rename(tmp_path / "a.txt")
    (tmp_path / "d.pt").write_bytes(b"x")
    with pytest.raises(InvalidSubmission, match="found c.pt, d.pt"):
        prepare(tmp_path)


def _onnx_with_external(folder, location, length=4):
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        t.external_data.add(key=k, value=v)
    graph = helper.make_graph([helper.make_node("Mul", ["image", "w"], ["out"])], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [t])
    return helper.make_model(graph).SerializeToString()


@pytest.mark.parametrize("location,problem", [
    ("../secret", "contains '..'"), ("a/../../secret", "contains '..'"), ("/etc/passwd", "is an absolute path"),
    ("C:\\\\x", "is an absolute path"), ("nothere.bin", "was not uploaded with the model"), ("", "is empty"),
    ("link.bin", "is a symbolic link"),
])
def test_external_locations_that_leave_the_folder_are_refused(tmp_path, location, problem):
    (tmp_path / "link.bin").symlink_to("/etc/hostname")
    with pytest.raises(onnx_checks.OnnxRejected, match=problem.replace("(", r"\(")):
        onnx_checks.check(_onnx_with_external(tmp_path, location), str(tmp_path), ("",))


def test_external_data_past_the_end_of_its_file(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 4)
    assert onnx_checks.check(_onnx_with_external(tmp_path, "w.bin"), str(tmp_path), ("",))[1] == ["w.bin"]
    with pytest.raises(onnx_checks.OnnxRejected, match="reads bytes 0..64 of 'w.bin', which has only 4 bytes"):
        onnx_checks.check(_onnx_with_external(tmp_path, "w.bin", length=64), str(tmp_path), ("",))


def test_domains_inside_subgraphs_and_local_functions(tmp_path):
    evil = helper.make_graph([helper.make_node("Steal", ["c"], ["o"], domain="com.evil")], "then", [],
                             [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    graph = helper.make_graph([helper.make_node("If", ["cond"], ["out"], then_branch=evil, else_branch=evil)], "g",
                              [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    with pytest.raises(onnx_checks.OnnxRejected, match="operator domain 'com.evil'"):
        onnx_checks.check(helper.make_model(graph).SerializeToString(), str(tmp_path), ("",))
    fn = helper.make_function("my.local", "Double", ["x"], ["y"], [helper.make_node("Add", ["x", "x"], ["y"])],
                              [helper.make_opsetid("", 17)])
    graph = helper.make_graph([helper.make_node("Double", ["image"], ["out"], domain="my.local")], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, functions=[fn], opset_imports=[helper.make_opsetid("", 17),
                                                                     helper.make_opsetid("my.local", 1)])
    onnx_checks.check(model.SerializeToString(), str(tmp_path), ("",))  # a model-local function is fine


def _torch_zip(path, members: dict):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_pickles_are_told_from_state_dicts_without_running_them(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    torch.save(net.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(net, tmp_path / "module.pt")
    for name in ("sd", "ckpt", "legacy"):
        assert inspect(tmp_path / f"{name}.pt") == (Format.STATE_DICT, ()), name
    fmt, found = inspect(tmp_path / "module.pt")
    assert fmt is Format.PICKLE and "torch.nn.modules.container.Sequential" in found

    class Evil:
        def __reduce__(self):
            return (print, ("never printed",))

    for proto in (2, 4, 5):  # STACK_GLOBAL and memoised names are resolved too
        assert archives.code_globals(pickle.dumps(Evil(), protocol=proto)) in (["builtins.print"], ["__builtin__.print"])


def test_zip_limits(tmp_path):
    members = {"a/data.pkl": pickle.dumps({}, protocol=2), "a/data/0": bytes(4 << 20)}
    stored = _torch_zip(tmp_path / "stored.pt", members)
    assert inspect(stored)[0] is Format.STATE_DICT  # stored, not compressed: ratio ~1
    small = FileLimits(zip=archives.ZipLimits(max_unpacked_bytes=1 << 20, max_ratio=20, max_members=10))
    with pytest.raises(InvalidSubmission, match="unpacks to 4 MiB, over the 1 MiB limit"):
        inspect(stored, small)
    with pytest.raises(InvalidSubmission, match="has 12 archive members; the limit is 10"):
        inspect(_torch_zip(tmp_path / "many.pt", {f"a/{i}": b"" for i in range(11)} | {"a/data.pkl": b""}), small)
    with pytest.raises(InvalidSubmission, match="unsafe member name '../evil'"):
        inspect(_torch_zip(tmp_path / "dots.pt", {"../evil": b"", "a/data.pkl": b""}))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/data.pkl", pickle.dumps({}, protocol=2))
        z.writestr("a/data/0", bytes(8 << 20))
    (tmp_path / "bomb.pt").write_bytes(buf.getvalue())
    with pytest.raises(InvalidSubmission, match="a zip bomb is refused"):
        inspect(tmp_path / "bomb.pt")


def test_safetensors_header_is_checked(tmp_path):
    p = tmp_path / "w.safetensors"
    p.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    with pytest.raises(InvalidSubmission, match="safetensors header of 1000000000 bytes"):
        prepare(p, architecture="unet")


@pytest.mark.slow
def test_raw_pt2_weights_that_look_like_pickles_are_not_scanned(tmp_path):
    """Only members torch.export.load unpickles are scanned: raw tensor bytes starting with
    0x80 or 'PK' are data (a false alarm here once refused a genuine .pt2)."""
    import struct

    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv2d(1, 1, 3, padding=1)
    with torch.no_grad():
        conv.weight.fill_(struct.unpack("<f", b"\x80\x00\x80\x3f")[0])
        conv.bias.fill_(struct.unpack("<f", b"PK\x00\x3f")[0])
    torch.export.save(torch.export.export(conv, (torch.zeros(1, 1, 8, 8),)), str(tmp_path / "m.pt2"))
    with zipfile.ZipFile(tmp_path / "m.pt2") as z:
        heads = {z.read(n)[:2] for n in z.namelist() if "/weights/weight_" in n}
    assert {b"\x80\x00", b"PK"} <= heads
    assert inspect(tmp_path / "m.pt2") == (Format.EXPORT, ())
