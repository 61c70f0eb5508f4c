"""The pickle scanner reads what the unpickler would do, in every protocol, and says so when it
cannot be sure; picklescan's second opinion agrees on the payloads and passes plain tensors."""
import io
import pickle
import struct

import pytest

from sonobench.evaluator.sandbox import archives, pickles
from tests.hostile.corpus_hosted import stack_desync_pickle


class Evil:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("proto", range(0, 6))
def test_every_protocol_is_read(proto):
    assert archives.code_globals(pickle.dumps(Evil(), protocol=proto)) in (["builtins.eval"], ["__builtin__.eval"])


def test_stack_global_is_resolved_from_the_real_stack_not_the_last_strings():
    assert archives.code_globals(stack_desync_pickle("1 + 1")) == ["builtins.eval"]


def test_an_opcode_straddling_a_frame_boundary_is_unclear():
    good = pickle.dumps({"a": 1}, protocol=4)
    assert good[2] == 0x95  # FRAME
    (n,) = struct.unpack_from("<Q", good, 3)
    bad = good[:3] + struct.pack("<Q", n - 3) + good[11:]  # ends inside the BININT1 before SETITEM, STOP
    with pytest.raises(pickles.PickleUnclear, match="frame"):
        pickles.pickle_globals(bad)


@pytest.mark.parametrize("blob, why", [
    (b"\x80\x02\x82\x01.", "extension registry"),         # EXT1
    (b"\x80\x02h\x05.", "memo entry it never wrote"),      # BINGET 5
    (b"\x80\x02}q\x00", "without a STOP|does not parse"),   # truncated
    (b"\x80\x02}}.", "leaves values on its stack"),
    (b"\x80\x02\x93.", "does not balance"),                 # STACK_GLOBAL on an empty stack
])
def test_what_cannot_be_read_with_certainty_is_unclear(blob, why):
    with pytest.raises(pickles.PickleUnclear, match=why):
        pickles.pickle_globals(blob)


def test_trailing_bytes_after_a_member_pickle_are_unclear():
    with pytest.raises(pickles.PickleUnclear, match="bytes follow"):
        pickles.pickle_globals(pickle.dumps({}, protocol=2) + b"junk", exact=True)


def test_a_real_state_dict_is_tensors_only_for_both_scanners():
    torch = pytest.importorskip("torch")
    for kw in ({}, {"_use_new_zipfile_serialization": False}):
        buf = io.BytesIO()
        torch.save({"w": torch.zeros(3), "b": torch.nn.Parameter(torch.ones(2))}, buf, **kw)
        assert archives.torch_load_globals(buf.getvalue(), "sd", archives.ZipLimits(1 << 30, 100.0, 100)) == []


def test_picklescan_second_opinion_flags_the_payload():
    assert archives.second_opinion(pickle.dumps(Evil(), protocol=2)) == ["builtins.eval (picklescan)"] or \
        archives.second_opinion(pickle.dumps(Evil(), protocol=2)) == ["__builtin__.eval (picklescan)"]
    assert archives.second_opinion(pickle.dumps({"a": [1, 2]})) == []
