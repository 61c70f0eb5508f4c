"""Export a trained baseline to one self-contained ONNX file (opset 17) and
check onnxruntime against PyTorch on a real batch before it is submitted.

Both steps are the registry's (`sonobench.zoo.export`); this module
adds the flip-TTA wrapper and the pass/fail rule. The TorchScript-based
exporter is used on purpose: it writes opset 17 natively and keeps the weights
inside the file, while the dynamo exporter targets opset 18 and moves large
weights to a side file, which a single-file submission cannot carry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from sonobench.kernel.errors import SonoBenchError
from sonobench.zoo import export as arch_export

PARITY_RTOL = 1e-4  # max |ORT - torch| relative to max |torch| (the export contract: 1e-4 relative)


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
    """Write `model` (eval mode, CPU) as one ONNX file with a dynamic batch axis."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arch_export.export_onnx(model, path, size=input_size, in_channels=channels, exporter="torchscript")
    return path


def check_parity(model: nn.Module, path: str | Path, batch: np.ndarray, rtol: float = PARITY_RTOL) -> float:
    """Max |ORT - torch| / max |torch| on `batch`; raises ExportMismatch above `rtol`."""
    x = torch.from_numpy(batch.astype(np.float32))
    try:
        diff, scale = arch_export.onnx_max_abs_diff(path, x, arch_export.torch_output(model, x))
    except arch_export.ExportFailed as exc:
        raise ExportMismatch(f"{Path(path).name}: {exc}") from exc
    rel = diff / max(scale, 1e-12)
    if not rel <= rtol:
        raise ExportMismatch(
            f"{Path(path).name}: onnxruntime differs from PyTorch by {rel:.2e} (relative), above {rtol:.0e}; "
            "the architecture uses an op the ONNX exporter translates differently")
    return rel
