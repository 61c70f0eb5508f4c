"""The audit's ONNX finding: weights and FLOPs inside If/Loop subgraphs are counted, and a
contrib (com.microsoft) op is counted or the count says "not counted", never a silent 0."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from sonobench.evaluator.complexity import count_onnx
from sonobench.evaluator.complexity.onnx_counter import NotCounted

SHAPE = (1, 1, 64, 64)
CONV_FLOPS = 64 * 64 * 9  # one 3x3 conv, 1 -> 1 channel, same padding: one multiply-add per tap


def _w(name):
    return numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), name)


def _model(nodes, inits, opset=17, domains=()):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(SHAPE))],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(SHAPE))], initializer=inits)
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(g, opset_imports=ops).SerializeToString()


def _branch(name, weight, inits=()):
    node = helper.make_node("Conv", ["image", weight], [f"y_{name}"], pads=[1, 1, 1, 1])
    return helper.make_graph([node], name, [], [helper.make_tensor_value_info(f"y_{name}", TensorProto.FLOAT, None)],
                             initializer=list(inits))


def test_weights_and_flops_inside_if_branches_are_counted():
    """The audit's model: a Conv inside each branch (one weight inside the branch, one outside)."""
    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["out"], then_branch=_branch("then", "w_in", [_w("w_in")]),
                            else_branch=_branch("else", "w_out"))
    out = count_onnx(_model([node], [cond, _w("w_out")]), SHAPE)
    assert out["params"] == 18          # both branches' weights
    assert out["gflops"] * 1e9 == pytest.approx(CONV_FLOPS)  # the larger branch, once


def test_a_loop_with_a_constant_trip_count_counts_its_body_that_many_times():
    body = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["y"], pads=[1, 1, 1, 1]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    trips = numpy_helper.from_array(np.array(3, np.int64), "trips")
    cond = numpy_helper.from_array(np.array(True), "cond")
    loop = helper.make_node("Loop", ["trips", "cond"], ["ys"], body=body)
    last = [helper.make_node("Gather", ["ys", "zero"], ["out"], axis=0)]
    zero = numpy_helper.from_array(np.array(0, np.int64), "zero")
    out = count_onnx(_model([loop] + last, [trips, cond, zero, _w("w")]), SHAPE)
    assert out["params"] == 9
    assert out["gflops"] * 1e9 == pytest.approx(3 * CONV_FLOPS)


def test_a_fused_contrib_conv_is_counted_like_a_conv():
    node = helper.make_node("FusedConv", ["image", "w"], ["out"], domain="com.microsoft", pads=[1, 1, 1, 1],
                            activation="Relu")
    out = count_onnx(_model([node], [_w("w")], domains=("com.microsoft",)), SHAPE)
    assert out["params"] == 9 and out["gflops"] * 1e9 == pytest.approx(CONV_FLOPS)


def test_a_contrib_op_without_a_rule_is_not_counted_rather_than_zero():
    node = helper.make_node("Attention", ["image", "w"], ["out"], domain="com.microsoft", num_heads=1)
    with pytest.raises(NotCounted, match=r"FLOPs not counted: the com\.microsoft op Attention .*parameters counted"):
        count_onnx(_model([node], [_w("w")], domains=("com.microsoft",)), SHAPE)


def test_the_row_says_not_counted(tmp_path):
    from sonobench.evaluator.scoring import onnx_complexity

    node = helper.make_node("Attention", ["image", "w"], ["out"], domain="com.microsoft", num_heads=1)
    path = tmp_path / "m.onnx"
    path.write_bytes(_model([node], [_w("w")], domains=("com.microsoft",)))
    row = onnx_complexity(str(path), list(SHAPE))
    assert row["gflops"] is None and "not counted" in row["error"]
