"""Export a trained baseline to one self-contained ONNX file (opset 17) and
check onnxruntime against PyTorch on a real batch before it is submitted.

The TorchScript-based exporter (`dynamo=False`) is used on purpose: it writes
opset 17 natively and keeps the weights inside the file, while the dynamo
exporter targets opset 18 and moves large weights to a side file, which a
single-file submission cannot carry.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evaluator.errors import SonoBenchError

OPSET = 17
PARITY_RTOL = 1e-4  # max |ORT - torch| relative to max |torch| (DESIGN: 1e-4 relative)


class ExportMismatch(SonoBenchError):
    """onnxruntime disagrees with PyTorch on the exported model."""


class FlipTTA(nn.Module):
    """Horizontal-flip test-time augmentation baked into the graph: mean of the logits
    of the image and of its mirror (the counted GFLOPs double, honestly)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return (self.net(x) + self.net(x.flip(-1)).flip(-1)) / 2


def exportable(model: nn.Module, tta: bool) -> nn.Module:
    return (FlipTTA(model) if tta else model).eval()


def export_onnx(model: nn.Module, path: str | Path, input_size: tuple[int, int], channels: int) -> Path:
    """Write `model` (eval mode, CPU) as ONNX with a dynamic batch axis."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, channels, *input_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings / exporter deprecation notes are expected
        torch.onnx.export(model, (dummy,), str(path), opset_version=OPSET, dynamo=False,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    return path


def check_parity(model: nn.Module, path: str | Path, batch: np.ndarray, rtol: float = PARITY_RTOL) -> float:
    """Max |ORT - torch| / max |torch| on `batch`; raises ExportMismatch above `rtol`."""
    from .scoring import onnx_session

    session = onnx_session(path)
    got = session.run(None, {session.get_inputs()[0].name: batch.astype(np.float32)})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(batch)).numpy()
    if got.shape != want.shape:
        raise ExportMismatch(f"{Path(path).name}: onnxruntime returned {got.shape}, PyTorch {want.shape}")
    rel = float(np.abs(got - want).max() / max(float(np.abs(want).max()), 1e-12))
    if not rel <= rtol:
        raise ExportMismatch(
            f"{Path(path).name}: onnxruntime differs from PyTorch by {rel:.2e} (relative), above {rtol:.0e}; "
            "the architecture uses an op the ONNX exporter translates differently")
    return rel
