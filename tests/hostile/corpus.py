"""The hostile-submission corpus, built at test time (no binaries are committed).

Each `Case` names a builder that writes one submission (a file or an upload
folder) aimed at a live target: a canary file planted among the task's test
labels, the results store, a TCP listener on 127.0.0.1, a path outside the
sandbox to write to, and a secret in the evaluator's environment. Payloads that
read something raise it back as their error message, the one channel out of
the sandbox, so the test can assert that nothing secret came through.

Run `python -m tests.hostile.corpus OUT_DIR` to build the files for inspection.
"""
from __future__ import annotations

import functools
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.spine import onnx_models


@dataclass
class Targets:
    """What the payloads aim at; every path is on the host, outside the sandbox."""
    label: Path          # a real test label of the task
    canary: Path         # planted next to the labels; holds `secret`
    store: Path          # the results store
    outside: Path        # a host folder the payloads try to write into
    port: int            # a listener on 127.0.0.1 counting connections
    secret: str          # in the canary file and in the evaluator's environment


@dataclass
class Case:
    name: str
    build: Callable[[Path, Targets], Path]
    reason: str                   # regex the submission row's error must match
    stopped_by: str               # for the report table
    torch: bool = False           # building needs torch
    allow_pickle: bool = False
    isolation: str | None = None  # force a weaker isolation (policy cases)
    settings: dict = field(default_factory=dict)
    wall: float = 8.0
    bwrap_only: bool = False      # the payload runs code: without bubblewrap the policy refuses it
    spec: dict | None = None      # submission.json values passed with the file
    architecture: dict | None = None
    team: object = "red"


# ------------------------------------------------------------------ ONNX

def _onnx(path: Path, nodes, inits=None, domain_opsets=(), out_type=TensorProto.FLOAT, tensors=()) -> Path:
    graph = helper.make_graph(
        nodes, "hostile",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("out", out_type, None)],
        [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()] + list(tensors),
    )
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domain_opsets]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def _external_tensor(name: str, location: str, length: int = 4) -> TensorProto:
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[1])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        t.external_data.add(key=k, value=v)
    return t


def onnx_external(location_of: Callable[[Path, Targets], str]):
    def build(d: Path, t: Targets) -> Path:
        loc = location_of(d, t)
        return _onnx(d / "model.onnx", [helper.make_node("Mul", ["image", "w"], ["out"])],
                     tensors=[_external_tensor("w", loc)])
    return build


def onnx_symlinked_data(d: Path, t: Targets) -> Path:
    folder = d / "upload"
    folder.mkdir()
    _onnx(folder / "model.onnx", [helper.make_node("Mul", ["image", "w"], ["out"])],
          tensors=[_external_tensor("w", "model.onnx.data")])
    (folder / "model.onnx.data").symlink_to(t.label)
    return folder


def onnx_custom_domain(d: Path, t: Targets) -> Path:
    return _onnx(d / "model.onnx", [helper.make_node("Exfiltrate", ["image"], ["out"], domain="com.evil")],
                 domain_opsets=["com.evil"])


