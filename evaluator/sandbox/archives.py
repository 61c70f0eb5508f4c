"""Checks of PyTorch archives done by reading their bytes, never by loading them.

* Zip structure (central directory only): member count, total unpacked size and
  compression ratio (zip bombs), encrypted or exotic compression, unsafe or
  duplicate member names.
* Pickles, disassembled with `pickletools` (a parser: nothing is imported or
  called): the globals a pickle would import. A state dict needs only torch's
  tensor-rebuild functions, storages, dtypes and OrderedDict; anything else
  (`__main__.Net`, `builtins.eval`, `os.system`, ...) means the file runs code
  when loaded. Torch's `weights_only=True` loader inside the sandbox remains
  the real gate; this scan gives an early, precise reason.
"""
from __future__ import annotations

import io
import json
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

MAX_PICKLE_SCAN = 256 * 1024**2
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
               "BINSTRING", "STRING"}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
_NO_PUSH = {"PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "MEMOIZE"} | _MEMO_PUT
_DTYPE_NAMES = {"float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
                "bool", "complex64", "complex128", "float", "double", "half", "long", "int", "short"}
_TORCH_NAMES = {"Size", "device", "strided", "sparse_coo", "sparse_csr", "channels_last", "contiguous_format",
                "preserve_format", "per_tensor_affine", "per_channel_affine"}


class ArchiveRejected(Exception):
    pass


@dataclass(frozen=True)
class ZipLimits:
    max_unpacked_bytes: int
    max_ratio: float
    max_members: int


def _safe_global(module: str, name: str) -> bool:
    if module == "collections" and name == "OrderedDict":
        return True
    if module == "torch._utils" and name.startswith("_rebuild_"):
        return True
    if module == "torch" and (name.endswith("Storage") or name in _DTYPE_NAMES or name in _TORCH_NAMES):
        return True
    return (module, name) in {("torch._tensor", "_rebuild_from_type_v2"), ("torch.nn.parameter", "Parameter"),
                              ("torch.serialization", "_get_layout"), ("torch.storage", "UntypedStorage")}


def pickle_globals(data: bytes, max_pickles: int = 1) -> list[str]:
    """Every global `data` would import ('module.name'); '<unresolved>' when it hides one.
    Reads up to `max_pickles` pickles in sequence (legacy torch.save writes five)."""
    found: list[str] = []
    stream = io.BytesIO(data)
    for _ in range(max_pickles):
        if stream.tell() >= len(data):
            break
        memo: dict[int, str | None] = {}
        recent: list[str | None] = []
        for op, arg, _pos in pickletools.genops(stream):
            name = op.name
            if name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif name == "STACK_GLOBAL":
                mod, nm = (recent[-2], recent[-1]) if len(recent) >= 2 else (None, None)
                found.append(f"{mod}.{nm}" if isinstance(mod, str) and isinstance(nm, str) else "<unresolved>")
            elif name.startswith("EXT"):
                found.append("<unresolved>")
            if name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in _MEMO_PUT:
                memo[int(arg)] = recent[-1] if recent else None
            elif name in _MEMO_GET:
                recent.append(memo.get(int(arg)))
            elif name in _STRING_OPS:
                recent.append(arg if isinstance(arg, str) else None)
            elif name not in _NO_PUSH:
                recent.append(None)
            recent = recent[-2:]
    return found


def code_globals(data: bytes, max_pickles: int = 1) -> list[str]:
    """The globals outside the tensor-only allow-list, in order of appearance (deduplicated)."""
    out: list[str] = []
    for g in pickle_globals(data, max_pickles):
        mod, _, nm = g.rpartition(".")
        if (g == "<unresolved>" or not _safe_global(mod, nm)) and g not in out:
            out.append(g)
    return out


def check_zip(path: Path, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Refuse zip bombs and malformed archives from the central directory alone."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveRejected(f"{path.name} is a damaged zip archive (truncated?); re-save it and upload again") from None
    if len(infos) > limits.max_members:
        raise ArchiveRejected(f"{path.name} has {len(infos)} archive members; the limit is {limits.max_members}")
    names = set()
    for i in infos:
        n = i.filename
        if n.startswith(("/", "\\")) or ".." in n.replace("\\", "/").split("/") or "\x00" in n:
            raise ArchiveRejected(f"{path.name} has an unsafe member name '{n}'; re-save it with torch")
        if n in names:
            raise ArchiveRejected(f"{path.name} has the member '{n}' twice; re-save it with torch")
        names.add(n)
        if i.flag_bits & 0x1:
            raise ArchiveRejected(f"{path.name} has an encrypted member '{n}'")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveRejected(f"{path.name} uses an unsupported compression for '{n}'")
    total = sum(i.file_size for i in infos)
    size = max(1, path.stat().st_size)
    if total > limits.max_unpacked_bytes:
        raise ArchiveRejected(f"{path.name} unpacks to {total / 1024**2:.0f} MiB, over the "
                              f"{limits.max_unpacked_bytes / 1024**2:.0f} MiB limit (zip bomb?)")
    if total / size > limits.max_ratio:
        raise ArchiveRejected(f"{path.name} unpacks to {total / size:.0f}x its size (limit {limits.max_ratio:g}x): "
                              "a zip bomb is refused; torch.save archives are not compressed")
    return infos


def read_member(path: Path, name: str, cap: int = MAX_PICKLE_SCAN) -> bytes:
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
        if info.file_size > cap:
            raise ArchiveRejected(f"{path.name}: member '{name}' is {info.file_size} bytes, too large to inspect")
        return z.read(name)


def zip_bytes_code_globals(blob: bytes) -> list[str]:
    """For a torch.save archive held in memory (e.g. inside a .pt2): its data.pkl's code globals."""
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            pkls = [n for n in z.namelist() if n.endswith("data.pkl")]
            if sum(z.getinfo(n).file_size for n in pkls) > MAX_PICKLE_SCAN:
                return ["<too large to inspect>"]
            out: list[str] = []
            for n in pkls:
                out += code_globals(z.read(n))
            return out
    except (zipfile.BadZipFile, ValueError, EOFError):
        return []  # not a loadable archive; torch would refuse it too


def _pickled_members(z: zipfile.ZipFile) -> list[str]:
    """The members of a .pt2 that torch.export.load unpickles: weights and tensor constants
    saved with use_pickle (weights_only=False), opaque constants (pickle.loads), and the
    sample inputs (weights_only=True with a fallback to False). Raw tensor files are data."""
    out = []
    for cfg_name in z.namelist():
        if not cfg_name.endswith(("weights_config.json", "constants_config.json")):
            continue
        try:
            if z.getinfo(cfg_name).file_size > 64 * 1024**2:
                continue
            entries = json.loads(z.read(cfg_name)).get("config") or {}
        except (ValueError, AttributeError):
            continue  # torch cannot read it either
        folder = cfg_name.rsplit("/", 1)[0]
        for meta in entries.values():
            if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
                continue
            if meta.get("use_pickle") or meta["path_name"].startswith("opaque_obj"):
                out.append(f"{folder}/{meta['path_name']}")
    out += [n for n in z.namelist() if "/sample_inputs/" in n]
    return [n for n in out if n in set(z.namelist())]


def embedded_code_globals(path: Path, infos: list[zipfile.ZipInfo]) -> list[str]:
    """A .pt2 archive: the code globals of every pickle torch.export.load would unpickle."""
    out: list[str] = []
    with zipfile.ZipFile(path) as z:
        for name in _pickled_members(z):
            info = z.getinfo(name)
            if info.file_size > MAX_PICKLE_SCAN:
                out.append(f"<{name}: too large to inspect>")
                continue
            blob = z.read(info)
            try:
                if blob[:2] == b"PK":
                    found = zip_bytes_code_globals(blob)
                elif blob[:1] == b"\x80":
                    found = code_globals(blob, max_pickles=5)
                else:
                    found = []  # not a pickle: torch.load will refuse it
            except (ValueError, EOFError, UnicodeDecodeError):
                found = [f"<unreadable pickle in {name.rsplit('/', 1)[-1]}>"]
            out += [g for g in found if g not in out]
    return out
