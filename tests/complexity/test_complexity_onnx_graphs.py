"""count_onnx on hand-built ONNX graphs: each operator rule, parameter rules, shape
folding, and refusals. No torch needed."""
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from sonobench.evaluator.complexity import ComplexityError, count_onnx
from sonobench.evaluator.complexity.onnx_counter import flops_by_op

RNG = np.random.default_rng(0)


def init(name, *shape, value=None, dtype=np.float32):
    arr = RNG.standard_normal(shape).astype(dtype) if value is None else np.asarray(value, dtype=dtype)
    return numpy_helper.from_array(arr, name)


def model(nodes, inits, in_shape=("N", 4, 6, 6), out="y", opset=18, extra_inputs=()):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape)), *extra_inputs],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def count(m, shape=(1, 4, 6, 6)):
    out = count_onnx(m, shape)
    return out["params"], round(out["gflops"] * 1e9)


def test_conv_bn_relu_bn():
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s1", "b1", "m1", "v1"], ["n1"]),  # after Conv: folded, 0
        helper.make_node("Relu", ["n1"], ["r"]),
        helper.make_node("BatchNormalization", ["r", "s2", "b2", "m2", "v2"], ["y"]),  # 2 per element
    ]
    inits = [init("w", 8, 4, 3, 3), init("b", 8)] + [init(f"{k}{i}", 8) for i in (1, 2) for k in "sbmv"]
    # conv: 8*4*9 * 36 = 10368; bn2: 2 * 8*36 = 576; params: conv 288+8, BN scale/bias 2*(8+8); stats excluded
    assert count(model(nodes, inits)) == (288 + 8 + 32, 10368 + 576)


def test_one_element_tensors_count_in_layers_only():
    nodes = [helper.make_node("Mul", ["x", "scale"], ["m"]),  # an attention-style scale: no weight
             helper.make_node("Conv", ["m", "w", "b"], ["y"])]  # a one-class head: its bias is a weight
    inits = [init("scale", 1, value=[0.5]), init("w", 1, 4, 1, 1), init("b", 1)]
    assert count(model(nodes, inits)) == (5, 4 * 36)


def test_identity_affine_is_not_a_parameter_and_counts_as_non_affine():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("BatchNormalization", ["r", "one", "zero", "m", "v"], ["y"])]
    inits = [init("one", 4, value=np.ones(4)), init("zero", 4, value=np.zeros(4)), init("m", 4), init("v", 4)]
    assert count(model(nodes, inits)) == (0, 144)


