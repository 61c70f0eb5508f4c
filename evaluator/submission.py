"""What a submission is, checked without ever loading it: format, files, size, spec.

Formats are recognised by content (magic bytes and archive members), not by
the extension alone, so a pickle renamed to `.onnx` is still caught. PyTorch
archives are checked from their zip directory (zip bombs) and their pickles
are disassembled, never executed, to tell a state dict (tensors only) from a
pickled object (code). An ONNX model may bring external-data files: the ones
uploaded next to it (a folder submission, or `<model>.onnx.data` beside a
single file); the sandbox later checks that the model references nothing else.
"""
from __future__ import annotations

import enum
import hashlib
import json
import pickletools
import struct
from dataclasses import dataclass, field
from pathlib import Path

from sonobench.kernel.errors import InvalidSubmission
from sonobench.kernel.registry import did_you_mean
from sonobench.kernel.settings import DEFAULTS as _DEFAULTS
from sonobench.kernel.settings import MAX_PICKLE_SCAN_BYTES, MB

from .method import FIELDS as METHOD_FIELDS
from .method import check_method
from .sandbox import archives
from .sandbox.protocol import loads_bounded
from .tasks import sha256_file

SPEC_FILE = "submission.json"
IGNORED_IN_FOLDER = {SPEC_FILE, "README.md", "README.txt", ".DS_Store"}


