"""Static checks of an ONNX model, run on the parsed protobuf before any session exists.

Parsing the protobuf is reading data, not running the model; it still happens
inside the sandbox. Two things are refused here, each with what to do:

* external data outside the model's own folder: every `location` must be a
  plain relative path that resolves inside the folder and names a file that was
  uploaded with the model (`torch.onnx.export(..., dynamo=True)` writes
  `model.onnx` + `model.onnx.data`); absolute paths, `..`, symlinks and offsets
  beyond the file's end are rejected;
* operator domains outside the allow-list. The default list is the ONNX
  standard ("" / "ai.onnx", "ai.onnx.ml") and "com.microsoft", whose contrib ops
  are compiled into onnxruntime itself (fused attention, Gelu, ... written by
  exporters and optimisers); any other domain could only run through a
  custom-op library, which SonoBench never registers. Domains of functions the
  model defines itself are allowed, since their bodies are checked too.
"""
from __future__ import annotations

import os
from typing import Iterator

from .onnx_proto import proto


class OnnxRejected(Exception):
    pass


def parse(data: bytes):
    from google.protobuf.message import DecodeError

    onnx = proto()

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise OnnxRejected(f"the file is not a valid ONNX protobuf (truncated or corrupt?): {e}") from None
    if not model.HasField("graph"):
        raise OnnxRejected("the file parses but holds no ONNX graph (is it really an ONNX model?)")
    return model


def _graphs(graph) -> Iterator:
    onnx = proto()
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def _all_nodes(model) -> Iterator:
    for g in _graphs(model.graph):
        yield from g.node
    for fn in model.functions:
        for node in fn.node:
            yield node
            for attr in node.attribute:  # subgraphs inside function bodies
                for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                    for sub in _graphs(g):
                        yield from sub.node


def _tensors(model) -> Iterator:
    onnx = proto()

    for g in _graphs(model.graph):
        yield from g.initializer
        for sp in g.sparse_initializer:
            yield sp.values
            yield sp.indices
    for node in _all_nodes(model):
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors


def check_domains(model, allowed: tuple[str, ...]) -> None:
    local = {fn.domain for fn in model.functions}
    ok = set(allowed) | local
    for node in _all_nodes(model):
        if node.domain not in ok:
            shown = ", ".join(repr(d) for d in sorted(set(allowed))) or "(none)"
            raise OnnxRejected(
                f"node '{node.name or node.op_type}' uses operator domain '{node.domain}' ({node.op_type}), "
                f"which is not allowed (allowed: {shown}); custom-op libraries are never loaded, "
                f"so export with standard ONNX operators")


def _location_problem(location: str, folder: str) -> str | None:
    if not location or "\x00" in location:
        return "is empty or malformed"
    if os.path.isabs(location) or location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        return "is an absolute path"
    parts = location.replace("\\", "/").split("/")
    if ".." in parts:
        return "contains '..'"
    path = os.path.join(folder, location)
    if os.path.islink(path):
        return "is a symbolic link"
    real = os.path.realpath(path)
    if os.path.commonpath([real, os.path.realpath(folder)]) != os.path.realpath(folder):
        return "resolves outside the model's folder"
    if not os.path.isfile(real):
        return "was not uploaded with the model"
    return None


def check_external_data(model, folder: str) -> list[str]:
    """Validate every external-data reference; return the files used (relative names)."""
    onnx = proto()

    used = set()
    for t in _tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        problem = _location_problem(loc, folder)
        if problem:
            hint = ("put the data file next to the model and submit the folder"
                    if problem == "was not uploaded with the model" else
                    "external data must be a file uploaded with the model, named relative to it")
            raise OnnxRejected(f"tensor '{t.name}' has external data location '{loc}' that {problem}; {hint}")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", 0))
        except ValueError:
            raise OnnxRejected(f"tensor '{t.name}' has a malformed external-data offset/length") from None
        size = os.path.getsize(os.path.join(folder, loc))
        if offset < 0 or length < 0 or offset + length > size:
            raise OnnxRejected(f"tensor '{t.name}' reads bytes {offset}..{offset + length} of '{loc}', "
                               f"which has only {size} bytes (truncated upload?)")
        used.add(loc)
    return sorted(used)


def check(data: bytes, folder: str, allowed_domains: tuple[str, ...]) -> tuple[object, list[str]]:
    model = parse(data)
    check_domains(model, allowed_domains)
    return model, check_external_data(model, folder)
