"""The narrow pipe protocol between the evaluator and the sandboxed child.

A message is a 4-byte big-endian length, a JSON header of that length, then
`header["nbytes"]` raw bytes when the header carries an array
(`dtype`, `shape`). Nothing else crosses the pipe: no pickles.

What arrives from the child is untrusted: a header is parsed only when it is
at most `MAX_HEADER` bytes and nested at most `MAX_DEPTH` levels (a deep
document would exhaust the parser's recursion), and an array's size is computed
with Python integers from at most `MAX_DIMS` dimensions, so a shape whose
int64 product would wrap around is refused instead of reaching `reshape`.
"""
from __future__ import annotations

import json
import math
import os
import select
import struct
import time

import numpy as np

MAX_HEADER = 1 << 16
MAX_DEPTH = 32
MAX_DIMS = 8
ALLOWED_DTYPES = ("float16", "float32", "float64")


class ProtocolError(Exception):
    pass


class Deadline(Exception):
    pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(fd: int, header: dict, array: np.ndarray | None = None) -> None:
    header = dict(header)
    payload = b""
    if array is not None:
        array = np.ascontiguousarray(array)
        header.update(dtype=str(array.dtype), shape=list(array.shape), nbytes=array.nbytes)
        payload = array.tobytes()
    blob = json.dumps(header).encode()
    if len(blob) > MAX_HEADER:
        raise ProtocolError(f"message header of {len(blob)} bytes exceeds the {MAX_HEADER}-byte limit")
    _write_all(fd, struct.pack(">I", len(blob)) + blob)
    if payload:
        _write_all(fd, payload)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Deadline("timed out waiting for the model process")
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise ProtocolError("the model process closed the pipe (it crashed or exited)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def json_depth(blob: bytes) -> int:
    """The deepest nesting of arrays/objects in a JSON document, found without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in blob:
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:  # quote
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return deepest


def loads_bounded(blob: bytes, max_depth: int = MAX_DEPTH):
    """json.loads that refuses documents nested deeper than `max_depth` (ValueError)."""
    if json_depth(blob) > max_depth:
        raise ValueError(f"nested more than {max_depth} levels deep")
    return json.loads(blob)


def _array_bytes(dtype, shape, max_bytes: int | None) -> int:
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS
            and all(type(s) is int and 0 <= s for s in shape)):
        raise ProtocolError(f"output shape {str(shape)[:80]} is malformed (at most {MAX_DIMS} non-negative integers)")
    expected = math.prod(shape) * np.dtype(dtype).itemsize  # Python ints: no wrap-around
    if max_bytes is not None and expected > max_bytes:
        raise ProtocolError(f"output of shape {shape} ({expected} bytes) is larger than allowed ({max_bytes} bytes)")
    return expected


def recv(fd: int, deadline: float | None = None, max_bytes: int | None = None) -> tuple[dict, np.ndarray | None]:
    """Read one message. `max_bytes` caps the array payload before it is read."""
    (length,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if length > MAX_HEADER:
        raise ProtocolError(f"message header of {length} bytes exceeds the {MAX_HEADER}-byte limit")
    try:
        header = loads_bounded(_read_exact(fd, length, deadline))
    except (UnicodeDecodeError, ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise ProtocolError("the model process sent a malformed message header") from None
    if not isinstance(header, dict):
        raise ProtocolError("the model process sent a malformed message header")
    if "nbytes" not in header:
        return header, None
    dtype, shape, nbytes = header.get("dtype"), header.get("shape"), header.get("nbytes")
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"output dtype {dtype!r} is not a floating type ({', '.join(ALLOWED_DTYPES)})")
    expected = _array_bytes(dtype, shape, max_bytes)
    if type(nbytes) is not int or nbytes != expected:
        raise ProtocolError(f"output claims {str(nbytes)[:40]} bytes but shape {shape} of {dtype} needs {expected}")
    data = _read_exact(fd, nbytes, deadline)
    return header, np.frombuffer(data, dtype=dtype).reshape(shape)
