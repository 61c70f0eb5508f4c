"""The sandboxed model process: the only place a submitted model is ever loaded.

Started by `confine.bootstrap` (already confined: see confine.py) with the
request and response pipe fds in argv. It says hello with the confinement
facts, reads one `load` request, answers with the model's input channels and
complexity, then answers each `infer` request (one image, batch 1) with the raw
output and its latency. It never sees labels, the store or the network; it
only gets images. Its stdout/stderr go to a private log that is never shown
to the submitter; error messages it returns are truncated.
"""
from __future__ import annotations

import os
import re
import resource
import sys
import time
import traceback

import numpy as np

from . import protocol


class LoadError(Exception):
    pass


class _OnnxModel:
    def __init__(self, path: str, threads: int, domains: tuple[str, ...], gpu: bool):
        import onnxruntime as ort

        from . import onnx_checks

        with open(path, "rb") as f:
            data = f.read()
        folder = os.path.dirname(os.path.abspath(path))
        try:  # refuse escaping external data and unknown domains before a session exists
            _, external = onnx_checks.check(data, folder, domains)
        except onnx_checks.OnnxRejected as e:
            raise LoadError(str(e)) from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        if external:  # loading from bytes: external data resolves only inside the model's folder
            opts.add_session_config_entry("session.model_external_initializers_file_folder_path", folder)
        # No custom-op library is ever registered, and no provider is silently swapped.
        providers = ["CUDAExecutionProvider"] if gpu else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(data, sess_options=opts, providers=providers)
        if self.session.get_providers()[0] != providers[0]:
            raise LoadError(f"onnxruntime could not use {providers[0]} (got {self.session.get_providers()}); "
                            "refusing to fall back silently")
        self.facts = {"providers": self.session.get_providers(), "external_data": external}
        self.model_bytes = data
        inp = self.session.get_inputs()
        if len(inp) != 1:
            raise LoadError(f"the ONNX model has {len(inp)} inputs; it must take exactly one image tensor")
        self.input_name = inp[0].name
        dims = inp[0].shape
        self.declared_channels = dims[1] if len(dims) == 4 and isinstance(dims[1], int) else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: x})
        return out[0]

    def complexity(self, shape):
        from ..complexity import count_onnx

        return count_onnx(self.model_bytes, shape)


class _TorchModel:
    def __init__(self, module, threads: int, gpu: bool = False):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        if not callable(module):
            raise LoadError(f"the file holds a {type(module).__name__}, not a model that can be called")
        self.device = "cpu"
        if gpu:  # no silent fallback: GPU mode means CUDA or a failure
            if not torch.cuda.is_available():
                raise LoadError("GPU mode was requested but torch sees no CUDA device inside the sandbox")
            self.device = "cuda"
            module = module.to("cuda")
        self.facts = {"device": self.device}
        try:
            module.eval()
        except (AttributeError, NotImplementedError):  # torch.export modules refuse eval()
            pass
        self.module = module
        self.declared_channels = None
        self.output_choice = None  # which element of a tuple / list / dict output is scored (told to the parent)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.module(self.torch.from_numpy(x).to(self.device))
        if isinstance(out, (tuple, list)):
            self.output_choice = {"container": type(out).__name__, "length": len(out), "index": 0}
            out = out[0] if out else None
        if isinstance(out, dict):
            key = next(iter(out), None)
            self.output_choice = {"container": "dict", "length": len(out), "key": str(key)[:40]}
            out = out[key] if out else None
        if not isinstance(out, self.torch.Tensor):
            raise TypeError(f"the model returned {type(out).__name__}, not a tensor")
        return out.detach().cpu().numpy()

    def complexity(self, shape):
        from ..complexity import count_torch

        return count_torch(self.module, shape)


def _load_torch(path: str, fmt: str, arch: dict | None, allow_pickle: bool, threads: int,
                gpu: bool = False) -> _TorchModel:
    import torch

    if fmt == "torchscript":
        return _TorchModel(torch.jit.load(path, map_location="cpu"), threads, gpu)
    if fmt == "export":
        return _TorchModel(torch.export.load(path).module(), threads, gpu)
    if fmt == "pickle":
        if not allow_pickle:
            raise LoadError("pickled nn.Module files are refused (they run arbitrary code); submit ONNX, TorchScript, .pt2 or a state_dict + architecture spec")
        return _TorchModel(torch.load(path, map_location="cpu", weights_only=False), threads, gpu)
    if fmt in ("state_dict", "safetensors"):
        if not arch:
            raise LoadError("a state_dict needs an architecture spec (submission.json 'architecture': {'name': ..., 'kwargs': {...}})")
        from sonobench.zoo import build_from_config

        model = build_from_config(arch)
        if fmt == "safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
        model.load_state_dict(state, strict=True)
        return _TorchModel(model, threads, gpu)
    raise LoadError(f"unsupported format {fmt!r}")


