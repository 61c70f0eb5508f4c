"""FLOP rules per ONNX operator, mirroring torch_ops.py (see conventions.py).
Each handler takes (graph, node) and returns the node's FLOPs."""
from __future__ import annotations

import numpy as np

from . import conventions as cv

# Producers a following inference BatchNormalization folds into (as exporters do).
FOLDS_BATCH_NORM = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def _conv(weight_index, transposed=False):
    def handler(g, node):
        x, y, w = node.input[0], node.output[0], node.input[weight_index]
        spatial = g.shape(x, node)[2:] if transposed else g.shape(y, node)[2:]
        return cv.conv_flops(g.shape(x, node)[0], g.shape(w, node), spatial)

    return handler


def _gemm(g, node):
    a, b = g.shape(node.input[0], node), g.shape(node.input[1], node)
    m, k = (a[1], a[0]) if g.attr(node, "transA", 0) else (a[0], a[1])
    n = b[0] if g.attr(node, "transB", 0) else b[1]
    return m * n * k


def _matmul(g, node):
    """MatMul, MatMulInteger, QLinearMatMul: A is input 0 (K = its last dim)."""
    return cv.matmul_flops(g.shape(node.output[0], node), g.shape(node.input[0], node)[-1])


def _einsum(g, node):
    """Multiply-adds of contracting the operands pairwise, left to right."""
    equation = g.attr(node, "equation")
    equation = equation.decode() if isinstance(equation, bytes) else equation
    lhs = equation.replace(" ", "").split("->")[0].split(",")
    if any("..." in term for term in lhs):
        return 0  # ellipsis einsums do not occur in exported segmentation nets
    sizes: dict[str, int] = {}
    for term, name in zip(lhs, node.input):
        sizes.update(zip(term, g.shape(name, node)))
    out_letters = set(equation.split("->")[1]) if "->" in equation else set()
    total, current = 0, set(lhs[0])
    for i, term in enumerate(lhs[1:], start=1):
        letters = current | set(term)
        total += cv.prod(sizes[c] for c in letters)
        later = set().union(*map(set, lhs[i + 1:])) | out_letters
        current = {c for c in letters if c in later}
    return total


def is_identity_affine(g, scale, bias) -> bool:
    """Exporters give norms without affine parameters a constant scale of 1 and bias of 0."""
    s = g.const(scale) if scale else None
    if s is None or not np.all(s == 1):
        return False
    if not bias:
        return True
    b = g.const(bias)
    return b is not None and bool(np.all(b == 0))


def _batch_norm(g, node):
    x = node.input[0]
    affine = not is_identity_affine(g, g.input(node, 1), g.input(node, 2))
    batch_stats = bool(g.attr(node, "training_mode", 0))
    producer = g.producer.get(x)
    folded = producer is not None and producer.op_type in FOLDS_BATCH_NORM
    return cv.batch_norm_flops(g.numel(x, node), affine, batch_stats, folded)


def _norm(g, node):
    affine = not is_identity_affine(g, g.input(node, 1), g.input(node, 2))
    if not affine and node.op_type == "InstanceNormalization":
        affine = _group_norm_affine_follows(g, node)
    return cv.norm_flops(g.numel(node.input[0], node), affine)


def _group_norm_affine_follows(g, node) -> bool:
    """GroupNorm exports as Reshape -> InstanceNormalization (identity scale) ->
    Reshape -> Mul(weight) [-> Add(bias)]: the Mul carries the affine parameters."""
    users = g.consumers.get(node.output[0], [])
    if len(users) != 1 or users[0].op_type != "Reshape":
        return False
    after = g.consumers.get(users[0].output[0], [])
    return len(after) == 1 and after[0].op_type == "Mul" and any(i in g.const_protos for i in after[0].input)


def _resize(g, node):
    mode = g.attr(node, "mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    out = g.shape(node.output[0], node)
    if len(out) != 4:
        return 0
    per = {"nearest": cv.UPSAMPLE_NEAREST_PER_OUTPUT, "linear": cv.UPSAMPLE_BILINEAR_PER_OUTPUT}.get(mode, 0)
    return per * cv.prod(out)


def _grid_sample(g, node):
    out = g.shape(node.output[0], node)
    return cv.GRID_SAMPLE_PER_OUTPUT * cv.prod(out) if len(out) == 4 else 0


def _avg_pool(g, node):
    x = g.shape(node.input[0], node)
    return cv.AVG_POOL_PER_INPUT * cv.prod(x) if len(x) == 4 else 0


def _reduce_mean(g, node):
    x = g.shape(node.input[0], node)
    axes = g.attr(node, "axes")
    if axes is None and g.input(node, 1):
        value = g.const(node.input[1])
        axes = None if value is None else value.tolist()
    if len(x) != 4 or not axes:
        return 0
    return cv.AVG_POOL_PER_INPUT * cv.prod(x) if sorted(a % 4 for a in axes) == [2, 3] else 0


def _attention(g, node):
    """ONNX Attention (opset 23): Q, K, V as (B, H, L, E) or (B, L, H*E)."""
    q, k, v = (g.shape(node.input[i], node) for i in range(3))
    if len(q) == 4:
        return cv.attention_flops(q[0] * q[1], q[2], k[2], q[3], v[3])
    return cv.attention_flops(q[0], q[1], k[1], q[2], v[2])  # heads folded into the hidden sizes


HANDLERS = {
    "Conv": _conv(1), "ConvInteger": _conv(1), "QLinearConv": _conv(3),
    "ConvTranspose": _conv(1, transposed=True),
    "Gemm": _gemm, "MatMul": _matmul, "MatMulInteger": _matmul, "QLinearMatMul": _matmul,
    "Einsum": _einsum,
    "BatchNormalization": _batch_norm,
    "InstanceNormalization": _norm, "LayerNormalization": _norm, "GroupNormalization": _norm,
    "Resize": _resize, "Upsample": _resize,
    "GridSample": _grid_sample,
    "GlobalAveragePool": _avg_pool, "AveragePool": _avg_pool, "ReduceMean": _reduce_mean,
    "Attention": _attention,
}
