"""Checks of PyTorch archives done by reading their bytes, never by loading them.

* Zip structure: from the central directory, member count, total unpacked size
  and compression ratio (zip bombs), encrypted or exotic compression, unsafe or
  duplicate member names; then every member is verified (local header = central
  directory entry, no unknown flag bits, CRC-32 over the data), because torch's
  own zip reader and Python's zipfile must never see two different archives.
* Pickles, disassembled by `pickles.py` (a parser and a symbolic stack machine:
  nothing is imported or called): the globals a pickle would import. A state
  dict needs only torch's tensor-rebuild functions, storages, dtypes and
  OrderedDict; anything else (`__main__.Net`, `builtins.eval`, `os.system`, ...)
  means the file runs code when loaded. For a `.pt2`, every member that
  torch.export.load may unpickle is scanned (see `_unpickled_members`), nested
  torch.save archives included, whatever their pickle protocol. A scan that
  cannot be sure reports so, and the archive is refused.
"""
from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from sonobench.kernel.settings import MAX_PICKLE_SCAN_BYTES

from . import pickles
from .pickles import PickleUnclear

MAX_PICKLE_SCAN = MAX_PICKLE_SCAN_BYTES  # see sonobench/kernel/settings.py
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


SECOND_OPINION_BYTES = 64 * 1024**2


def second_opinion(data: bytes) -> list[str]:
    """What picklescan (a maintained scanner with its own parser) calls dangerous in `data`.
    Our allow-list is the gate; this only adds what our own reading might have missed."""
    from picklescan.scanner import SafetyLevel, scan_pickle_bytes

    if len(data) > SECOND_OPINION_BYTES:
        return []
    result = scan_pickle_bytes(io.BytesIO(data), "member", multiple_pickles=True)
    return [f"{g.module}.{g.name} (picklescan)" for g in result.globals if g.safety == SafetyLevel.Dangerous]


def code_globals(data: bytes, max_pickles: int = 1, exact: bool = False) -> list[str]:
    """The globals outside the tensor-only allow-list, in order of appearance (deduplicated),
    plus anything picklescan calls dangerous. Raises PickleUnclear when the pickle cannot be
    read with certainty."""
    out: list[str] = []
    for g in pickles.pickle_globals(data, max_pickles, exact=exact):
        mod, _, nm = g.rpartition(".")
        if not _safe_global(mod, nm) and g not in out:
            out.append(g)
    if not out:
        out += second_opinion(data)
    return out


ALLOWED_FLAGS = 0x0008 | 0x0800  # data descriptor, UTF-8 names: what torch and zipfile both write
_LOCAL = struct.Struct("<4s5H3L2H")


def _verify_members(z: zipfile.ZipFile, raw, label: str) -> None:
    """Refuse an archive that Python's zipfile and torch's reader could see differently: every
    member's local header must repeat the central directory (name, flags, method), carry no
    unknown flag bit, and its data must match its CRC-32. Reads every member once."""
    for i in z.infolist():
        if i.flag_bits & ~ALLOWED_FLAGS:
            raise ArchiveRejected(f"{label}: member '{i.filename}' uses zip flag bits {i.flag_bits:#06x} that "
                                  "torch.save never writes; re-save the model with torch")
        raw.seek(i.header_offset)
        head = raw.read(_LOCAL.size)
        if len(head) < _LOCAL.size:
            raise ArchiveRejected(f"{label} is a damaged zip archive (truncated?); re-save it and upload again")
        sig, _ver, flags, method, _t, _d, _crc, _cs, _us, nlen, _elen = _LOCAL.unpack(head)
        name = raw.read(nlen)
        central = i.orig_filename.encode("utf-8" if i.flag_bits & 0x800 else "cp437")
        if sig != b"PK\x03\x04" or name != central or flags != i.flag_bits or method != i.compress_type:
            raise ArchiveRejected(f"{label}: the local header of member '{i.filename}' disagrees with the archive's "
                                  "directory (another name, flags or method); such archives read differently in "
                                  "different tools and are refused. Re-save the model with torch")
    try:
        for i in z.infolist():
            with z.open(i) as f:
                while f.read(1 << 20):
                    pass
    except zipfile.BadZipFile as e:
        raise ArchiveRejected(f"{label}: member check failed ({e}); the archive is damaged or was edited "
                              "after saving. Re-save the model with torch") from None
    except (NotImplementedError, RuntimeError, ValueError, EOFError, OSError, zlib.error):
        raise ArchiveRejected(f"{label}: a member cannot be read in full (unsupported zip feature or damage); "
                              "re-save the model with torch") from None


def _check_directory(infos: list[zipfile.ZipInfo], label: str, size: int, limits: ZipLimits) -> None:
    if len(infos) > limits.max_members:
        raise ArchiveRejected(f"{label} has {len(infos)} archive members; the limit is {limits.max_members}")
    names = set()
    for i in infos:
        n = i.filename
        if n.startswith(("/", "\\")) or ".." in n.replace("\\", "/").split("/") or "\x00" in n:
            raise ArchiveRejected(f"{label} has an unsafe member name '{n}'; re-save it with torch")
        if n in names:
            raise ArchiveRejected(f"{label} has the member '{n}' twice; re-save it with torch")
        names.add(n)
        if i.flag_bits & 0x1:
            raise ArchiveRejected(f"{label} has an encrypted member '{n}'")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ArchiveRejected(f"{label} uses an unsupported compression for '{n}'")
    total = sum(i.file_size for i in infos)
    if total > limits.max_unpacked_bytes:
        raise ArchiveRejected(f"{label} unpacks to {total / 1024**2:.0f} MiB, over the "
                              f"{limits.max_unpacked_bytes / 1024**2:.0f} MiB limit (zip bomb?)")
    if total / max(1, size) > limits.max_ratio:
        raise ArchiveRejected(f"{label} unpacks to {total / max(1, size):.0f}x its size (limit {limits.max_ratio:g}x): "
                              "a zip bomb is refused; torch.save archives are not compressed")