def load(req: dict):
    # No fallbacks here: the launcher always sends every field (from its SandboxConfig, whose
    # defaults are the operator settings'), so a missing one is a protocol error, not a default.
    fmt, path, threads, gpu = req["format"], req["model_path"], int(req["threads"]), bool(req["gpu"])
    if fmt == "onnx":
        return _OnnxModel(path, threads, tuple(req["onnx_domains"]), gpu)
    from sonobench.kernel import _torchcompat

    _torchcompat.ensure()
    import torch

    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already fixed by an earlier parallel call
        pass
    return _load_torch(path, fmt, req.get("architecture"), bool(req["allow_pickle"]), threads, gpu)


def _probe_channels(model, req) -> int:
    """C = 1, or 3 if the model asks for 3 (declared by ONNX, or found by trying)."""
    h, w = req["input_size"]
    if model.declared_channels in (1, 3):
        return model.declared_channels
    if model.declared_channels is not None:
        raise LoadError(f"the model declares {model.declared_channels} input channels; SonoBench feeds 1 (grayscale) or 3 (repeated)")
    first_error = None
    for c in (1, 3):
        try:
            model(np.zeros((1, c, h, w), np.float32))
            return c
        except Exception as e:  # a channel mismatch raises from inside the model
            first_error = first_error or e
    raise LoadError(f"the model fails on a 1x1x{h}x{w} and on a 1x3x{h}x{w} float32 input: {_error(first_error)}")


def _error(e: BaseException) -> str:
    """One line about what went wrong, bounded: messages can come from submitted code.
    A TorchScript error is a long traceback whose last line holds the cause: keep that."""
    text = f"{type(e).__name__}: {e}"
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    if len(lines) > 1 and "Traceback" in str(e):
        last = lines[-1]
        text = last if re.match(r"^[\w.]+(Error|Exception)\b", last) else f"{type(e).__name__}: {last}"
    from .reports import clean_text

    return clean_text(text)  # bounded to reports.MAX_TEXT, the limit the parent checks against


def serve(req_fd: int, resp_fd: int, facts: dict | None = None) -> None:
    protocol.send(resp_fd, {"op": "hello", "facts": facts or {}})
    header, _ = protocol.recv(req_fd)
    if header.get("op") != "load":
        raise protocol.ProtocolError("expected a load request")
    try:
        model = load(header)
        channels = _probe_channels(model, header)
    except Exception as e:
        traceback.print_exc()  # the full story goes to the private log
        protocol.send(resp_fd, {"ok": False, "stage": "load", "error": _error(e), "type": type(e).__name__})
        return
    h, w = header["input_size"]
    complexity = {"params": None, "gflops": None, "error": None}
    if header["complexity"]:
        try:
            complexity.update(model.complexity((1, channels, h, w)))
        except Exception as e:
            complexity["error"] = _error(e)
    protocol.send(resp_fd, {"ok": True, "channels": channels, "complexity": complexity,
                            "facts": getattr(model, "facts", {}), "output": getattr(model, "output_choice", None)})
    warmed = False
    while True:
        header, x = protocol.recv(req_fd)
        if header.get("op") == "end":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            protocol.send(resp_fd, {"ok": True, "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime})
            return
        try:
            t0 = time.perf_counter()
            y = model(x)
            dt = time.perf_counter() - t0
            y = np.asarray(y)
        except Exception as e:
            traceback.print_exc()
            protocol.send(resp_fd, {"ok": False, "stage": "infer", "case": header.get("case"), "error": _error(e),
                                    "type": type(e).__name__})
            return
        if y.dtype.kind != "f":
            protocol.send(resp_fd, {"ok": False, "stage": "infer", "case": header.get("case"),
                                    "error": f"the model returned dtype {y.dtype}; it must return floating-point logits or probabilities"})
            return
        # The first call pays for lazy initialisation: flagged, so latency statistics skip it
        # (the image is not run twice, which would cost a whole inference).
        protocol.send(resp_fd, {"ok": True, "latency_s": dt, "warmup": not warmed, "case": header.get("case")}, y)
        warmed = True


def main(facts: dict | None = None) -> None:
    req_fd, resp_fd = int(sys.argv[1]), int(sys.argv[2])
    try:
        serve(req_fd, resp_fd, facts)
    except Exception:
        traceback.print_exc()
        sys.exit(3)


if __name__ == "__main__":  # unconfined: for debugging only; the launcher uses confine.bootstrap
    main()
