"""A read-only view of an ONNX graph for counting: tensor shapes after shape
inference at a fixed input size, constant tensors (initializers and Constant nodes),
and who produces and consumes each value. Pure graph analysis: nothing is executed."""
from __future__ import annotations

import os
from functools import cached_property

import numpy as np

from .errors import ComplexityError

FLOAT_TYPES = {1, 10, 11, 16}  # FLOAT, FLOAT16, DOUBLE, BFLOAT16 (onnx.TensorProto)


def load_model(model):
    """An onnx.ModelProto from a path, bytes or a ModelProto. External weight files are
    not read (only their shapes are needed), so nothing outside the model is opened."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    try:
        if isinstance(model, (bytes, bytearray, memoryview)):
            return onnx.load_model_from_string(bytes(model))  # bytes never pull external files
        if isinstance(model, (str, os.PathLike)):
            return onnx.load_model(os.fspath(model), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ComplexityError(f"cannot read the ONNX model: {type(e).__name__}: {e}") from e
    raise ComplexityError(f"Expected argument `model` to be a path, bytes or onnx.ModelProto, "
                          f"but got {type(model).__name__}.")


class Graph:
    """`run_missing`: when pure inference leaves shapes that a count needs unknown,
    learn them by running the model once on a zero image with onnxruntime (only
    where running the model is allowed anyway, as in the sandbox child)."""

    def __init__(self, model, input_shape, run_missing: bool = False):
        import onnx

        from .onnx_fold import MAX_ELEMENTS, infer_with_folding

        model = _inline_functions(model)
        # parameters are counted on these (see onnx_fold), the nodes of If/Loop/Scan bodies included
        self.original_nodes = list(walk(model.graph.node))
        # weights keep their data here; inference and folding work on a copy without it
        self.const_protos = {t.name: t for t in model.graph.initializer}
        self.const_protos.update((t.name, t) for t in nested_initializers(model.graph.node))
        inferred, self.folded = infer_with_folding(_skeleton(model, input_shape, MAX_ELEMENTS))
        self.graph = inferred.graph
        self.nodes = list(self.graph.node)
        self.shapes = _collect_shapes(self.graph)
        for sub in subgraphs_below(self.graph.node):  # shape inference annotates the bodies too
            self.shapes.update((k, v) for k, v in _collect_shapes(sub).items() if k not in self.shapes)
        self.const_protos.update((t.name, t) for t in self.graph.initializer if t.name in self.folded)
        for node in list(self.nodes) + [n for n in self.original_nodes if n.op_type == "Constant"]:
            if node.op_type == "Constant" and node.output and node.attribute:
                attr = node.attribute[0]
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    self.const_protos[node.output[0]] = attr.t
        self.producer = {out: n for n in self.nodes for out in n.output}
        if run_missing:
            from .onnx_run import shapes_by_running

            missing = self.missing_shapes()
            if missing:
                self.shapes.update(shapes_by_running(model, input_shape, missing))

    def missing_shapes(self) -> list[str]:
        """Inputs and outputs of counted nodes whose shapes inference could not find."""
        from .onnx_ops import HANDLERS

        names = [v for n in self.nodes if n.op_type in HANDLERS for v in list(n.input) + list(n.output)]
        return sorted({v for v in names if v and v not in self.shapes and v not in self.const_protos})

    @cached_property
    def consumers(self) -> dict[str, list]:
        return _consumers(self.nodes)

    @cached_property
    def original_consumers(self) -> dict[str, list]:
        return _consumers(self.original_nodes)

    def shape(self, name: str, node=None) -> tuple[int, ...]:
        shape = self.shapes.get(name)
        if shape is None and name in self.const_protos:
            shape = tuple(int(d) for d in self.const_protos[name].dims)
        if shape is None:
            where = f" ({node.op_type} node '{node.name}')" if node is not None else ""
            raise ComplexityError(
                f"cannot infer the shape of '{name}'{where} at this input size; export the model with static "
                "shapes (a fixed input size) or at a newer opset so ONNX shape inference can follow it.")
        return shape

    def numel(self, name: str, node=None) -> int:
        return int(np.prod(self.shape(name, node), dtype=np.int64))

    def const(self, name: str):
        """The numpy value of a constant, or None (not a constant, or stored externally)."""
        proto = self.const_protos.get(name)
        if proto is None or proto.data_location == 1:  # onnx.TensorProto.EXTERNAL
            return None
        from onnx import numpy_helper

        return numpy_helper.to_array(proto)

    def attr(self, node, name, default=None):
        import onnx

        for a in node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default

    def input(self, node, i: int) -> str | None:
        return node.input[i] if len(node.input) > i and node.input[i] else None


def subgraphs(node) -> list:
    """The graphs held by a node's attributes (If branches, Loop and Scan bodies)."""
    import onnx

    out = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            out.append(a.g)
        elif a.type == onnx.AttributeProto.GRAPHS:
            out.extend(a.graphs)
    return out


