"""What a pickle would import, found by simulating its stack; nothing is imported or called.

`pickletools.genops` parses the opcodes of any protocol (0 to 5). On top of
it this module runs the unpickler's stack machine symbolically: strings are
tracked through the stack and the memo (PUT/GET/MEMOIZE, DUP, POP, MARK), so
`STACK_GLOBAL` is resolved from the two values really on top of the stack,
not from the last strings seen (a POP between them would otherwise make
`os.system` look like `torch._utils._rebuild_tensor`). Frames (protocol 4+)
must tile the opcodes exactly, as the pure-Python unpickler requires. A
pickle that does not parse, whose stack does not balance, that uses the
extension registry or whose global cannot be resolved is "cannot be sure":
`PickleUnclear`, a refusal, never "holds only weights".
"""
from __future__ import annotations

import io
import pickletools

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
               "BINSTRING", "STRING"}
_MARK = object()
_ANY = object()


class PickleUnclear(Exception):
    """The pickle cannot be read with certainty; the message says why."""


def _pop_to_mark(stack: list) -> None:
    while stack:
        if stack.pop() is _MARK:
            return
    raise PickleUnclear("an opcode needs a MARK that is not on the stack")


def _pop(stack: list, n: int = 1) -> list:
    if len(stack) < n or any(v is _MARK for v in stack[len(stack) - n:]):
        raise PickleUnclear("the pickle's stack does not balance")
    out = stack[len(stack) - n:]
    del stack[len(stack) - n:]
    return out


class _Machine:
    def __init__(self):
        self.stack: list = []
        self.memo: dict[int, object] = {}
        self.found: list[str] = []

    def step(self, op, arg) -> None:
        name, st = op.name, self.stack
        if name == "MARK":
            st.append(_MARK)
        elif name in _STRING_OPS:
            st.append(arg if isinstance(arg, str) else _ANY)
        elif name in ("GLOBAL", "INST"):
            self.found.append(str(arg).replace(" ", "."))
            if name == "INST":
                _pop_to_mark(st)
            st.append(_ANY)
        elif name == "STACK_GLOBAL":
            mod, nm = _pop(st, 2)
            if not (isinstance(mod, str) and isinstance(nm, str)):
                raise PickleUnclear("a STACK_GLOBAL takes its name from values the scan cannot resolve")
            self.found.append(f"{mod}.{nm}")
            st.append(_ANY)
        elif name.startswith("EXT"):
            raise PickleUnclear("the pickle uses the copyreg extension registry (EXT opcodes)")
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = _pop(st)[0]
            st.append(self.memo[len(self.memo) - 1])
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            self.memo[int(arg)] = _pop(st)[0]
            st.append(self.memo[int(arg)])
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if int(arg) not in self.memo:
                raise PickleUnclear("the pickle reads a memo entry it never wrote")
            st.append(self.memo[int(arg)])
        elif name == "DUP":
            st.append(_pop(st)[0]); st.append(st[-1])
        elif name == "POP":
            if st and st[-1] is _MARK:
                st.pop()
            else:
                _pop(st)
        elif name == "POP_MARK":
            _pop_to_mark(st)
        elif name in ("PROTO", "FRAME"):
            pass
        else:
            self._generic(op)

    def _generic(self, op) -> None:
        before = op.stack_before
        if pickletools.markobject in before:
            _pop_to_mark(self.stack)
            _pop(self.stack, before.index(pickletools.markobject))
        else:
            _pop(self.stack, len(before))
        self.stack.extend(_ANY for _ in op.stack_after)


def _one(stream: io.BytesIO, start: int) -> list[str]:
    """Globals of the pickle starting at `start`; leaves the stream right after its STOP."""
    machine = _Machine()
    frame_end = None
    stopped = False
    try:
        for op, arg, pos in pickletools.genops(stream):
            if frame_end is not None and pos >= frame_end:
                if pos != frame_end:
                    raise PickleUnclear("an opcode straddles a frame boundary")
                frame_end = None
            if op.name == "FRAME":
                if frame_end is not None:
                    raise PickleUnclear("a frame starts inside another frame")
                frame_end = stream.tell() + int(arg)
            if op.name == "STOP":
                _pop(machine.stack)
                stopped = True
                break
            machine.step(op, arg)
    except PickleUnclear:
        raise
    except (ValueError, EOFError, UnicodeDecodeError, TypeError, IndexError, KeyError, OverflowError) as e:
        raise PickleUnclear(f"the pickle does not parse ({type(e).__name__})") from None
    if not stopped:
        raise PickleUnclear("the pickle ends without a STOP")
    if frame_end is not None and stream.tell() != frame_end:
        raise PickleUnclear("the pickle's last frame does not end at its STOP")
    if machine.stack:
        raise PickleUnclear("the pickle leaves values on its stack")
    return machine.found


def pickle_globals(data: bytes, count: int = 1, exact: bool = False) -> list[str]:
    """Every global that `count` consecutive pickles in `data` would import ('module.name').
    `exact`: the pickles must end exactly where `data` ends (a member holding one pickle).
    Raises PickleUnclear when the scan cannot be sure."""
    stream = io.BytesIO(data)
    found: list[str] = []
    for _ in range(count):
        if stream.tell() >= len(data):
            raise PickleUnclear(f"expected {count} pickles, found fewer")
        found += _one(stream, stream.tell())
    if exact and stream.tell() != len(data):
        raise PickleUnclear("bytes follow the pickle's STOP")
    return found
