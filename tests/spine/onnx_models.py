"""Small hand-built ONNX models (no torch needed) for evaluator tests."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(nodes, inits, path, out_channels=1, extra_outputs=()):
    graph = helper.make_graph(
        nodes, "test_model",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def wrong_channels(path, k=3):
    w = np.ones((k, 1, 1, 1), np.float32)
    return _save([helper.make_node("Conv", ["image", "w"], ["out"])], {"w": w}, path)


def nan_output(path):
    # log(-1 - x) is NaN everywhere
    return _save([
        helper.make_node("Neg", ["image"], ["n"]),
        helper.make_node("Sub", ["n", "one"], ["m"]),
        helper.make_node("Log", ["m"], ["out"]),
    ], {"one": np.ones((1,), np.float32)}, path)


def endless_loop(path, trips=10**12):
    """A Loop that adds 1 to a scalar `trips` times: runs far past any wall limit."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "one_b"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.ones((1,), np.float32), "one_b")],
    )
    return _save([
        helper.make_node("Loop", ["trips", "cond", "zero"], ["acc"], body=body),
        helper.make_node("Mul", ["image", "acc"], ["out"]),
    ], {"trips": np.array(trips, np.int64), "cond": np.array(True), "zero": np.zeros((1,), np.float32)}, path)


def scaled_identity(path, scale=-10.0, bias=3.0):
    """logit = scale * x + bias: a valid binary model."""
    return _save([
        helper.make_node("Mul", ["image", "s"], ["t"]),
        helper.make_node("Add", ["t", "b"], ["out"]),
    ], {"s": np.array([scale], np.float32), "b": np.array([bias], np.float32)}, path)
