"""Which ONNX constants are network weights (see conventions.py, Parameters).

A constant is a weight when it reaches an input of a computing node (Conv, MatMul,
Mul, a norm's affine inputs, ...), possibly through layout-only nodes (Reshape,
Unsqueeze, Transpose, ...), other than a position that holds statistics or sizes.
This keeps out BN running statistics, resize scales built by Concat, identity
scale/bias that exporters add to norms without affine parameters, and scalars."""
from __future__ import annotations

from .onnx_graph import FLOAT_TYPES, Graph
from .onnx_ops import is_identity_affine

NORMS = {"BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization"}
# (op_type, input index) that hold statistics or sizes, never weights
NOT_WEIGHTS = {
    ("BatchNormalization", 3), ("BatchNormalization", 4),
    ("Resize", 1), ("Resize", 2), ("Resize", 3), ("Upsample", 1),
    ("Clip", 1), ("Clip", 2), ("Pad", 1), ("Pad", 2), ("Pad", 3), ("GridSample", 1),
}
LAYOUT = {"Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Transpose", "Concat", "Slice",
          "Gather", "Expand", "Tile", "Split"}
# where a one-element tensor is still a weight (a 1-class head's bias); elsewhere
# one-element floats are constants of the arithmetic (attention scales, eps)
LAYERS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "PRelu"} | NORMS
INT8_TYPES = {2, 3}  # UINT8, INT8: quantized weights, dequantized before use


def count_params(g: Graph) -> int:
    identity = {id(n) for n in g.original_nodes
                if n.op_type in NORMS and is_identity_affine(g, g.input(n, 1), g.input(n, 2))}
    total = 0
    for name, proto in g.const_protos.items():
        if name in g.folded or not proto.dims or _numel(proto) == 0:  # 0-d: eps, scales, fill values
            continue
        if proto.data_type in FLOAT_TYPES and _reaches_compute(g, name, identity, layers_only=_numel(proto) == 1):
            total += _numel(proto)
        elif proto.data_type in INT8_TYPES and any(n.op_type == "DequantizeLinear" and n.input[0] == name
                                                   for n in g.original_consumers.get(name, [])):
            total += _numel(proto)
    return total


def _reaches_compute(g: Graph, name: str, identity: set[int], layers_only: bool = False) -> bool:
    stack, seen = [name], {name}
    while stack:
        value = stack.pop()
        for node in g.original_consumers.get(value, []):
            for i, inp in enumerate(node.input):
                if inp != value or (node.op_type, i) in NOT_WEIGHTS:
                    continue
                if id(node) in identity and i in (1, 2):
                    continue
                if node.op_type not in LAYOUT:
                    if not layers_only or node.op_type in LAYERS:
                        return True
                    continue
                for out in node.output:
                    if out and out not in seen:
                        seen.add(out)
                        stack.append(out)
    return False


def _numel(proto) -> int:
    n = 1
    for d in proto.dims:
        n *= int(d)
    return n
