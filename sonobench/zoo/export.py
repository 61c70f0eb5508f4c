"""Export a registered model to ONNX or TorchScript, and check ONNX parity.

ONNX goes through the torch.export-based exporter (`dynamo=True`) by default,
which works for every registered architecture. `exporter="torchscript"` uses
the older TorchScript-based exporter (deprecated in PyTorch, but it writes
opset 17 natively and always keeps the weights inside one file, which is what
a single-file submission needs: the trained baselines are exported this way).
The exported graph takes `image` (N x C x H x W float32 in [0, 1]) and returns
`logits` (N x K x H x W), with a dynamic batch dimension by default.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from torch import nn

from sonobench.kernel.errors import SonoBenchError
from sonobench.zoo.registry import CONFIG_ATTR

DEFAULT_SIZE = (256, 256)
ONNX_OPSET = 18  # the torch.export-based exporter's native opset
LEGACY_OPSET = 17  # the TorchScript-based exporter's
EXPORTERS = ("dynamo", "torchscript")


class ExportFailed(SonoBenchError):
    """A model could not be exported to ONNX or TorchScript."""


def example_input(model: nn.Module, batch: int = 1, size: Sequence[int] = DEFAULT_SIZE,
                  in_channels: int | None = None, seed: int = 0) -> torch.Tensor:
    """A deterministic float32 input in [0, 1] shaped for `model`."""
    if in_channels is None:
        config = getattr(model, CONFIG_ATTR, None)
        if config is None:
            raise ExportFailed("Pass in_channels: the model was not built by create_model, "
                               "so its input channels are unknown")
        in_channels = config["kwargs"]["in_channels"]
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, in_channels, *size, generator=gen)


class _EvalMode:
    """Export in eval mode (BatchNorm statistics, no dropout) and restore afterwards."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def export_onnx(model: nn.Module, path: str | os.PathLike, *, size: Sequence[int] = DEFAULT_SIZE,
                in_channels: int | None = None, dynamic_batch: bool = True,
                opset: int | None = None, exporter: str = "dynamo") -> str:
    if exporter not in EXPORTERS:
        raise ExportFailed(f"Unknown exporter '{exporter}'. Valid choices: {', '.join(EXPORTERS)}")
    with _EvalMode(model):
        try:
            if exporter == "torchscript":
                _export_legacy(model, path, size, in_channels, dynamic_batch, opset or LEGACY_OPSET)
                return os.fspath(path)
            # torch.export specialises dimensions of size 1, so a dynamic batch needs an example of 2
            x = example_input(model, 2 if dynamic_batch else 1, size, in_channels)
            dynamic = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
            program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset or ONNX_OPSET,
                                        input_names=["image"], output_names=["logits"],
                                        dynamic_shapes=dynamic, verbose=False)
        except ExportFailed:
            raise
        except Exception as exc:  # the exporter raises many unrelated types
            raise ExportFailed(f"ONNX export of {type(model).__name__} failed: {exc}. "
                               "Check that forward() has no data-dependent Python control flow") from exc
    program.save(os.fspath(path))
    return os.fspath(path)


def _export_legacy(model, path, size, in_channels, dynamic_batch, opset) -> None:
    import warnings

    dummy = example_input(model, 1, size, in_channels).zero_()  # zeros: the bytes the references were exported with
    axes = {"image": {0: "N"}, "logits": {0: "N"}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings / exporter deprecation notes are expected
        torch.onnx.export(model, (dummy,), os.fspath(path), opset_version=opset, dynamo=False,
                          input_names=["image"], output_names=["logits"], dynamic_axes=axes)


def torch_output(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with _EvalMode(model), torch.no_grad():
        return model(x)


def onnx_max_abs_diff(path: str | os.PathLike, x: torch.Tensor,
                      expected: torch.Tensor) -> tuple[float, float]:
    """(max |onnxruntime - expected|, max |expected|) on input `x`; `expected` is the
    torch model's output (`torch_output(model, x)`)."""
    import onnxruntime as ort

    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    expected = expected.detach().numpy()
    got = session.run(["logits"], {"image": x.numpy()})[0]
    if got.shape != expected.shape:
        raise ExportFailed(f"ONNX output shape {got.shape} differs from torch {expected.shape}")
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


def to_torchscript(model: nn.Module, *, size: Sequence[int] = DEFAULT_SIZE,
                   in_channels: int | None = None) -> torch.jit.ScriptModule:
    """Trace `model` (eval mode) to TorchScript; every registered model traces, while
    some (UNet++, UNeXt) use Python constructs that `torch.jit.script` rejects."""
    x = example_input(model, 1, size, in_channels)
    with _EvalMode(model), torch.no_grad():
        try:
            return torch.jit.trace(model, x, check_trace=False)
        except Exception as exc:
            raise ExportFailed(f"TorchScript tracing of {type(model).__name__} failed: {exc}") from exc
