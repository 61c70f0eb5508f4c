"""What a submission is, checked without ever loading it: format, size, spec.

Formats are recognised by content (magic bytes and archive members), not by
the extension alone, so a pickle renamed to `.onnx` is still caught.
"""
from __future__ import annotations

import enum
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidSubmission
from .registry import did_you_mean
from .tasks import sha256_file

MAX_MODEL_BYTES = 2 * 1024**3


class Format(str, enum.Enum):
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    EXPORT = "export"            # torch.export program (.pt2)
    STATE_DICT = "state_dict"    # torch.save'd dict of tensors + architecture spec
    SAFETENSORS = "safetensors"  # safetensors weights + architecture spec
    PICKLE = "pickle"            # a pickled nn.Module: refused unless the operator allows it


class OutputKind(str, enum.Enum):
    LOGITS = "logits"
    PROBABILITIES = "probabilities"


EXTENSIONS = {".onnx": "onnx", ".pt": "torch", ".pth": "torch", ".ts": "torch", ".pt2": "torch",
              ".bin": "torch", ".safetensors": "safetensors"}
SPEC_KEYS = {"name", "team", "task", "architecture", "output", "description"}


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


def _zip_members(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def sniff_format(path: Path) -> Format:
    """Identify the format from the bytes; raise InvalidSubmission with what to do otherwise."""
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
        return Format.ONNX
    if EXTENSIONS[ext] == "safetensors":
        return Format.SAFETENSORS
    if head[:2] != b"PK":
        if head[:1] == b"\x80":
            return Format.PICKLE  # legacy (non-zip) torch.save of an arbitrary object
        raise InvalidSubmission(f"{path.name} is not a PyTorch archive (no zip header); it may be truncated or of another format")
    members = _zip_members(path)
    if not members:
        raise InvalidSubmission(f"{path.name} is a damaged zip archive (truncated?); re-save it and upload again")
    names = {m.split("/", 1)[-1] for m in members}
    if any(m.endswith("archive_format") for m in members) or "models/model.json" in names:
        return Format.EXPORT
    if any(n.startswith("code/") for n in names) or "constants.pkl" in names:
        return Format.TORCHSCRIPT
    if "data.pkl" in names:
        return Format.STATE_DICT  # confirmed inside the sandbox with weights_only=True
    raise InvalidSubmission(f"{path.name}: a zip archive that is neither TorchScript, torch.export nor torch.save output")


def read_spec(spec_path: str | Path | None) -> dict:
    if spec_path is None:
        return {}
    p = Path(spec_path)
    if not p.is_file():
        raise InvalidSubmission(f"Submission spec {p} does not exist")
    try:
        spec = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidSubmission(f"{p.name} is not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise InvalidSubmission(f"{p.name} must hold a JSON object")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise InvalidSubmission(f"{p.name}: unknown key '{key}'. Valid keys: {', '.join(sorted(SPEC_KEYS))}.{did_you_mean(key, SPEC_KEYS)}")
    return spec


def _architecture(arch) -> dict | None:
    if arch is None:
        return None
    if isinstance(arch, str):
        arch = {"name": arch, "kwargs": {}}
    if not isinstance(arch, dict) or "name" not in arch:
        raise InvalidSubmission("'architecture' must be a name or {'name': ..., 'kwargs': {...}}")
    return {"name": arch["name"], "kwargs": dict(arch.get("kwargs") or {})}


def prepare(path: str | Path, spec: dict | None = None, *, name: str | None = None, team: str | None = None,
            architecture=None, output: str | None = None) -> Submission:
    """Check a model file before anything is stored or run. Command-line values override the spec."""
    path = Path(path)
    if not path.is_file():
        raise InvalidSubmission(f"No model file at {path}; check the path")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise InvalidSubmission(f"{path.name} is {size / 1024**3:.1f} GiB; the limit is {MAX_MODEL_BYTES / 1024**3:.0f} GiB")
    spec = dict(spec or {})
    fmt = sniff_format(path)
    arch = _architecture(architecture if architecture is not None else spec.get("architecture"))
    if fmt in (Format.STATE_DICT, Format.SAFETENSORS) and arch is None:
        raise InvalidSubmission(
            f"{path.name} holds only weights: name the architecture (submission.json "
            "'architecture': {'name': 'unet', 'kwargs': {...}} or --arch) so it can be rebuilt"
        )
    out = output or spec.get("output") or "logits"
    try:
        out_kind = OutputKind(out)
    except ValueError:
        raise InvalidSubmission(f"'output' must be 'logits' or 'probabilities', got {out!r}") from None
    return Submission(path=path, format=fmt, sha256=sha256_file(path), name=name or spec.get("name") or path.stem,
                      team=team or spec.get("team") or "", task=spec.get("task"), architecture=arch,
                      output=out_kind, meta={k: spec[k] for k in ("description",) if k in spec})
