"""The parent survives whatever the child sends: malformed frames and forged reports are
refused with a reason, never a crash and never a stored value."""
import json
import os
import struct

import pytest

from sonobench.evaluator.sandbox import protocol, reports


def _recv_raw(header_bytes: bytes, payload: bytes = b"", max_bytes=None):
    r, w = os.pipe()
    try:
        os.write(w, struct.pack(">I", len(header_bytes)) + header_bytes + payload)
        os.close(w)
        w = None
        return protocol.recv(r, deadline=None, max_bytes=max_bytes)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def test_deeply_nested_header_is_refused_not_a_recursion_error():
    blob = b"[" * 30000 + b"]" * 30000
    assert len(blob) < protocol.MAX_HEADER
    with pytest.raises(protocol.ProtocolError, match="malformed message header"):
        _recv_raw(blob)


def test_depth_ignores_brackets_inside_strings():
    assert protocol.json_depth(json.dumps({"a": "[[[[{{{{"}).encode()) == 1
    assert protocol.json_depth(b'{"a": "\\"[[["}') == 1


def test_shape_whose_int64_product_wraps_is_refused():
    # 2**32 * 2**32 wraps to 0 in int64: nbytes 0 would have "matched" and crashed reshape
    head = json.dumps({"ok": True, "dtype": "float32", "shape": [2**32, 2**32], "nbytes": 0}).encode()
    with pytest.raises(protocol.ProtocolError, match="larger than allowed|needs"):
        _recv_raw(head, max_bytes=1 << 20)
    with pytest.raises(protocol.ProtocolError, match="needs 73786976294838206464"):
        _recv_raw(head)


@pytest.mark.parametrize("shape", [[1, True, 2], [1, -1], [1.0, 2], "12", [1] * 9])
def test_malformed_shapes_are_refused(shape):
    head = json.dumps({"dtype": "float32", "shape": shape, "nbytes": 8}).encode()
    with pytest.raises(protocol.ProtocolError, match="malformed"):
        _recv_raw(head, b"\0" * 8)


def test_oversized_request_is_refused_before_sending():
    r, w = os.pipe()
    try:
        with pytest.raises(protocol.ProtocolError, match="exceeds"):
            protocol.send(w, {"kwargs": "x" * protocol.MAX_HEADER})
    finally:
        os.close(r), os.close(w)


@pytest.mark.parametrize("cx, why", [
    ({"params": "seven", "gflops": 1.0}, "parameter count"),
    ({"params": 10**30, "gflops": 1.0}, "parameter count"),
    ({"params": True, "gflops": 1.0}, "parameter count"),
    ({"params": 7, "gflops": "tiny"}, "GFLOPs"),
    ({"params": 7, "gflops": float("nan")}, "GFLOPs"),
    ({"params": 7, "gflops": -1.0}, "GFLOPs"),
    ({"params": 7, "gflops": 1e300}, "GFLOPs"),
    ("not a dict", "complexity report"),
])
def test_forged_complexity_is_refused(cx, why):
    with pytest.raises(reports.ChildReportInvalid, match=why):
        reports.load_reply({"ok": True, "channels": 1, "complexity": cx}, reported_complexity=True)


def test_valid_complexity_is_labelled_as_reported_by_the_child():
    out = reports.load_reply({"ok": True, "channels": 3, "complexity": {"params": 7, "gflops": 0.5}}, True)
    assert out["channels"] == 3
    assert out["complexity"]["params"] == 7 and out["complexity"]["source"] == reports.REPORTED_BY_CHILD


@pytest.mark.parametrize("channels", [2, "1", 1.0, None, True])
def test_bad_channel_counts_are_refused(channels):
    with pytest.raises(reports.ChildReportInvalid, match="channel"):
        reports.load_reply({"ok": True, "channels": channels}, reported_complexity=False)


def test_ok_must_be_a_boolean():
    with pytest.raises(reports.ChildReportInvalid):
        reports.check_ok({"ok": "yes"}, "load")


def test_clean_text_strips_escapes_and_advice_to_weaken_security():
    raw = ("\x1b[31mWeights only load failed.\x1b[0m In PyTorch 2.6 [1mweights_only[0m default changed. "
           "Re-running `torch.load` with `weights_only` set to `False` will likely succeed. "
           "Please check the warnings above for possible errors.\n" + "x" * 1000)
    text = reports.clean_text(raw)
    assert "\x1b" not in text and "[0m" not in text and "[31m" not in text
    assert "False" not in text and "warnings above" not in text
    assert len(text) <= reports.MAX_TEXT + 6
    assert reports.WEAKEN_NOTE in text
