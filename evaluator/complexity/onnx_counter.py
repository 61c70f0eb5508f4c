"""Count parameters and FLOPs of an ONNX model by graph analysis alone: shapes come
from ONNX shape inference at the requested input size; the model is never run.
Imports onnx and numpy only (safe and light inside the sandbox child).

Control flow: the weights of If branches and Loop/Scan bodies are parameters like any
other. FLOPs of an `If` are those of its larger branch (an upper bound on any one run);
of a `Loop` with a constant trip count, its body's times the trip count. Where a count
would have to guess (a Loop whose trip count is computed, a Scan body that computes, a
`com.microsoft` contrib op that multiplies but has no handler here), the FLOPs are not
counted and the error says why: never a silent 0."""
from __future__ import annotations

from . import conventions as cv
from .errors import ComplexityError
from .onnx_graph import Graph, load_model, subgraphs
from .onnx_ops import HANDLERS
from .onnx_params import count_params

STANDARD = ("", "ai.onnx")
# com.microsoft (onnxruntime contrib) ops: a standard op with a fused activation (FusedConv,
# FusedGemm) is seen as that op already (onnx_graph.STANDARD_TWINS); these only act element-wise
# and have no multiply-adds by the convention; any other contrib op is not counted.
CONTRIB_NO_FLOPS = {"Gelu", "FastGelu", "BiasGelu", "QuickGelu", "BiasAdd", "BiasDropout", "QuantizeLinear",
                    "DequantizeLinear", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
                    "QLinearConcat", "Trilu", "Range", "BiasSoftmax"}


class NotCounted(ComplexityError):
    """Part of the graph's FLOPs cannot be counted without guessing."""


def count_onnx(model, input_shape, run_missing: bool = False) -> dict:
    """{"params", "gflops", "counter"} of an ONNX model (a path, bytes or ModelProto)
    at `input_shape` (1, C, H, W); symbolic input dims are fixed to it.

    Shapes come from graph analysis alone. `run_missing=True` lets the few shapes it
    cannot find (data-dependent sizes) be read from one onnxruntime run on a zero
    image; pass it only where running the model is safe (the sandbox child).
    Raises NotCounted (with the parameters that were counted) where FLOPs would be a guess."""
    shape = cv.check_input_shape(input_shape)
    g = Graph(load_model(model), shape, run_missing=run_missing)
    params = int(count_params(g))
    try:
        flops = _flops(g, g.nodes)
    except NotCounted as e:
        raise NotCounted(f"FLOPs not counted: {e} (parameters counted: {params:,})") from None
    return {"params": params, "gflops": flops / 1e9, "counter": cv.COUNTER_ONNX}


def _node_flops(g: Graph, n) -> int:
    if n.op_type == "If":
        return max((_flops(g, b.node) for b in subgraphs(n)), default=0)
    if n.op_type == "Loop":
        body = _flops(g, subgraphs(n)[0].node)
        if not body:
            return 0
        trips = g.const(n.input[0]) if n.input and n.input[0] else None
        if trips is None:
            raise NotCounted(f"Loop '{n.name}' computes its trip count at run time")
        return body * int(trips.reshape(-1)[0])
    if n.op_type == "Scan":
        if _flops(g, subgraphs(n)[0].node):
            raise NotCounted(f"Scan '{n.name}' has a computing body")
        return 0
    if n.domain in STANDARD:
        return HANDLERS[n.op_type](g, n) if n.op_type in HANDLERS else 0
    if n.domain == "com.microsoft":
        if n.op_type in CONTRIB_NO_FLOPS:
            return 0
        raise NotCounted(f"the com.microsoft op {n.op_type} ('{n.name}') has no FLOP rule here")
    return 0


def _flops(g: Graph, nodes) -> int:
    return sum(_node_flops(g, n) for n in nodes)


def flops_by_op(model, input_shape) -> dict[str, int]:
    """FLOPs per ONNX op type (control flow counted as its own op), for explaining a count."""
    g = Graph(load_model(model), cv.check_input_shape(input_shape))
    out: dict[str, int] = {}
    for n in g.nodes:
        f = _node_flops(g, n)
        if f or n.op_type in HANDLERS:
            out[n.op_type] = out.get(n.op_type, 0) + f
    return out
