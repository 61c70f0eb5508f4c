"""Count parameters and FLOPs of an ONNX model by graph analysis alone: shapes come
from ONNX shape inference at the requested input size; the model is never run.
Imports onnx and numpy only (safe and light inside the sandbox child)."""
from __future__ import annotations

from . import conventions as cv
from .onnx_graph import Graph, load_model
from .onnx_ops import HANDLERS
from .onnx_params import count_params


def count_onnx(model, input_shape, run_missing: bool = False) -> dict:
    """{"params", "gflops", "counter"} of an ONNX model (a path, bytes or ModelProto)
    at `input_shape` (1, C, H, W); symbolic input dims are fixed to it.

    Shapes come from graph analysis alone. `run_missing=True` lets the few shapes it
    cannot find (data-dependent sizes) be read from one onnxruntime run on a zero
    image; pass it only where running the model is safe (the sandbox child)."""
    shape = cv.check_input_shape(input_shape)
    g = Graph(load_model(model), shape, run_missing=run_missing)
    flops = sum(HANDLERS[n.op_type](g, n) for n in g.nodes if n.op_type in HANDLERS and n.domain in ("", "ai.onnx"))
    return {"params": int(count_params(g)), "gflops": flops / 1e9, "counter": cv.COUNTER_ONNX}


def flops_by_op(model, input_shape) -> dict[str, int]:
    """FLOPs per ONNX op type, for explaining a count."""
    g = Graph(load_model(model), cv.check_input_shape(input_shape))
    out: dict[str, int] = {}
    for n in g.nodes:
        if n.op_type in HANDLERS and n.domain in ("", "ai.onnx"):
            out[n.op_type] = out.get(n.op_type, 0) + HANDLERS[n.op_type](g, n)
    return out
