"""Make ONNX shape inference see through shape arithmetic.

Exporters compute reshape targets and slice bounds at run time
(Shape -> Gather -> Div -> Concat -> Reshape). Once the input size is fixed these are
constants, but onnx's own data propagation stops at many of them. This pass
evaluates such small subgraphs with numpy (only a whitelist of shape-arithmetic ops
on tensors of at most MAX_ELEMENTS values: nothing derived from image data is ever
computed), turns their outputs into initializers and re-runs shape inference,
until nothing more folds. Folding may turn small weights into new constants
(Unsqueeze(gn.weight)); parameters are therefore counted on the original graph."""
from __future__ import annotations

import math

import numpy as np

from .errors import ComplexityError

MAX_ELEMENTS = 1024
MAX_ROUNDS = 100  # each round can unlock the next block of a deep network


def infer_with_folding(model):
    """(model with inferred value_info, names of the values folded into initializers)."""
    folded: set[str] = set()
    known = _small_initializers(model.graph)  # read once; each round adds what it folded
    for _ in range(MAX_ROUNDS):
        model = _infer(model)
        values = _fold(model, known)
        new = {k: v for k, v in values.items() if k not in folded}
        if not new:
            break
        model = _replace_with_initializers(model, new)
        folded |= set(new)
    return model, folded


def _infer(model):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as e:
        raise ComplexityError(f"ONNX shape inference failed on this model: {e}") from e


def _static_shapes(graph) -> dict[str, tuple[int, ...]]:
    out = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[vi.name] = tuple(d.dim_value for d in t.shape.dim)
    return out


def _small_initializers(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in graph.initializer
            if _small(t.dims) and t.data_location != 1}