class Format(str, enum.Enum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    EXPORT = "export"            # torch.export program (.pt2)
    STATE_DICT = "state_dict"    # torch.save'd dict of tensors + architecture spec
    SAFETENSORS = "safetensors"  # safetensors weights + architecture spec
    PICKLE = "pickle"            # a pickled object (code): refused unless the operator allows it


class OutputKind(str, enum.Enum):
    LOGITS = "logits"
    PROBABILITIES = "probabilities"


EXTENSIONS = {".onnx": "onnx", ".pt": "torch", ".pth": "torch", ".ts": "torch", ".pt2": "torch",
              ".bin": "torch", ".safetensors": "safetensors"}
# A protocol 0/1 pickle has no PROTO opcode: any opcode may come first.
_PROTOCOL0_STARTS = {op.code.encode("latin-1") for op in pickletools.opcodes}
# identity, what to score and how, then the method metadata (evaluator/method.py)
SPEC_KEYS = {"name", "team", "task", "architecture", "output", *METHOD_FIELDS}


@dataclass(frozen=True)
class FileLimits:
    # Defaults are the operator settings' (from_settings(DEFAULTS)), never a second literal.
    max_model_bytes: int = _DEFAULTS.max_model_mb * MB
    max_upload_bytes: int = _DEFAULTS.max_upload_mb * MB
    zip: archives.ZipLimits = archives.ZipLimits(_DEFAULTS.max_unpacked_mb * MB, _DEFAULTS.max_zip_ratio,
                                                 _DEFAULTS.max_zip_members)

    @classmethod
    def from_settings(cls, s) -> "FileLimits":
        return cls(int(s.max_model_mb * MB), int(s.max_upload_mb * MB),
                   archives.ZipLimits(int(s.max_unpacked_mb * MB), s.max_zip_ratio, s.max_zip_members))


@dataclass
class Submission:
    path: Path
    format: Format
    sha256: str
    name: str
    team: str = ""
    task: str | None = None
    architecture: dict | None = None
    output: OutputKind = OutputKind.LOGITS
    meta: dict = field(default_factory=dict)
    companions: list[Path] = field(default_factory=list)   # ONNX external-data files uploaded with it
    code_globals: tuple[str, ...] = ()                     # what a pickle / .pt2 would import and run
    team_id: int | None = None                             # hosted mode: the team of the token

    @property
    def files(self) -> list[Path]:
        return [self.path, *self.companions]


UNSURE = "<unparseable pickle>"


def _classify_state_dict(path: Path, members: list[str]) -> tuple[Format, tuple[str, ...]]:
    """A torch.save archive: tensors only -> STATE_DICT; anything importing code -> PICKLE.
    A pickle the scan cannot read with certainty is a PICKLE (refused without --allow-pickle),
    never 'only weights'."""
    pkl = next((m for m in members if m.endswith("data.pkl")), None)
    try:
        found = archives.code_globals(archives.read_member(path, pkl), exact=True) if pkl else []
    except archives.ArchiveRejected as e:
        raise InvalidSubmission(str(e)) from None
    except archives.PickleUnclear:
        found = [UNSURE]
    return (Format.PICKLE, tuple(found)) if found else (Format.STATE_DICT, ())


def _classify_legacy(path: Path) -> tuple[Format, tuple[str, ...]]:
    """A non-zip pickle (legacy torch.save writes five in a row), of any protocol."""
    data = path.read_bytes()[: MAX_PICKLE_SCAN_BYTES]
    try:
        found = archives.code_globals(data, max_pickles=archives.LEGACY_PICKLES)
    except archives.PickleUnclear:
        try:  # a plain pickle.dump of one object
            found = archives.code_globals(data, exact=True)
        except archives.PickleUnclear:
            return Format.PICKLE, (UNSURE,)
    return (Format.PICKLE, tuple(found)) if found else (Format.STATE_DICT, ())


def inspect(path: Path, limits: FileLimits | None = None) -> tuple[Format, tuple[str, ...]]:
    """(format, code globals) from the bytes; raise InvalidSubmission with what to do otherwise."""
    limits = limits or FileLimits()
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise InvalidSubmission(
            f"{path.name}: unsupported file type '{ext or '(none)'}'. Submit .onnx, TorchScript .pt/.ts, "
            f"torch.export .pt2, or a state_dict (.pt/.pth) / .safetensors file with an architecture spec."
            f"{did_you_mean(ext, EXTENSIONS)}"
        )
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise InvalidSubmission(f"{path.name} is empty (0 bytes); upload the complete model file")
    if EXTENSIONS[ext] == "onnx":
        if head[:2] == b"PK" or head[:1] == b"\x80":
            raise InvalidSubmission(f"{path.name} has an .onnx extension but holds a PyTorch archive/pickle; export it with torch.onnx.export")
        return Format.ONNX, ()
    if EXTENSIONS[ext] == "safetensors":
        return Format.SAFETENSORS, ()  # header checked by prepare(), once the architecture is known
    if head[:4] != b"PK\x03\x04":
        if head[:1] == b"\x80" or head[:1] in _PROTOCOL0_STARTS:
            return _classify_legacy(path)
        raise InvalidSubmission(f"{path.name} is not a PyTorch archive (no zip header); it may be truncated or of another format")
    try:
        infos = archives.check_zip(path, limits.zip)
    except archives.ArchiveRejected as e:
        raise InvalidSubmission(str(e)) from None
    members = [i.filename for i in infos]
    names = {m.split("/", 1)[-1] for m in members}
    if any(m.endswith("archive_format") for m in members) or "models/model.json" in names:
        return Format.EXPORT, tuple(archives.embedded_code_globals(path, infos, limits.zip))
    if any(n.startswith("code/") for n in names) or "constants.pkl" in names:
        return Format.TORCHSCRIPT, ()
    if "data.pkl" in names:
        return _classify_state_dict(path, members)
    raise InvalidSubmission(f"{path.name}: a zip archive that is neither TorchScript, torch.export nor torch.save output")


def sniff_format(path: Path) -> Format:
    return inspect(Path(path))[0]


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
    if size < 8:
        raise InvalidSubmission(f"{path.name} is too short to be a safetensors file (truncated?)")
    (n,) = struct.unpack("<Q", head[:8])
    if n > 100 * 1024**2 or 8 + n > size:
        raise InvalidSubmission(f"{path.name} has a safetensors header of {n} bytes in a {size}-byte file (truncated or not safetensors)")


MAX_SPEC_BYTES = 1024**2
MAX_SPEC_DEPTH = 16
MAX_ARCH_JSON = 16 * 1024   # the architecture travels to the sandbox in one 64 KiB message
TEXT_LIMITS = {"name": 200, "team": 100, "task": 200, "output": 40}  # the method fields: evaluator/method.py


def read_spec(spec_path: str | Path | None) -> dict:
    if spec_path is None:
        return {}
    p = Path(spec_path)
    if not p.is_file():
        raise InvalidSubmission(f"Submission spec {p} does not exist")
    if p.stat().st_size > MAX_SPEC_BYTES:
        raise InvalidSubmission(f"{p.name} is larger than {MAX_SPEC_BYTES // 1024} KiB; a submission.json holds "
                                "only a name, team, task, architecture, output and the method metadata")
    try:
        spec = loads_bounded(p.read_bytes(), MAX_SPEC_DEPTH)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        why = str(e) if "nested" in str(e) else f"{type(e).__name__}: {str(e)[:120]}"
        raise InvalidSubmission(f"{p.name} is not valid JSON ({why}); write a flat JSON object such as "
                                '{"name": "my-model", "task": "sim-breast-lesion"}') from None
    if not isinstance(spec, dict):
        raise InvalidSubmission(f"{p.name} must hold a JSON object")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise InvalidSubmission(f"{p.name}: unknown key '{key}'. Valid keys: {', '.join(sorted(SPEC_KEYS))}.{did_you_mean(key, SPEC_KEYS)}")
    for key, limit in TEXT_LIMITS.items():
        check_text(spec.get(key), key, limit, where=f"{p.name}: ")
    check_method(spec, where=f"{p.name}: ")
    return spec


def check_text(value, what: str, limit: int, where: str = "") -> str | None:
    """A name-like field: None or a string of at most `limit` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSubmission(f"{where}'{what}' must be a text, got a JSON {type(value).__name__}")
    if len(value) > limit or any(not ch.isprintable() for ch in value):
        raise InvalidSubmission(f"{where}'{what}' must be at most {limit} printable characters")
    return value


def _architecture(arch) -> dict | None:
    """{'name': str, 'kwargs': dict}; kwargs may arrive as JSON text (the CLI's --arch-kwargs)."""
    if arch is None:
        return None
    if isinstance(arch, str):
        arch = {"name": arch, "kwargs": {}}
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str) or not arch["name"]:
        raise InvalidSubmission("'architecture' must be a name or {'name': ..., 'kwargs': {...}}")
    kwargs = arch.get("kwargs")
    if isinstance(kwargs, str):
        try:
            kwargs = loads_bounded(kwargs.encode(), MAX_SPEC_DEPTH) if kwargs.strip() else {}
        except (ValueError, RecursionError) as e:
            raise InvalidSubmission(f"--arch-kwargs is not valid JSON ({str(e)[:120]}); pass an object such as "
                                    "'{\"base\": 32}'") from None
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise InvalidSubmission(f"the architecture arguments must be a JSON object of keyword arguments such as "
                                f'{{"base": 32}}, got a JSON {type(kwargs).__name__}')
    out = {"name": arch["name"], "kwargs": kwargs}
    if len(json.dumps(out)) > MAX_ARCH_JSON:
        raise InvalidSubmission(f"the architecture spec is {len(json.dumps(out)) // 1024} KiB of JSON; the limit is "
                                f"{MAX_ARCH_JSON // 1024} KiB. Pass only the constructor arguments (name and numbers), "
                                "never weights or data")
    return out


def _regular(p: Path) -> Path:
    if p.is_symlink():
        raise InvalidSubmission(f"{p.name} is a symbolic link; upload the file itself")
    if not p.is_file():
        raise InvalidSubmission(f"{p.name} is not a regular file")
    return p


def locate(path: Path) -> tuple[Path, list[Path]]:
    """The model file and its candidate companions, for a file or an upload folder."""
    if path.is_dir():
        entries = sorted(p for p in path.iterdir() if p.name not in IGNORED_IN_FOLDER)
        models = [p for p in entries if p.suffix.lower() == ".onnx"]  # its data files may end in .bin
        models = models or [p for p in entries if p.suffix.lower() in EXTENSIONS]
        if len(models) != 1:
            found = ", ".join(p.name for p in models) or "none"
            raise InvalidSubmission(f"the folder {path.name} must hold exactly one model file "
                                    f"(.onnx, .pt, .pt2, .safetensors, ...); found {found}")
        model = _regular(models[0])
        return model, [_regular(p) for p in entries if p != model]
    if not path.is_file():
        raise InvalidSubmission(f"No model file at {path}; check the path")
    path = path.resolve()
    sibling = path.with_name(path.name + ".data")
    return path, ([_regular(sibling)] if sibling.exists() or sibling.is_symlink() else [])


def combined_sha256(files: list[Path]) -> str:
    """The file's own SHA-256; with companions, a digest over every file's name and hash."""
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def _check_sizes(model: Path, companions: list[Path], limits: FileLimits) -> None:
    size = model.stat().st_size
    if size > limits.max_model_bytes:
        raise InvalidSubmission(f"{model.name} is {size / 1024**2:.1f} MiB; the limit is "
                                f"{limits.max_model_bytes / 1024**2:.0f} MiB")
    total = size + sum(c.stat().st_size for c in companions)
    if total > limits.max_upload_bytes:
        raise InvalidSubmission(f"the model and its data files are {total / 1024**2:.0f} MiB together; the limit is "
                                f"{limits.max_upload_bytes / 1024**2:.0f} MiB")


def prepare(path: str | Path, spec: dict | None = None, *, name: str | None = None, team: str | None = None,
            architecture=None, output: str | None = None, limits: FileLimits | None = None) -> Submission:
    """Check a model file (or upload folder) before anything is stored or run.
    Command-line values override the spec."""
    limits = limits or FileLimits()
    path = Path(path)
    check_text(name, "name", TEXT_LIMITS["name"])
    check_text(team, "team", TEXT_LIMITS["team"])
    if not path.exists() and not path.is_symlink():
        raise InvalidSubmission(f"No model file at {path}; check the path")
    if path.is_dir() and not spec and (path / SPEC_FILE).is_file():
        spec = read_spec(path / SPEC_FILE)
    model, companions = locate(path)
    _check_sizes(model, companions, limits)
    spec = dict(spec or {})
    for key, limit in TEXT_LIMITS.items():
        check_text(spec.get(key), key, limit, where=f"{SPEC_FILE}: ")
    method = check_method(spec, where=f"{SPEC_FILE}: ")
    fmt, code = inspect(model, limits)
    if fmt is not Format.ONNX and companions and path.is_dir():
        raise InvalidSubmission(f"the folder {path.name} holds extra files ({', '.join(c.name for c in companions)}); "
                                "only an ONNX model may bring external-data files")
    companions = companions if fmt is Format.ONNX else []
    arch = _architecture(architecture if architecture is not None else spec.get("architecture"))
    if fmt in (Format.STATE_DICT, Format.SAFETENSORS) and arch is None:
        raise InvalidSubmission(
            f"{model.name} holds only weights: name the architecture (submission.json "
            "'architecture': {'name': 'unet', 'kwargs': {...}} or --arch) so it can be rebuilt"
        )
    if fmt is Format.SAFETENSORS:
        _check_safetensors(model)
    out = output or spec.get("output") or "logits"
    try:
        out_kind = OutputKind(out)
    except ValueError:
        raise InvalidSubmission(f"'output' must be 'logits' or 'probabilities', got {out!r}") from None
    return Submission(path=model, format=fmt, sha256=combined_sha256([model, *companions]),
                      name=name or spec.get("name") or model.stem, team=team or spec.get("team") or "",
                      task=spec.get("task"), architecture=arch, output=out_kind,
                      meta={} if method.empty else {"method": method.to_json()}, companions=companions,
                      code_globals=code)
