"""Hostile cases of the hosted-mode audit: `.pt2` routes around the pickle scan, zip files
that two readers see differently, forged or malformed messages from the model process, and
inputs that used to end in a traceback instead of a failed row. Built at test time; every
payload is harmless (it would only open a file in the corpus's own `outside` folder).
"""
from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path

from tests.hostile.corpus import Case, Targets, _clean_pt2, _Payload, pickle_case
from tests.spine import onnx_models

OPEN_OUTSIDE = "open({!r}, 'w')"


def _src(t: Targets) -> str:
    return OPEN_OUTSIDE.format(str(t.outside / "pwned"))


def _rewrite(src: Path, dst: Path, replace: dict[str, bytes], add: dict[str, bytes] = (), drop=()) -> Path:
    """Copy a zip, replacing, adding (under its top folder) or dropping members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename not in drop:
                zout.writestr(info, replace.get(info.filename, zin.read(info)))
        prefix = zin.namelist()[0].split("/", 1)[0]
        for name, data in dict(add).items():
            zout.writestr(f"{prefix}/{name}", data)
    return dst


def _clean(d: Path) -> Path:
    p = d / "clean.pt2"
    p.write_bytes(_clean_pt2())
    return p


def _torch_save(obj, **kw) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def _pt2_use_pickle(d: Path, payload: bytes) -> Path:
    """A genuine .pt2 whose first weight is marked use_pickle and replaced by `payload`."""
    clean = _clean(d)
    with zipfile.ZipFile(clean) as z:
        cfg_name = next(n for n in z.namelist() if n.endswith("model_weights_config.json"))
        cfg = json.loads(z.read(cfg_name))
    first = sorted(cfg["config"])[0]
    cfg["config"][first]["use_pickle"] = True
    weight = cfg_name.rsplit("/", 1)[0] + "/" + cfg["config"][first]["path_name"]
    return _rewrite(clean, d / "hostile.pt2", {cfg_name: json.dumps(cfg).encode(), weight: payload})


# ------------------------------------------------------------------ zip surgery

def _central_offsets(blob: bytes) -> list[int]:
    out, i = [], blob.find(b"PK\x01\x02")
    while i != -1:
        out.append(i)
        i = blob.find(b"PK\x01\x02", i + 4)
    return out


def corrupt_crc(blob: bytes, member_suffix: str) -> bytes:
    """Flip the CRC-32 of one member in both headers: zipfile refuses it at read time, a
    reader that skips CRC checks does not."""
    b = bytearray(blob)
    for c in _central_offsets(blob):
        nlen = struct.unpack_from("<H", b, c + 28)[0]
        if bytes(b[c + 46:c + 46 + nlen]).decode().endswith(member_suffix):
            local = struct.unpack_from("<L", b, c + 42)[0]
            for off in (c + 16, local + 14):
                struct.pack_into("<L", b, off, struct.unpack_from("<L", b, off)[0] ^ 0xFFFFFFFF)
    return bytes(b)


def rename_local(blob: bytes, member_suffix: str) -> bytes:
    """The local header names another member than the central directory (same length)."""
    b = bytearray(blob)
    for c in _central_offsets(blob):
        nlen = struct.unpack_from("<H", b, c + 28)[0]
        name = bytes(b[c + 46:c + 46 + nlen])
        if name.decode().endswith(member_suffix):
            local = struct.unpack_from("<L", b, c + 42)[0]
            b[local + 30 + nlen - 1] = ord("_")  # data.pkl -> data.pk_
    return bytes(b)


def set_flag(blob: bytes, member_suffix: str, bit: int) -> bytes:
    b = bytearray(blob)
    for c in _central_offsets(blob):
        nlen = struct.unpack_from("<H", b, c + 28)[0]
        if bytes(b[c + 46:c + 46 + nlen]).decode().endswith(member_suffix):
            local = struct.unpack_from("<L", b, c + 42)[0]
            for off in (c + 8, local + 6):
                struct.pack_into("<H", b, off, struct.unpack_from("<H", b, off)[0] | bit)
    return bytes(b)


def stack_desync_pickle(expr: str) -> bytes:
    """Protocol 4, framed: pushes 'builtins', 'eval', then two harmless-looking strings that it
    POPs again, then STACK_GLOBAL. A scanner that resolves STACK_GLOBAL from the last two strings
    it saw reads `torch._utils._rebuild_tensor`; the unpickler calls `builtins.eval`."""
    def s(text: str) -> bytes:
        raw = text.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    body = (s("builtins") + s("eval") + s("torch._utils") + s("_rebuild_tensor") + b"00"
            + b"\x93" + s(expr) + b"\x85" + b"R" + b".")
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def _torch_zip_with(data_pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


# ------------------------------------------------------------------ builders

def pt2_legacy_member(which: str):
    def build(d: Path, t: Targets) -> Path:
        return _rewrite(_clean(d), d / "legacy.pt2", {}, add={f"data/{which}/model.pt": _torch_save(_Payload(_src(t)))})
    return build


def pt2_protocol0(where: str):
    def build(d: Path, t: Targets) -> Path:
        payload = pickle.dumps(_Payload(_src(t)), protocol=0)
        if where == "weights":
            return _pt2_use_pickle(d, payload)
        clean = _clean(d)
        with zipfile.ZipFile(clean) as z:
            sample = next(n for n in z.namelist() if "/sample_inputs/" in n)
        return _rewrite(clean, d / "sample.pt2", {sample: payload})
    return build


def pt2_inner_zip(trick):
    def build(d: Path, t: Targets) -> Path:
        return _pt2_use_pickle(d, trick(_torch_save(_Payload(_src(t)))))
    return build


def pt2_stack_desync(d: Path, t: Targets) -> Path:
    return _pt2_use_pickle(d, _torch_zip_with(stack_desync_pickle(_src(t))))


def state_dict_stack_desync(d: Path, t: Targets) -> Path:
    p = d / "weights.pt"
    p.write_bytes(_torch_zip_with(stack_desync_pickle(_src(t))))
    return p


def legacy_protocol0_pickle(d: Path, t: Targets) -> Path:
    p = d / "model.pt"
    p.write_bytes(pickle.dumps(_Payload(_src(t)), protocol=0))
    return p


def outer_zip(trick):
    def build(d: Path, t: Targets) -> Path:
        import torch

        p = d / "weights.pt"
        p.write_bytes(trick(_torch_save({"w": torch.zeros(4)})))
        return p
    return build


def pt2_undeserialisable(d: Path, t: Targets) -> Path:
    """A .pt2 without its program: torch's message points at 'the warnings above' (its log)."""
    clean = _clean(d)
    with zipfile.ZipFile(clean) as z:
        program = next(n for n in z.namelist() if n.endswith("models/model.json"))
    return _rewrite(clean, d / "damaged.pt2", {}, drop={program})