def _fold(model, known: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Values of the foldable nodes; `known` (name -> constant) grows with every one found."""
    from onnx import helper

    graph = model.graph
    shapes = _static_shapes(graph)
    folded: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.domain not in ("", "ai.onnx") or len(node.output) != 1 or node.output[0] in known:
            continue
        if node.op_type not in _OPS and node.op_type not in ("Shape", "Size", "Constant"):
            continue  # not shape arithmetic: skip before parsing its attributes
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        value = _evaluate(node, attrs, known, shapes)
        if value is not None and value.size <= MAX_ELEMENTS:
            known[node.output[0]] = value
            if node.op_type != "Constant":
                folded[node.output[0]] = value
    return folded


def _small(dims) -> bool:
    return math.prod(dims) <= MAX_ELEMENTS


def _replace_with_initializers(model, values: dict[str, np.ndarray]):
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    keep = [n for n in out.graph.node if not (len(n.output) == 1 and n.output[0] in values)]
    del out.graph.node[:]
    out.graph.node.extend(keep)
    names = set(values)
    vis = [vi for vi in out.graph.value_info if vi.name not in names]
    del out.graph.value_info[:]
    out.graph.value_info.extend(vis)
    for name, value in values.items():
        out.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return out


def _evaluate(node, attrs, known, shapes):
    """numpy value of a shape-arithmetic node, or None when it is not one or an input is unknown."""
    op = node.op_type
    if op == "Shape":
        shape = shapes.get(node.input[0])
        if shape is None:
            return None
        start, end = attrs.get("start", 0), attrs.get("end", None)
        return np.array(shape[start:end], dtype=np.int64)
    if op == "Size":
        shape = shapes.get(node.input[0])
        return None if shape is None else np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    if op == "Constant":
        return _constant(attrs)
    fn = _OPS.get(op)
    if fn is None:
        return None
    inputs = []
    for name in node.input:
        if name and name not in known:
            return None
        inputs.append(known[name] if name else None)
    try:
        out = fn(inputs, attrs)
    except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError):
        return None
    return None if out is None else np.asarray(out)


def _constant(attrs):
    from onnx import numpy_helper

    if "value" in attrs:
        t = attrs["value"]
        return numpy_helper.to_array(t) if _small(t.dims) else None
    for key, dtype in (("value_int", np.int64), ("value_float", np.float32)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    for key, dtype in (("value_ints", np.int64), ("value_floats", np.float32)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    return None


def _axes(inputs, attrs, index):
    if len(inputs) > index and inputs[index] is not None:
        return [int(a) for a in np.atleast_1d(inputs[index])]
    return attrs.get("axes")


def _slice(inputs, attrs):
    x = inputs[0]
    starts = inputs[1] if len(inputs) > 1 else attrs["starts"]
    ends = inputs[2] if len(inputs) > 2 else attrs["ends"]
    axes = _axes(inputs, attrs, 3) or list(range(len(starts)))
    steps = inputs[4] if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


def _divide(inputs, attrs):
    a, b = inputs
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(np.true_divide(a, b)).astype(a.dtype)
    return np.true_divide(a, b).astype(a.dtype)


def _unsqueeze(inputs, attrs):
    x = inputs[0]
    axes = sorted(a % (x.ndim + len(_axes(inputs, attrs, 1))) for a in _axes(inputs, attrs, 1))
    for a in axes:
        x = np.expand_dims(x, a)
    return x


def _squeeze(inputs, attrs):
    axes = _axes(inputs, attrs, 1)
    return np.squeeze(inputs[0], axis=None if axes is None else tuple(axes))


def _to_dtype(code):
    from onnx import helper

    return helper.tensor_dtype_to_np_dtype(code)


def _constant_of_shape(inputs, attrs):
    shape = [int(v) for v in inputs[0]]
    if int(np.prod(shape, dtype=np.int64)) > MAX_ELEMENTS:
        return None
    from onnx import numpy_helper

    fill = numpy_helper.to_array(attrs["value"]).reshape(-1)[0] if "value" in attrs else np.float32(0)
    return np.full(shape, fill)


_OPS = {
    "Identity": lambda i, a: i[0],
    "Gather": lambda i, a: np.take(i[0], i[1], axis=a.get("axis", 0)),
    "Concat": lambda i, a: np.concatenate([np.atleast_1d(v) for v in i], axis=a.get("axis", 0)),
    "Slice": _slice,
    "Unsqueeze": _unsqueeze, "Squeeze": _squeeze,
    "Cast": lambda i, a: i[0].astype(_to_dtype(a["to"])),
    "Add": lambda i, a: i[0] + i[1], "Sub": lambda i, a: i[0] - i[1], "Mul": lambda i, a: i[0] * i[1],
    "Div": _divide, "Neg": lambda i, a: -i[0],
    "Floor": lambda i, a: np.floor(i[0]), "Ceil": lambda i, a: np.ceil(i[0]), "Sqrt": lambda i, a: np.sqrt(i[0]),
    "Max": lambda i, a: np.maximum.reduce(i), "Min": lambda i, a: np.minimum.reduce(i),
    "Abs": lambda i, a: np.abs(i[0]), "Mod": lambda i, a: np.fmod(i[0], i[1]) if a.get("fmod") else np.mod(i[0], i[1]),
    "Equal": lambda i, a: np.equal(i[0], i[1]), "Where": lambda i, a: np.where(i[0], i[1], i[2]),
    "Less": lambda i, a: np.less(i[0], i[1]), "Greater": lambda i, a: np.greater(i[0], i[1]),
    "Not": lambda i, a: np.logical_not(i[0]),
    "Transpose": lambda i, a: np.transpose(i[0], a.get("perm")),
    "Reshape": lambda i, a: i[0].reshape([int(s) if s != 0 else i[0].shape[k] for k, s in enumerate(i[1])]),
    "Range": lambda i, a: np.arange(i[0], i[1], i[2]) if abs((i[1] - i[0]) / i[2]) <= MAX_ELEMENTS else None,
    "ConstantOfShape": _constant_of_shape,
    "ReduceProd": lambda i, a: np.prod(i[0], keepdims=bool(a.get("keepdims", 1))) if not _axes(i, a, 1) else None,
}
