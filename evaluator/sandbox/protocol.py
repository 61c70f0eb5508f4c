"""The narrow pipe protocol between the evaluator and the sandboxed child.

A message is a 4-byte big-endian length, a JSON header of that length, then
`header["nbytes"]` raw bytes when the header carries an array
(`dtype`, `shape`). Nothing else crosses the pipe: no pickles.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time

import numpy as np

MAX_HEADER = 1 << 16
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


def recv(fd: int, deadline: float | None = None, max_bytes: int | None = None) -> tuple[dict, np.ndarray | None]:
    """Read one message. `max_bytes` caps the array payload before it is read."""
    (length,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if length > MAX_HEADER:
        raise ProtocolError(f"message header of {length} bytes exceeds the {MAX_HEADER}-byte limit")
    try:
        header = json.loads(_read_exact(fd, length, deadline))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ProtocolError("the model process sent a malformed message header") from None
    if not isinstance(header, dict):
        raise ProtocolError("the model process sent a malformed message header")
    if "nbytes" not in header:
        return header, None
    dtype, shape, nbytes = header.get("dtype"), header.get("shape"), header.get("nbytes")
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"output dtype {dtype!r} is not a floating type ({', '.join(ALLOWED_DTYPES)})")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise ProtocolError(f"output shape {shape!r} is malformed")
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if nbytes != expected:
        raise ProtocolError(f"output claims {nbytes} bytes but shape {shape} of {dtype} needs {expected}")
    if max_bytes is not None and nbytes > max_bytes:
        raise ProtocolError(f"output of shape {shape} ({nbytes} bytes) is larger than allowed ({max_bytes} bytes)")
    data = _read_exact(fd, nbytes, deadline)
    return header, np.frombuffer(data, dtype=dtype).reshape(shape)