def onnx_truncated(d: Path, t: Targets) -> Path:
    full = onnx_models.scaled_identity(d / "full.onnx").read_bytes()
    p = d / "truncated.onnx"
    p.write_bytes(full[: len(full) // 2])
    return p


def onnx_oversized(d: Path, t: Targets) -> Path:
    big = np.random.default_rng(0).random(600_000).astype(np.float32)  # 2.3 MiB of weights
    return _onnx(d / "big.onnx", [helper.make_node("Identity", ["image"], ["out"])], {"unused": big})


def onnx_inf(d: Path, t: Targets) -> Path:
    return _onnx(d / "inf.onnx", [helper.make_node("Div", ["image", "zero"], ["q"]),
                                  helper.make_node("Add", ["q", "one"], ["out"])],
                 {"zero": np.zeros(1, np.float32), "one": np.ones(1, np.float32)})


def onnx_wrong_batch(d: Path, t: Targets) -> Path:
    return _onnx(d / "batch.onnx", [helper.make_node("Concat", ["image", "image"], ["out"], axis=0)])


def onnx_int_output(d: Path, t: Targets) -> Path:
    return _onnx(d / "int.onnx", [helper.make_node("Cast", ["image"], ["out"], to=TensorProto.INT64)],
                 out_type=TensorProto.INT64)


def onnx_gigantic_output(d: Path, t: Targets) -> Path:
    return _onnx(d / "huge.onnx", [helper.make_node("Tile", ["image", "reps"], ["out"])],
                 {"reps": np.array([1, 1, 64, 64], np.int64)})


def onnx_memory_bomb(d: Path, t: Targets) -> Path:
    """Allocates a tensor sized from the input at run time (no constant folding): ~1.6 TB."""
    return _onnx(d / "membomb.onnx", [
        helper.make_node("Shape", ["image"], ["s"]),
        helper.make_node("Mul", ["s", "k"], ["big"]),
        helper.make_node("ConstantOfShape", ["big"], ["z"]),
        helper.make_node("ReduceSum", ["z"], ["zs"], keepdims=1),
        helper.make_node("Add", ["image", "zs"], ["out"]),
    ], {"k": np.array([1, 1, 10000, 10000], np.int64)})


def from_spine(builder):
    return lambda d, t: builder(d / f"{builder.__name__}.onnx")


# ------------------------------------------------------------------ pickles

class _Payload:
    """Unpickles into `exec(src)`; returns `model` if src defines one."""

    def __init__(self, src: str):
        self.src = src

    def __reduce__(self):
        return (eval, (f"(lambda g: (exec({self.src!r}, g), g.get('model'))[1])({{}})",))


def pickle_case(src_of: Callable[[Targets], str], legacy: bool = False, name: str = "model.pt"):
    def build(d: Path, t: Targets) -> Path:
        import torch

        p = d / name
        torch.save(_Payload(src_of(t)), p, _use_new_zipfile_serialization=not legacy)
        return p
    return build


MODULE_SRC = """
import torch
class M(torch.nn.Module):
    def forward(self, x):
{body}
model = M()
"""


def forward_src(body: str) -> str:
    return MODULE_SRC.format(body="\n".join("        " + line for line in body.strip().splitlines()))


def pickle_as_onnx(d: Path, t: Targets) -> Path:
    p = pickle_case(lambda t: "pass")(d, t)
    return p.rename(d / "disguised.onnx")


def zip_bomb(d: Path, t: Targets) -> Path:
    """A torch.save-shaped archive whose one member inflates 256 MiB of zeros from ~260 KiB."""
    p = d / "bomb.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")  # an empty dict
        z.writestr("archive/version", b"3\n")
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(256):
                f.write(chunk)
    return p


def truncated_pt(d: Path, t: Targets) -> Path:
    import torch

    p = d / "weights.pt"
    torch.save({"w": torch.zeros(1000)}, p)
    p.write_bytes(p.read_bytes()[:1500])
    return p


def zero_byte(d: Path, t: Targets) -> Path:
    p = d / "empty.onnx"
    p.write_bytes(b"")
    return p


def wrong_extension(d: Path, t: Targets) -> Path:
    p = d / "model.txt"
    p.write_bytes(onnx_models.scaled_identity(d / "x.onnx").read_bytes())
    return p


# ------------------------------------------------------------------ TorchScript and .pt2

def torchscript_reader(path_of: Callable[[Targets], str]):
    def build(d: Path, t: Targets) -> Path:
        import torch

        from tests.hostile import scripted

        p = d / "script.pt"
        torch.jit.script(scripted.ReadFile(path_of(t))).save(str(p))
        return p
    return build


def torchscript_loop(d: Path, t: Targets) -> Path:
    import torch

    from tests.hostile import scripted

    p = d / "loop.pt"
    torch.jit.script(scripted.Spin()).save(str(p))
    return p


@functools.lru_cache(maxsize=1)
def _clean_pt2() -> bytes:
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    buf = io.BytesIO()
    torch.export.save(torch.export.export(Net(), (torch.zeros(1, 1, 64, 64),)), buf)
    return buf.getvalue()


def pt2_with_pickle(src_of: Callable[[Targets], str]):
    """A genuine .pt2 whose first weight is re-marked `use_pickle` and replaced by a payload:
    torch.export.load unpickles it with weights_only=False."""
    def build(d: Path, t: Targets) -> Path:
        import torch

        clean = d / "clean.pt2"
        clean.write_bytes(_clean_pt2())
        payload = io.BytesIO()
        torch.save(_Payload(src_of(t)), payload)
        final = d / "hostile.pt2"
        with zipfile.ZipFile(clean) as src, zipfile.ZipFile(final, "w") as out:
            cfg_name = next(n for n in src.namelist() if n.endswith("model_weights_config.json"))
            cfg = json.loads(src.read(cfg_name))
            first = sorted(cfg["config"])[0]
            cfg["config"][first]["use_pickle"] = True
            weight = cfg_name.rsplit("/", 1)[0] + "/" + cfg["config"][first]["path_name"]
            for info in src.infolist():
                data = {cfg_name: json.dumps(cfg).encode(), weight: payload.getvalue()}.get(info.filename)
                out.writestr(info, data if data is not None else src.read(info))
        return final
    return build


# ------------------------------------------------------------------ the corpus

def _read_and_raise(path_expr: str) -> str:
    return f"data = open({path_expr}, 'rb').read(64)\nraise RuntimeError('LEAK ' + data.hex() + ' ' + repr(data))"


CASES: list[Case] = [
    # refused before anything runs
    Case("zero_byte", zero_byte, r"is empty \(0 bytes\)", "file check"),
    Case("wrong_extension", wrong_extension, r"unsupported file type '\.txt'", "file check"),
    Case("pickle_renamed_onnx", pickle_as_onnx, r"has an \.onnx extension but holds a PyTorch archive/pickle",
         "content sniffing", torch=True),
    Case("truncated_pt", truncated_pt, r"damaged zip archive \(truncated\?\)", "zip directory check", torch=True),
    Case("zip_bomb", zip_bomb, r"unpacks to \d+x its size .*a zip bomb is refused", "zip ratio cap"),
    Case("oversized_onnx", onnx_oversized, r"big\.onnx is 2\.\d MiB; the limit is 1 MiB", "size cap",
         settings={"max_model_mb": 1}),
    Case("onnx_symlinked_data", onnx_symlinked_data, r"model\.onnx\.data is a symbolic link", "upload check"),
    Case("pickle_write_refused", pickle_case(lambda t: f"open({str(t.outside / 'pwned')!r}, 'w').write('x')"),
         r"importing __builtin__\.eval.*pickled Python objects run arbitrary code .*refused", "policy (no --allow-pickle)",
         torch=True),
    Case("pickle_socket_refused", pickle_case(
        lambda t: f"import socket; socket.create_connection(('127.0.0.1', {t.port}), timeout=2)"),
         r"pickled Python objects run arbitrary code .*refused", "policy (no --allow-pickle)", torch=True),
    Case("pickle_legacy_refused", pickle_case(lambda t: f"open({str(t.outside / 'pwned')!r}, 'w')", legacy=True),
         r"importing __builtin__\.eval.*refused", "policy (no --allow-pickle)", torch=True),
    Case("pt2_pickle_refused", pt2_with_pickle(lambda t: f"open({str(t.outside / 'pwned')!r}, 'w')"),
         r"\.pt2 archive embeds pickles that import __builtin__\.eval.*refused", "pickle scan of .pt2", torch=True),
    Case("torchscript_without_bwrap", torchscript_reader(lambda t: "/etc/passwd"),
         r"TorchScript models execute code and run only under bubblewrap isolation", "policy (no bwrap)",
         torch=True, isolation="unshare"),
    # ONNX refused inside the sandbox, before a session exists
    Case("onnx_external_dotdot", onnx_external(lambda d, t: "../../../../../../../" + str(t.canary).lstrip("/")),
         r"external data location '\.\./.*' that contains '\.\.'", "ONNX external-data check"),
    Case("onnx_external_absolute", onnx_external(lambda d, t: str(t.canary)),
         r"external data location '/.*' that is an absolute path", "ONNX external-data check"),
    Case("onnx_external_missing", onnx_external(lambda d, t: "weights.bin"),
         r"external data location 'weights\.bin' that was not uploaded with the model", "ONNX external-data check"),
    Case("onnx_custom_domain", onnx_custom_domain, r"uses operator domain 'com\.evil' \(Exfiltrate\), which is not allowed",
         "ONNX domain allow-list"),
    Case("onnx_truncated", onnx_truncated, r"not ready for toy-lesion@1: the file is not a readable ONNX model",
         "protobuf parse (intake, before the sandbox)"),
    # ONNX that runs and misbehaves
    Case("onnx_nan", from_spine(onnx_models.nan_output), r"non-finite values \(NaN or Inf\)", "output validation"),
    Case("onnx_inf", onnx_inf, r"non-finite values \(NaN or Inf\)", "output validation"),
    Case("onnx_wrong_shape", from_spine(onnx_models.wrong_channels), r"returned shape 1x3x64x64 but this task needs",
         "output validation"),
    Case("onnx_wrong_batch", onnx_wrong_batch, r"returned shape 2x1x64x64 but this task needs", "output validation"),
    Case("onnx_wrong_dtype", onnx_int_output, r"returned dtype int64; it must return floating-point", "output validation"),
    Case("onnx_gigantic_output", onnx_gigantic_output, r"output of shape \[1, 1, 4096, 4096\] .* is larger than allowed",
         "protocol size cap"),
    Case("onnx_endless_loop", from_spine(onnx_models.endless_loop), r"exceeded the wall-clock limit \(4 s\) and was killed",
         "wall-clock deadline", wall=4),
    Case("onnx_memory_bomb", onnx_memory_bomb, r"failed on case .*(allocat|bad_alloc|memory)",
         "RLIMIT_AS"),
    # code that runs inside bubblewrap (operator allowed pickles) and must stay contained
    Case("pickle_write_host_file", pickle_case(lambda t: f"open({str(t.outside / 'pwned')!r}, 'w').write('x')"),
         r"could not be loaded: (FileNotFoundError|OSError|PermissionError)", "read-only binds (no host path)",
         torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_connect_listener", pickle_case(
        lambda t: f"import socket; socket.create_connection(('127.0.0.1', {t.port}), timeout=2)"),
         r"could not be loaded: (ConnectionRefusedError|OSError|TimeoutError)", "network namespace",
         torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_read_labels", pickle_case(lambda t: _read_and_raise(repr(str(t.canary)))),
         r"could not be loaded: FileNotFoundError", "labels not mounted", torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_read_store", pickle_case(lambda t: _read_and_raise(repr(str(t.store)))),
         r"could not be loaded: FileNotFoundError", "store not mounted", torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_read_etc_passwd", pickle_case(lambda t: _read_and_raise("'/etc/passwd'")),
         r"could not be loaded: FileNotFoundError", "/etc not mounted", torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_read_environment", pickle_case(
        lambda t: "import os; raise RuntimeError('ENV ' + ' '.join(sorted(os.environ)) + ' ' + ' '.join(os.environ.values()))"),
         r"could not be loaded: RuntimeError: ENV .*HOME", "scrubbed environment", torch=True, allow_pickle=True,
         bwrap_only=True),
    Case("pickle_fork_bomb", pickle_case(lambda t: "import os\nwhile True:\n    os.fork()"),
         r"could not be loaded: PermissionError: \[Errno 1\] Operation not permitted", "seccomp (no new processes)",
         torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_thread_bomb", pickle_case(
        lambda t: "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()"),
         r"could not be loaded: RuntimeError: can't start new thread", "RLIMIT_NPROC", torch=True,
         allow_pickle=True, bwrap_only=True),
    Case("pickle_memory_bomb", pickle_case(lambda t: "x = bytearray(64 * 2**30)"),
         r"could not be loaded: MemoryError", "RLIMIT_AS", torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_sleep_past_deadline", pickle_case(lambda t: "import time; time.sleep(3600)"),
         r"exceeded the wall-clock limit \(4 s\) and was killed", "wall-clock deadline", torch=True,
         allow_pickle=True, wall=4, bwrap_only=True),
    Case("pickle_infinite_forward", pickle_case(lambda t: forward_src("while True:\n    pass")),
         r"exceeded the wall-clock limit \(4 s\) and was killed", "wall-clock deadline", torch=True,
         allow_pickle=True, wall=4, bwrap_only=True),
    Case("pickle_kill_everything", pickle_case(lambda t: "import os, signal; os.kill(-1, signal.SIGKILL)"),
         r"could not be loaded: ProcessLookupError: \[Errno 3\] No such process",
         "pid namespace + own uid (nothing else to signal)",
         torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_exec_shell", pickle_case(
        lambda t: f"import os; os.execv('/bin/sh', ['sh', '-c', 'echo x > {t.outside / 'pwned'}'])"),
         r"the model process failed", "read-only binds", torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_segfault", pickle_case(lambda t: "import ctypes; ctypes.string_at(0)"),
         r"the model process failed: .*died with SIGSEGV: it crashed", "process isolation (the evaluator survives)",
         torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_new_user_namespace", pickle_case(
        lambda t: "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                  "rc = libc.unshare(0x10000000)\nraise OSError(ctypes.get_errno(), 'unshare returned %d' % rc)"),
         r"could not be loaded: PermissionError: \[Errno 1\] unshare returned -1", "seccomp",
         torch=True, allow_pickle=True, bwrap_only=True),
    Case("pickle_prints_secret", pickle_case(
        lambda t: "import os, sys\nprint('STDOUT-MARKER', os.environ.get('HOME'))\nsys.stdout.flush()\n"
                  "raise ValueError('refusing politely')"),
         r"could not be loaded: ValueError: refusing politely", "private log", torch=True, allow_pickle=True,
         bwrap_only=True),
    Case("pt2_pickle_reads_labels", pt2_with_pickle(lambda t: _read_and_raise(repr(str(t.canary)))),
         r"could not be loaded: FileNotFoundError", "labels not mounted", torch=True, allow_pickle=True,
         wall=60, bwrap_only=True),
    # TorchScript: no Python, but torch.from_file reads any regular file it can open
    Case("torchscript_read_etc_passwd", torchscript_reader(lambda t: "/etc/passwd"),
         r"unable to open file </etc/passwd> .*No such file", "/etc not mounted", torch=True, bwrap_only=True),
    Case("torchscript_read_labels", torchscript_reader(lambda t: str(t.canary)),
         r"unable to open file <.*canary.*> .*No such file", "labels not mounted", torch=True, bwrap_only=True),
    Case("torchscript_read_store", torchscript_reader(lambda t: str(t.store)),
         r"unable to open file <.*> .*No such file", "store not mounted", torch=True, bwrap_only=True),
    Case("torchscript_read_environ", torchscript_reader(lambda t: "/proc/self/environ"),
         r"</proc/self/environ> (in read-only mode: Permission denied|size <0> is smaller than the required)",
         "uid switch makes /proc/self unreadable (procfs size 0 otherwise; env scrubbed anyway)",
         torch=True, bwrap_only=True),
    Case("torchscript_endless_loop", torchscript_loop, r"exceeded the wall-clock limit \(4 s\) and was killed",
         "wall-clock deadline", torch=True, wall=4, bwrap_only=True),
]


def all_cases() -> list[Case]:
    from tests.hostile.corpus_audit import AUDIT_CASES
    from tests.hostile.corpus_hosted import HOSTED_CASES

    return CASES + HOSTED_CASES + AUDIT_CASES


def build_all(out: Path, targets: Targets, with_torch: bool = True) -> dict[str, Path]:
    built = {}
    for case in all_cases():
        if case.torch and not with_torch:
            continue
        d = out / case.name
        d.mkdir(parents=True, exist_ok=True)
        built[case.name] = case.build(d, targets)
    return built


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")
    (out / "_targets").mkdir(parents=True, exist_ok=True)
    tg = Targets(label=out / "_targets/label.png", canary=out / "_targets/canary.txt", store=out / "_targets/store.db",
                 outside=out / "_targets", port=9, secret="demo-secret")
    for p in (tg.label, tg.canary, tg.store):
        p.write_bytes(b"placeholder")
    for name, path in build_all(out, tg).items():
        print(f"{name:32s} {path}")