def test_gemm_transposed_and_matmul_broadcast():
    nodes = [helper.make_node("Flatten", ["x"], ["f"]),
             helper.make_node("Gemm", ["f", "w", "b"], ["g"], transB=1),
             helper.make_node("Reshape", ["g", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    inits = [init("w", 12, 144), init("b", 12), init("shape", 4, value=[1, 1, 3, 4], dtype=np.int64),
             init("w2", 4, 5)]
    # gemm 1x144 @ 144x12 = 1728; matmul (1,1,3,4)@(4,5) -> 15 outputs * 4 = 60; int64 shape is no weight
    assert count(model(nodes, inits)) == (12 * 144 + 12 + 20, 1728 + 60)


@pytest.mark.parametrize("mode,per_output", [("nearest", 1), ("linear", 4), ("cubic", 0)])
def test_resize_modes(mode, per_output):
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)]
    inits = [init("scales", 4, value=[1, 1, 2, 2])]
    assert count(model(nodes, inits)) == (0, per_output * 4 * 12 * 12)


def test_resize_scales_built_by_concat_are_no_weights():
    nodes = [helper.make_node("Concat", ["one", "two"], ["scales"], axis=0),
             helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")]
    inits = [init("one", 2, value=[1, 1]), init("two", 2, value=[2, 2])]
    assert count(model(nodes, inits)) == (0, 4 * 144)


@pytest.mark.parametrize("opset,axes,flops", [(18, [2, 3], 144), (18, [-1, -2], 144), (13, [3, 2], 144),
                                              (18, [1], 0)])
def test_reduce_mean_over_spatial_dims_is_average_pooling(opset, axes, flops):
    if opset >= 18:
        nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"])]
        inits = [init("axes", len(axes), value=axes, dtype=np.int64)]
    else:
        nodes, inits = [helper.make_node("ReduceMean", ["x"], ["y"], axes=axes)], []
    assert count(model(nodes, inits, opset=opset)) == (0, flops)


@pytest.mark.parametrize("op,kw,flops", [("GlobalAveragePool", {}, 144), ("AveragePool", {"kernel_shape": [2, 2]}, 144),
                                         ("MaxPool", {"kernel_shape": [2, 2]}, 0)])
def test_pooling(op, kw, flops):
    assert count(model([helper.make_node(op, ["x"], ["y"], **kw)], [])) == (0, flops)


def test_einsum_and_grid_sample():
    nodes = [helper.make_node("Einsum", ["x", "x"], ["e"], equation="bchw,bcwk->bchk"),
             helper.make_node("GridSample", ["e", "grid"], ["y"])]
    inits = [init("grid", 1, 3, 3, 2)]
    assert count(model(nodes, inits)) == (0, 4 * 6 * 6 * 6 + 4 * 4 * 9)


@pytest.mark.parametrize("scale,bias,params,per_element", [
    ("ones", None, 0, 4), ("rand", None, 6, 5), ("rand", "rand", 12, 5), ("ones", "zeros", 0, 4)])
def test_layer_norm(scale, bias, params, per_element):
    values = {"ones": np.ones(6), "zeros": np.zeros(6), "rand": None}
    inputs = ["x", "s"] + (["b"] if bias else [])
    inits = [init("s", 6, value=values[scale])] + ([init("b", 6, value=values[bias])] if bias else [])
    nodes = [helper.make_node("LayerNormalization", inputs, ["y"], axis=-1)]
    assert count(model(nodes, inits)) == (params, per_element * 144)


def test_group_norm_as_exported_by_torchscript():
    """Reshape -> InstanceNormalization(ones, zeros) -> Reshape -> Mul(weight) -> Add(bias)."""
    nodes = [helper.make_node("Reshape", ["x", "grouped"], ["g"]),
             helper.make_node("InstanceNormalization", ["g", "one", "zero"], ["n"]),
             helper.make_node("Reshape", ["n", "orig"], ["r"]),
             helper.make_node("Mul", ["r", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    inits = [init("grouped", 3, value=[1, 2, -1], dtype=np.int64), init("orig", 4, value=[1, 4, 6, 6], dtype=np.int64),
             init("one", 2, value=[1, 1]), init("zero", 2, value=[0, 0]), init("w", 4, 1, 1), init("b", 4, 1, 1)]
    assert count(model(nodes, inits)) == (8, 5 * 144)


def test_shape_arithmetic_is_folded_for_inference():
    """Reshape target computed at run time: Shape -> Gather -> Div -> Concat."""
    c = lambda name, v: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.int64)))  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        c("i0", 0), c("i1", 1), c("two", 2), c("minus1", [-1]), c("ax", [0]),
        helper.make_node("Gather", ["s", "i0"], ["n"]), helper.make_node("Gather", ["s", "i1"], ["ch"]),
        helper.make_node("Div", ["ch", "two"], ["half"]),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]), helper.make_node("Unsqueeze", ["half", "ax"], ["h1"]),
        helper.make_node("Concat", ["n1", "h1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("MatMul", ["r", "w"], ["y"]),
    ]
    assert count(model(nodes, [init("w", 72, 3)])) == (216, 2 * 3 * 72)


def test_dequantized_int8_weights_count():
    nodes = [helper.make_node("DequantizeLinear", ["wq", "scale", "zp"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["y"])]
    inits = [init("wq", 8, 4, 3, 3, value=RNG.integers(-5, 5, (8, 4, 3, 3)), dtype=np.int8),
             init("scale", value=0.1), init("zp", value=0, dtype=np.int8)]
    assert count(model(nodes, inits)) == (288, 288 * 16)


def test_external_weights_are_counted_from_their_shape_without_reading_them():
    w = init("w", 8, 4, 3, 3)
    w.ClearField("float_data")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="../../etc/passwd")
    m = model([helper.make_node("Conv", ["x", "w"], ["y"])], [w])
    assert count(m) == (288, 288 * 16)


def test_initializers_listed_as_inputs_and_symbolic_dims():
    w = init("w", 8, 4, 1, 1)
    m = model([helper.make_node("Conv", ["x", "w"], ["y"])], [w], in_shape=("batch", 4, "h", "w"),
              extra_inputs=[helper.make_tensor_value_info("w", TensorProto.FLOAT, [8, 4, 1, 1])])
    assert count(m, (1, 4, 10, 12)) == (32, 32 * 120)
    assert flops_by_op(m, (1, 4, 10, 12)) == {"Conv": 32 * 120}


def test_refusals():
    with pytest.raises(ComplexityError, match="cannot read the ONNX model"):
        count_onnx(b"not an onnx file", (1, 1, 8, 8))
    two = model([helper.make_node("Add", ["x", "z"], ["y"])], [],
                extra_inputs=[helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 6, 6])])
    with pytest.raises(ComplexityError, match="2 inputs"):
        count_onnx(two, (1, 4, 6, 6))
    fixed = model([helper.make_node("Relu", ["x"], ["y"])], [], in_shape=(1, 3, 6, 6))
    with pytest.raises(ComplexityError, match=r"fixed to \[1, 3, 6, 6\]"):
        count_onnx(fixed, (1, 1, 6, 6))
    with pytest.raises(ComplexityError, match="Expected argument `input_shape`"):
        count_onnx(fixed, (2, 3, 6, 6))
    with pytest.raises(ComplexityError, match="Expected argument `model`"):
        count_onnx(42, (1, 3, 6, 6))


def test_unknown_shapes_are_reported_not_guessed():
    # NonZero's output size depends on the data: the following MatMul cannot be sized
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]), helper.make_node("Cast", ["nz"], ["f"], to=1),
             helper.make_node("MatMul", ["f", "w"], ["y"])]
    with pytest.raises(ComplexityError, match="cannot infer the shape"):
        count_onnx(model(nodes, [init("w", 3, 2)]), (1, 4, 6, 6))


def test_run_missing_reads_shapes_that_inference_cannot_find():
    c = lambda name, v: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.int64)))  # noqa: E731
    nodes = [c("one", [1]), c("pair", [2, 1]), c("minus1", [-1]),
             helper.make_node("ReduceMax", ["pair"], ["two"], keepdims=1),  # beyond shape inference and folding
             helper.make_node("Concat", ["one", "two", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
    m = model(nodes, [init("w", 72, 3)])
    with pytest.raises(ComplexityError, match="cannot infer the shape of '[ry]'"):
        count_onnx(m, (1, 4, 6, 6))
    out = count_onnx(m, (1, 4, 6, 6), run_missing=True)
    assert (out["params"], round(out["gflops"] * 1e9)) == (216, 2 * 3 * 72)


def test_count_onnx_does_not_import_torch(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(model([helper.make_node("Conv", ["x", "w"], ["y"])], [init("w", 8, 4, 3, 3)]))
    code = ("import sys; from sonobench.evaluator.complexity import count_onnx; "
            f"r = count_onnx({str(path)!r}, (1, 4, 6, 6)); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(r['params'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "288"