def state_dict_file(d: Path, t: Targets) -> Path:
    import torch

    p = d / "weights.pt"
    torch.save({"w": torch.zeros(4)}, p)
    return p


def nested_spec_folder(d: Path, t: Targets) -> Path:
    folder = d / "upload"
    folder.mkdir()
    onnx_models.scaled_identity(folder / "model.onnx")
    (folder / "submission.json").write_text('{"name": ' + "[" * 60000 + "]" * 60000 + "}")
    return folder


def spec_folder(spec: dict):
    def build(d: Path, t: Targets) -> Path:
        folder = d / "upload"
        folder.mkdir()
        onnx_models.scaled_identity(folder / "model.onnx")
        (folder / "submission.json").write_text(json.dumps(spec))
        return folder
    return build


# ------------------------------------------------------------------ forged child messages

FORGE = """
import sys, struct, json, torch
p = sys.modules['sonobench.evaluator.sandbox.protocol']
orig = p.send
def raw(fd, blob):
    p._write_all(fd, struct.pack('>I', len(blob)) + blob)
def send(fd, header, array=None):
{body}
    return orig(fd, header, array)
p.send = send
class M(torch.nn.Module):
    def forward(self, x):
        return x - 0.5
model = M()
"""


def forge(body: str):
    src = FORGE.format(body="\n".join("    " + line for line in body.strip().splitlines()))
    return pickle_case(lambda t: src)


def _pt2(name, build, reason, **kw):
    return Case(name, build, reason, kw.pop("stopped_by", "pickle scan of .pt2"), torch=True, wall=60, **kw)


