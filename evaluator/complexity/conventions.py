"""The counting convention shared by the PyTorch and the ONNX counter, so that one
network gets the same numbers in either format.

FLOPs follow fvcore (facebookresearch/fvcore, `FlopCountAnalysis` default handles):
one multiply-add counts as one FLOP; element-wise ops (add, activations, softmax) and
max pooling count nothing. Per operator:

- convolution: N * prod(weight shape) * prod(output spatial dims)
  (transposed: * prod(input spatial dims)); bias adds are not counted.
- linear / matmul / bmm / addmm / einsum: multiply-adds of the product (M*N*K).
- batch norm, inference mode: 2 per element with affine parameters, 1 without;
  **0 when it directly follows a convolution or linear layer**, because every ONNX
  export folds it into that layer (fvcore documents this as the reason one may skip
  BN) and the counts must agree across formats.
- layer / group / instance norm (and batch norm using batch statistics):
  5 per element with affine parameters, 4 without.
- nearest upsampling 1, bilinear upsampling 4 per output element (2-D only, as fvcore);
  grid sampling 4 per output element.
- average pooling of 2-D maps (adaptive, global, fixed window, or a mean over both
  spatial dims): 1 per input element. fvcore counts only the adaptive pool; ONNX cannot
  tell the kinds apart, so all of them count the same on both sides.
- fused attention kernels (scaled_dot_product_attention, ONNX Attention): the two
  matmuls, B*H*L*S*(E + Ev). fvcore misses these; the ONNX graph shows them as MatMuls.

Parameters: PyTorch = sum of `model.parameters()` (buffers such as BN running
statistics excluded); ONNX = elements of the weight tensors (initializers and
Constant nodes), excluding normalisation statistics, shape/scale constants, scalars,
and identity affine tensors (scale all 1 / bias all 0) that exporters add for norms
without affine parameters. A BN folded into a convolution leaves C parameters (the
folded bias) where PyTorch has 2C, well under 1% of any real network.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

from .errors import ComplexityError

COUNTER_TORCH = "sonobench-fvcore-torch/1"
COUNTER_ONNX = "sonobench-fvcore-onnx/1"


def prod(values: Sequence[int]) -> int:
    return int(math.prod(int(v) for v in values))


def conv_flops(batch: int, weight_shape, spatial) -> int:
    """`spatial`: output spatial dims for a convolution, input dims for a transposed one."""
    return batch * prod(weight_shape) * prod(spatial)


def matmul_flops(out_shape, k: int) -> int:
    return prod(out_shape) * int(k)


def batch_norm_flops(numel: int, affine: bool, batch_stats: bool, folded: bool) -> int:
    if batch_stats:
        return norm_flops(numel, affine)
    if folded:
        return 0
    return numel * (2 if affine else 1)


def norm_flops(numel: int, affine: bool) -> int:
    return numel * (5 if affine else 4)


def attention_flops(batch_heads: int, q_len: int, kv_len: int, qk_dim: int, v_dim: int) -> int:
    return batch_heads * q_len * kv_len * (qk_dim + v_dim)


UPSAMPLE_NEAREST_PER_OUTPUT = 1
UPSAMPLE_BILINEAR_PER_OUTPUT = 4
GRID_SAMPLE_PER_OUTPUT = 4
AVG_POOL_PER_INPUT = 1


def check_input_shape(input_shape) -> tuple[int, int, int, int]:
    try:
        shape = tuple(input_shape)
        ok = len(shape) == 4 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in shape)
    except TypeError:
        ok = False
    if not ok or shape[0] != 1:
        raise ComplexityError(
            f"Expected argument `input_shape` to be (1, C, H, W) with positive integers (batch 1), "
            f"but got {input_shape!r}.")
    return tuple(int(v) for v in shape)