def _open(source, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        raise ArchiveRejected(f"{label} is a damaged zip archive (truncated?); re-save it and upload again") from None


def check_zip(path: Path, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Refuse zip bombs (from the central directory, before inflating anything), then archives
    that different zip readers could read differently (every member verified)."""
    with _open(path, path.name) as z:
        infos = z.infolist()
        _check_directory(infos, path.name, path.stat().st_size, limits)
        with open(path, "rb") as raw:
            _verify_members(z, raw, path.name)
    return infos


def read_member(path: Path, name: str, cap: int = MAX_PICKLE_SCAN) -> bytes:
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
        if info.file_size > cap:
            raise ArchiveRejected(f"{path.name}: member '{name}' is {info.file_size} bytes, too large to inspect")
        return z.read(name)


LEGACY_PICKLES = 5  # legacy torch.save: magic number, protocol, sys info, the object, storage keys


def torch_load_globals(blob: bytes, label: str, limits: ZipLimits) -> list[str]:
    """The code globals of bytes that `torch.load` would read: a torch.save zip (verified like
    the outer archive; every .pkl member scanned) or the legacy format (its five pickles)."""
    if blob[:4] != b"PK\x03\x04":
        return code_globals(blob, max_pickles=LEGACY_PICKLES)
    with _open(io.BytesIO(blob), label) as z:
        infos = z.infolist()
        _check_directory(infos, label, len(blob), limits)
        _verify_members(z, io.BytesIO(blob), label)
        pkls = [i for i in infos if i.filename.endswith(".pkl")]
        if sum(i.file_size for i in pkls) > MAX_PICKLE_SCAN:
            raise PickleUnclear("its pickles are too large to inspect")
        out: list[str] = []
        for i in pkls:
            out += [g for g in code_globals(z.read(i), exact=True) if g not in out]
        return out


# Members torch.export.load reads with torch.load (weights_only=False for weights, constants and
# legacy files; sample inputs fall back to it), by their path inside the archive's folder.
_TORCH_LOAD_SUFFIXES = (".pt",)
_OLD_FORMAT_MEMBERS = ("serialized_state_dict.json", "serialized_constants.json", "serialized_example_inputs.json")


def _config_entries(z: zipfile.ZipFile, cfg_name: str) -> dict:
    if z.getinfo(cfg_name).file_size > 64 * 1024**2:
        raise PickleUnclear(f"{cfg_name} is too large to inspect")
    try:
        data = json.loads(z.read(cfg_name))
        entries = data.get("config") or {}
        if not isinstance(entries, dict):
            raise ValueError
    except (ValueError, AttributeError, RecursionError, UnicodeDecodeError):
        raise PickleUnclear(f"{cfg_name} is not a readable payload config") from None
    return entries


def _unpickled_members(z: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(member, how torch reads it) for every member torch.export.load may unpickle:
    'torch.load' (use_pickle weights/constants, legacy data/weights|constants/<model>.pt,
    sample inputs, the 2.7 format's serialized_*.json), 'pickle' (opaque objects, *.pkl),
    'torchscript' (custom objects, loaded by TorchScript's own unpickler)."""
    names = z.namelist()
    out: dict[str, str] = {}
    for n in names:
        base = n.rsplit("/", 1)[-1]
        if n.endswith(_TORCH_LOAD_SUFFIXES) or base in _OLD_FORMAT_MEMBERS:
            out[n] = "torch.load"
        elif n.endswith(".pkl"):
            out[n] = "pickle"
    for cfg_name in names:
        if not cfg_name.endswith(("weights_config.json", "constants_config.json")):
            continue
        folder = cfg_name.rsplit("/", 1)[0]
        for meta in _config_entries(z, cfg_name).values():
            if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
                raise PickleUnclear(f"{cfg_name} has an entry without a path")
            member = f"{folder}/{meta['path_name']}"
            if meta["path_name"].startswith("custom_obj"):
                out[member] = "torchscript"
            elif meta["path_name"].startswith("opaque_obj"):
                out[member] = "pickle"
            elif meta.get("use_pickle"):
                out[member] = "torch.load"
    return sorted((m, how) for m, how in out.items() if m in set(names))


def embedded_code_globals(path: Path, infos: list[zipfile.ZipInfo], limits: ZipLimits) -> list[str]:
    """A .pt2 archive: the code globals of every pickle torch.export.load would unpickle.
    A member that cannot be read with certainty is reported as '<cannot be sure: ...>'."""
    out: list[str] = []
    with zipfile.ZipFile(path) as z:
        try:
            members = _unpickled_members(z)
        except PickleUnclear as e:
            return [f"<cannot be sure: {e}>"]
        for name, how in members:
            short = name.split("/", 1)[-1]
            info = z.getinfo(name)
            if how == "torchscript":
                found = [f"<TorchScript custom object in {short}>"]
            elif info.file_size > MAX_PICKLE_SCAN:
                found = [f"<cannot be sure: {short} is too large to inspect>"]
            else:
                try:
                    blob = z.read(info)
                    found = (torch_load_globals(blob, f"{path.name}:{short}", limits) if how == "torch.load"
                             else code_globals(blob, exact=True))
                except (PickleUnclear, ArchiveRejected) as e:
                    found = [f"<cannot be sure: {short}: {e}>"]
            out += [g for g in found if g not in out]
    return out