PT2_REFUSED = r"this \.pt2 archive (embeds pickles that import (__builtin__|builtins)\.eval|could not be fully checked)"
HOSTED_CASES: list[Case] = [
    _pt2("pt2_legacy_weights_member", pt2_legacy_member("weights"), PT2_REFUSED + r".*refused"),
    _pt2("pt2_legacy_constants_member", pt2_legacy_member("constants"), PT2_REFUSED + r".*refused"),
    _pt2("pt2_protocol0_use_pickle_weight", pt2_protocol0("weights"), PT2_REFUSED + r".*refused",
         stopped_by="every pickle protocol scanned"),
    _pt2("pt2_protocol0_sample_inputs", pt2_protocol0("sample_inputs"), PT2_REFUSED + r".*refused",
         stopped_by="every pickle protocol scanned"),
    _pt2("pt2_inner_zip_bad_crc", pt2_inner_zip(lambda b: corrupt_crc(b, "data.pkl")),
         r"could not be fully checked \(.*(CRC|member check failed).*refused", stopped_by="inner zip verified"),
    _pt2("pt2_inner_zip_local_name_mismatch", pt2_inner_zip(lambda b: rename_local(b, "data.pkl")),
         r"could not be fully checked \(.*local header .* disagrees.*refused", stopped_by="inner zip verified"),
    _pt2("pt2_stack_desync_in_frame", pt2_stack_desync, PT2_REFUSED + r".*refused",
         stopped_by="symbolic stack (frames must tile)"),
    Case("state_dict_stack_desync", state_dict_stack_desync,
         r"importing builtins\.eval.*pickled Python objects run arbitrary code .*refused",
         "symbolic stack machine", torch=True),
    Case("legacy_protocol0_pickle", legacy_protocol0_pickle,
         r"importing (__builtin__|builtins)\.eval.*refused", "every pickle protocol scanned", torch=True),
    Case("zip_bad_crc", outer_zip(lambda b: corrupt_crc(b, "data.pkl")),
         r"member check failed \(Bad CRC-32 .*Re-save the model with torch", "zip verified", torch=True),
    Case("zip_local_name_mismatch", outer_zip(lambda b: rename_local(b, "data.pkl")),
         r"the local header of member '.*data\.pkl' disagrees", "zip verified", torch=True),
    Case("zip_unknown_flag_bits", outer_zip(lambda b: set_flag(b, "data.pkl", 0x20)),
         r"uses zip flag bits 0x0828 that torch\.save never writes", "zip verified", torch=True),
    Case("arch_kwargs_list", state_dict_file, r"architecture arguments must be a JSON object .* got a JSON list",
         "spec validation", torch=True, architecture={"name": "unet", "kwargs": "[1, 2]"}),
    Case("arch_kwargs_string", state_dict_file, r"architecture arguments must be a JSON object .* got a JSON str",
         "spec validation", torch=True, architecture={"name": "unet", "kwargs": '"abc"'}),
    Case("spec_kwargs_list", state_dict_file, r"architecture arguments must be a JSON object .* got a JSON list",
         "spec validation", torch=True, spec={"architecture": {"name": "unet", "kwargs": [1, 2]}}),
    Case("arch_kwargs_oversized", state_dict_file, r"the architecture spec is \d+ KiB of JSON; the limit is 16 KiB",
         "spec size cap (was: Broken pipe)", torch=True,
         architecture={"name": "unet", "kwargs": {"pad": "x" * 100_000}}),
    Case("spec_deeply_nested", nested_spec_folder, r"submission\.json is not valid JSON \(nested more than 16",
         "bounded JSON depth"),
    Case("spec_team_object_with_quota", spec_folder({"team": {"evil": 1}}),
         r"'team' must be a text, got a JSON dict", "spec validation", settings={"daily_submissions": 5},
         team=None),
    _pt2("pt2_failure_points_at_hidden_log", pt2_undeserialisable,
         r"could not be loaded: RuntimeError: We ran into an error when deserializing the saved file\.$",
         stopped_by="message cleaning (no 'warnings above')", bwrap_only=True),
    Case("forged_strings_in_complexity", forge("""
if 'channels' in header:
    header['complexity'] = {'params': 'seven', 'gflops': 'tiny'}"""),
         r"sent an invalid parameter count \('seven'\); nothing it reported was stored", "report schema",
         torch=True, allow_pickle=True, bwrap_only=True, wall=60),
    Case("forged_huge_param_count", forge("""
if 'channels' in header:
    header['complexity'] = {'params': 10**30, 'gflops': 1.0}"""),
         r"sent an invalid parameter count \(1000000000000000000000000000000\)", "report schema (was: SQLite overflow)",
         torch=True, allow_pickle=True, bwrap_only=True, wall=60),
    Case("forged_wrapping_shape", forge("""
if 'latency_s' in header:
    raw(fd, json.dumps(dict(header, dtype='float32', shape=[2**32, 2**32, 1, 1], nbytes=0)).encode())
    return"""), r"the model process failed: output of shape .* is larger than allowed", "checked shape arithmetic",
         torch=True, allow_pickle=True, bwrap_only=True, wall=60),
    Case("forged_deeply_nested_header", forge("""
if 'channels' in header:
    raw(fd, b'[' * 30000 + b']' * 30000)
    return"""), r"the model process failed: the model process sent a malformed message header",
         "bounded JSON depth (was: RecursionError)", torch=True, allow_pickle=True, bwrap_only=True, wall=60),
    Case("forged_terminal_escapes", pickle_case(lambda t: "raise RuntimeError('\\x1b[31mred\\x1b[0m. Re-running "
                                                          "torch.load with weights_only set to False will succeed.')"),
         r"could not be loaded: RuntimeError: red\. \(the loader refused something in the file; the evaluator never "
         r"relaxes that check\)$", "message cleaning", torch=True, allow_pickle=True, bwrap_only=True, wall=60),
]

# Forged numbers that pass every schema: the row is scored, but what is stored is measured by
# the parent (latency, memory, sandbox facts) or labelled as the child's report (complexity).
FORGED_NUMBERS = forge("""
if 'channels' in header:
    header['complexity'] = {'params': 7, 'gflops': 1e-06}
    header['facts'] = {'seccomp': 'FORGED', 'uid': 0, 'isolation': 'FORGED'}
if 'latency_s' in header:
    header['latency_s'] = 1e-07
if 'peak_rss_mb' in header:
    header['peak_rss_mb'] = 0.001""")
