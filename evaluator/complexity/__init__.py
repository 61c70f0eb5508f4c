"""Model complexity: parameter count and GFLOPs (fvcore convention: one multiply-add
is one FLOP) for PyTorch and ONNX models, counted the same way for both formats
(see `conventions`). Importing this package does not import torch: `count_torch`
imports it when called, and `count_onnx` needs only onnx and numpy."""
from .conventions import COUNTER_ONNX, COUNTER_TORCH
from .errors import ComplexityError
from .onnx_counter import count_onnx
from .torch_counter import count_torch

__all__ = ["count_torch", "count_onnx", "ComplexityError", "COUNTER_TORCH", "COUNTER_ONNX"]