def subgraphs_below(nodes) -> list:
    """Every graph nested under `nodes`, at any depth."""
    out = []
    for n in nodes:
        for g in subgraphs(n):
            out.append(g)
            out.extend(subgraphs_below(g.node))
    return out


def walk(nodes):
    """`nodes` and every node of the graphs nested under them."""
    for n in nodes:
        yield n
        for g in subgraphs(n):
            yield from walk(g.node)


def nested_initializers(nodes) -> list:
    return [t for g in subgraphs_below(nodes) for t in g.initializer]


def _consumers(nodes) -> dict[str, list]:
    out: dict[str, list] = {}
    for n in nodes:
        for name in n.input:
            out.setdefault(name, []).append(n)
    return out


def _inline_functions(model):
    if not model.functions:
        return model
    import onnx.inliner

    return onnx.inliner.inline_local_functions(model)


def _skeleton(model, input_shape, max_elements: int):
    """A light copy of `model` for shape inference: the image input fixed to
    `input_shape`, large initializers replaced by typed graph inputs (inference needs
    their shapes, not their values), stale intermediate and output shapes dropped."""
    import onnx

    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ComplexityError(f"the ONNX model has {len(inputs)} inputs; complexity is counted for models "
                              "that take exactly one image tensor.")
    image = onnx.ValueInfoProto()
    image.CopyFrom(inputs[0])
    _fix_input_shape(image, input_shape)
    small, large = [], []
    for t in graph.initializer:
        (small if int(np.prod(t.dims, dtype=np.int64)) <= max_elements else large).append(t)
    new_graph = onnx.helper.make_graph(
        [_standard_twin(n) for n in graph.node], graph.name or "main",
        [image] + [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in large],
        [_untyped_shape(o) for o in graph.output],
        initializer=small,
    )
    out = onnx.helper.make_model(new_graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    return out


# com.microsoft ops that are a standard op plus a fused activation: shape inference and the
# FLOP count see the standard op (the activation adds no multiply-adds by the convention)
STANDARD_TWINS = {"FusedConv": "Conv", "FusedGemm": "Gemm"}


def _standard_twin(node):
    if node.domain != "com.microsoft" or node.op_type not in STANDARD_TWINS:
        return node
    import onnx

    attrs = [a for a in node.attribute if not a.name.startswith("activation")]
    twin = onnx.helper.make_node(STANDARD_TWINS[node.op_type], list(node.input), list(node.output), name=node.name)
    twin.attribute.extend(attrs)
    return twin


def _fix_input_shape(image, input_shape) -> None:
    dims = image.type.tensor_type.shape.dim
    if len(dims) not in (0, len(input_shape)):
        raise ComplexityError(f"the ONNX model's input has rank {len(dims)}; expected rank {len(input_shape)} "
                              f"for input shape {tuple(input_shape)}.")
    for i, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value not in (0, input_shape[i]):
            declared = [x.dim_value if x.HasField("dim_value") else (x.dim_param or "?") for x in dims]
            raise ComplexityError(f"the ONNX model's input is fixed to {declared} but the count was asked "
                                  f"at {tuple(input_shape)}.")
    image.type.tensor_type.ClearField("shape")
    for v in input_shape:
        image.type.tensor_type.shape.dim.add().dim_value = int(v)


def _untyped_shape(value_info):
    import onnx

    out = onnx.ValueInfoProto()
    out.CopyFrom(value_info)
    out.type.tensor_type.ClearField("shape")
    return out


def _collect_shapes(graph) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        if not t.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if all(d is not None for d in dims):
            shapes[vi.name] = tuple(dims)
    return shapes
