"""Prediction submissions: per-case masks instead of a model, scored like any result.

A submission is a folder or a ``.zip`` holding one file per case of the task's split (the test
split by default; `sonobench export TASK --split test --images-only` hands the images out):
``<case_id>.png``, a class-index PNG (mode L or P; 1 for binary) at the case's native size, or
``<case_id>.npz`` holding one integer array of that size. It may also hold, for any of the task's
acquisition-shift sets, a sub-folder named by the set's task id with one file per case of that
set (the export's ``shifts/<id>/images/``); a set without one is "not submitted". The masks are
scored by the same per-case function as a model's outputs (`sonobench.evaluator.predictions_score`); the
row's format is ``predictions`` (the board and the app label it), and params, GFLOPs and latency
are NULL ("n/a"), never 0.

Prediction files are data, not code, and are decoded here in the trusted parent — never
loaded by anything that could run them — under hard limits fixed by the task, so no file can
make the parent allocate more than a valid mask would need:

- the container: a real folder or a real zip file, never a symlink; its entries are plain
  files directly inside it, or inside one level of sub-folders named by shift sets (no other
  or deeper folders, no symlinks, no devices); a zip member's name is a bare file name, or
  ``<shift set id>/<bare name>`` (no ``\\``, ``..``, ``:``, absolute path or other folder: no
  path traversal), not encrypted and not a symlink;
- the number of entries is at most the number of cases it can predict; every case (of the
  split, and of each shift set with a folder) has exactly one file and every file names a case
  (missing and extra cases are refused, naming them);
- bytes: each file is at most `file_limit` (8 bytes per pixel of the largest case + 64 KiB);
  a zip member's declared size must be within it and is read with that bound (the header is not
  believed), and its compression ratio must be at most `MAX_ZIP_RATIO`;
- pixels: a PNG's width and height are read from its header and must equal the case's native
  size before a pixel is decoded; an ``.npz`` must hold exactly one ``.npy`` member within the
  byte limit, read with ``allow_pickle=False``, a 2-D integer or bool array of the native size;
- values: every label is a class index of the task (0 .. K-1).

Every refusal raises `InvalidPredictions` with one sentence and stores nothing: the submission
row is created only after every mask has been decoded and scored.
"""
from __future__ import annotations

import hashlib
import io
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sonobench.kernel.errors import InvalidSubmission, SonoBenchError

from .tasks import Task

FORMAT = "predictions"            # the submissions.format of a prediction submission
SUFFIXES = (".png", ".npz")
MAX_ZIP_RATIO = 200.0             # uncompressed / compressed, per zip member
_SLACK = 64 * 1024                # bytes of headers a valid mask file may carry on top of its pixels
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]*$")


class InvalidPredictions(InvalidSubmission):
    """A prediction submission that cannot be scored as it is (nothing was stored)."""


class PredictionsRefused(SonoBenchError):
    """Prediction submissions are not accepted on this task (an operator setting)."""


@dataclass(frozen=True)
class Masks:
    """The decoded masks of one submission, in case order, and a digest of their content."""

    masks: dict[str, np.ndarray]
    sha256: str


def file_limit(task: Task, cases) -> int:
    """The most bytes one prediction file may have: 8 bytes per pixel of the largest case + slack."""
    return 8 * max(h * w for h, w in (_native_shape(task, c) for c in cases)) + _SLACK


def _native_shape(task: Task, case) -> tuple[int, int]:
    """(H, W) of the case's image, read from its header (no pixels decoded)."""
    with Image.open(task.image_path(case)) as im:
        return im.size[1], im.size[0]


Entries = dict[str, dict[str, bytes]]  # "" -> the main split's files; a shift set's id -> its files


def _entries_of_folder(folder: Path, limit: int, max_entries: int, sets: tuple[str, ...] = ()) -> Entries:
    """A folder's files; a sub-folder is allowed only when named by a shift set in `sets`, and holds files only."""
    out: Entries = {"": {}}
    seen = 0
    for entry in sorted(folder.iterdir()):
        seen += 1
        if seen > max_entries:
            raise InvalidPredictions(f"{folder.name} holds more than {max_entries} entries, more than the cases it "
                                     "can predict; put only the <case_id>.png (or .npz) files in it")
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise InvalidPredictions(f"'{entry.name}' is a symbolic link; prediction files must be plain files")
        if stat.S_ISDIR(mode) and entry.name in sets:
            files = _entries_of_folder(entry, limit, max_entries)[""]
            seen += len(files)
            out[entry.name] = files
            continue
        if stat.S_ISDIR(mode):
            raise InvalidPredictions(f"'{entry.name}' is a folder; prediction files lie directly in the submitted "
                                     "folder (no sub-folders" + (f" other than the shift sets {', '.join(sets)}"
                                                                 if sets else "") + ")")
        if not stat.S_ISREG(mode):
            raise InvalidPredictions(f"'{entry.name}' is not a regular file")
        if entry.lstat().st_size > limit:
            raise InvalidPredictions(f"'{entry.name}' is {entry.lstat().st_size} bytes; a mask of this task is at "
                                     f"most {limit} bytes")
        out[""][entry.name] = _read_bounded(entry, limit)
    return out


def _read_bounded(path: Path, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidPredictions(f"'{path.name}' grew past {limit} bytes while it was read")
    return data


def _bad_member_name(name: str) -> bool:
    return name.startswith(("/", "\\")) or "/" in name or "\\" in name or ".." in name or ":" in name


def _entries_of_zip(path: Path, limit: int, max_entries: int, sets: tuple[str, ...] = ()) -> Entries:
    """A zip's members: bare names at the top, or `<shift set id>/<name>` (and that folder's own entry)."""
    if path.stat().st_size > limit * max_entries + _SLACK:
        raise InvalidPredictions(f"{path.name} is larger than {max_entries} masks of this task can be")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise InvalidPredictions(f"{path.name} is not a readable zip file ({e})") from None
    with zf:
        members = zf.infolist()
        if len(members) > max_entries:
            raise InvalidPredictions(f"{path.name} has {len(members)} members; it can predict {max_entries} files "
                                     "at most, one per case")
        out: Entries = {"": {}}
        for m in members:
            folder, _, name = m.filename.rpartition("/") if m.filename.count("/") == 1 else ("", "", m.filename)
            if folder in sets and (name or m.is_dir()):
                if m.is_dir():
                    out.setdefault(folder, {})
                    continue
                out.setdefault(folder, {})[name] = _read_member(zf, m, limit, path.name, name)
            else:
                out[""][m.filename] = _read_member(zf, m, limit, path.name)
    return out


def _read_member(zf: zipfile.ZipFile, m: zipfile.ZipInfo, limit: int, archive: str, name: str | None = None) -> bytes:
    """One member's bytes, read with `limit` as a hard bound; `name`: its bare name inside a shift-set folder."""
    name = m.filename if name is None else name
    if _bad_member_name(name) or m.is_dir():
        what = "a folder" if m.is_dir() else "a path, not a bare file name"
        raise InvalidPredictions(f"{archive}: member '{m.filename}' is {what}; the zip must hold the mask files at its "
                                 "top level, named <case_id>.png (zip the files, not their folder: no path traversal, "
                                 "no sub-folders but the shift sets' own)")
    if stat.S_ISLNK(m.external_attr >> 16):
        raise InvalidPredictions(f"{archive}: member '{m.filename}' is a symbolic link; prediction files must be "
                                 "plain files")
    if m.flag_bits & 0x1:
        raise InvalidPredictions(f"{archive}: member '{m.filename}' is encrypted; upload an unencrypted zip")
    if m.file_size > limit:
        raise InvalidPredictions(f"{archive}: member '{m.filename}' unpacks to {m.file_size} bytes; a mask of this "
                                 f"task is at most {limit} bytes (a zip bomb is refused)")
    if m.file_size > max(m.compress_size, 1) * MAX_ZIP_RATIO:
        raise InvalidPredictions(f"{archive}: member '{m.filename}' is compressed "
                                 f"{m.file_size / max(m.compress_size, 1):.0f}:1, over the limit of "
                                 f"{MAX_ZIP_RATIO:.0f}:1 (a zip bomb is refused)")
    try:
        with zf.open(m) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        raise InvalidPredictions(f"{archive}: member '{m.filename}' cannot be read ({e})") from None
    if len(data) > limit:
        raise InvalidPredictions(f"{archive}: member '{m.filename}' unpacks past {limit} bytes, more than its header "
                                 "says (a zip bomb is refused)")
    return data


def read_entries(path: Path, limit: int, max_entries: int, sets: tuple[str, ...] = ()) -> Entries:
    """The raw files of a folder or zip, every container limit checked (see the module docstring)."""
    if path.is_symlink():
        raise InvalidPredictions(f"{path} is a symbolic link; submit the folder or zip itself")
    if path.is_dir():
        return _entries_of_folder(path, limit, max_entries, sets)
    if path.is_file() and zipfile.is_zipfile(path):
        return _entries_of_zip(path, limit, max_entries, sets)
    raise InvalidPredictions(f"{path.name} is neither a folder nor a zip file; submit a folder or .zip of "
                             "<case_id>.png (or .npz) masks")


def _match_cases(entries: dict[str, bytes], task: Task, cases, split: str) -> dict[str, tuple[str, bytes]]:
    """case id -> (suffix, bytes); refuses unknown names, extra files, doubles and missing cases."""
    wanted, found, extra = {c.id for c in cases}, {}, []
    for name, data in entries.items():
        stem, suffix = name[: -4], name[-4:].lower()
        if suffix not in SUFFIXES or not _NAME.match(name) or stem not in wanted:
            extra.append(name)
            continue
        if stem in found:
            raise InvalidPredictions(f"case {stem} has two prediction files; keep one (.png or .npz)")
        found[stem] = (suffix, data)
    if extra:
        raise InvalidPredictions(f"{len(extra)} file(s) name no {split} case of {task.ref}: "
                                 f"{', '.join(sorted(extra)[:5])}; files are named <case_id>.png or "
                                 "<case_id>.npz (`sonobench export TASK --split test --images-only` lists the ids)")
    missing = [c.id for c in cases if c.id not in found]
    if missing:
        raise InvalidPredictions(f"{len(missing)} {split} case(s) of {task.ref} have no prediction: "
                                 f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; every case needs "
                                 "one (a missing case is not skipped)")
    return found


def _decode_png(case_id: str, data: bytes, shape: tuple[int, int]) -> np.ndarray:
    try:
        im = Image.open(io.BytesIO(data), formats=["PNG"])  # the header only; no pixel decoded yet
    except Exception:  # noqa: BLE001  (PIL raises many types for a non-image)
        raise InvalidPredictions(f"{case_id}.png is not a readable PNG image") from None
    with im:
        if (im.size[1], im.size[0]) != shape:
            raise InvalidPredictions(f"{case_id}.png is {im.size[1]} x {im.size[0]} (H x W); the case's native size "
                                     f"is {shape[0]} x {shape[1]}")
        if im.mode not in ("L", "P", "1"):
            raise InvalidPredictions(f"{case_id}.png has mode {im.mode}; save a single-channel 8-bit class-index PNG "
                                     "(mode L or P, or 1 for a binary mask), not an RGB or 16-bit image")
        try:
            return np.asarray(im)
        except Exception as e:  # noqa: BLE001  (a truncated or corrupt stream)
            raise InvalidPredictions(f"{case_id}.png cannot be decoded ({type(e).__name__})") from None


def _decode_npz(case_id: str, data: bytes, shape: tuple[int, int], limit: int) -> np.ndarray:
    name = f"{case_id}.npz"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
            if len(members) != 1 or not members[0].filename.endswith(".npy"):
                raise InvalidPredictions(f"{name} must hold exactly one array (np.savez(path, mask)), "
                                         f"it holds {len(members)} members")
            raw = _read_member(zf, members[0], limit, name)
    except zipfile.BadZipFile:
        raise InvalidPredictions(f"{name} is not a readable .npz file") from None
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InvalidPredictions(f"{name} does not hold a plain array ({str(e)[:120]}); object arrays are "
                                 "refused") from None
    if arr.dtype.kind not in "uib":
        raise InvalidPredictions(f"{name} holds {arr.dtype} values; a mask holds integer class indices")
    if arr.shape != shape:
        raise InvalidPredictions(f"{name} holds an array of shape {arr.shape}; the case's native size is "
                                 f"{shape[0]} x {shape[1]}")
    return arr


def decode(task: Task, cases, found: dict[str, tuple[str, bytes]], limit: int) -> Masks:
    """Each case's mask, checked for size and label values; a digest of the decoded content (the
    same masks as PNGs, as .npz, in a folder or a zip are the same submission)."""
    masks, h = {}, hashlib.sha256()
    for case in cases:
        suffix, data = found[case.id]
        shape = _native_shape(task, case)
        arr = _decode_png(case.id, data, shape) if suffix == ".png" else _decode_npz(case.id, data, shape, limit)
        top, low = int(arr.max()), int(arr.min())
        if low < 0 or top >= task.num_classes:
            raise InvalidPredictions(f"{case.id}{suffix} has label value {top if top >= task.num_classes else low}; "
                                     f"{task.ref} has classes 0 .. {task.num_classes - 1} ({', '.join(task.classes)})")
        masks[case.id] = arr.astype(np.uint8)
        h.update(f"{case.id}\0{arr.shape}\0".encode())
        h.update(masks[case.id].tobytes())
    return Masks(masks, h.hexdigest())


def load(path: Path, task: Task, split: str = "test", sets=()) -> tuple[Masks, dict]:
    """Read and decode a prediction folder or zip for `task`'s `split` and, from their own
    sub-folders, any of the shift sets `sets` (Tasks) it covers: (the main masks, {set id: Masks}).
    InvalidPredictions on any fault."""
    cases = task.split(split)
    if not cases:
        raise SonoBenchError(f"task {task.ref} has no '{split}' cases")
    by_id = {child.id: child for child in sets}
    every = [(task, c) for c in cases] + [(child, c) for child in sets for c in child.split("test")]
    limit = max([file_limit(task, cases)] + [file_limit(child, child.split("test")) for child in sets])
    entries = read_entries(Path(path), limit, len(every) + len(sets) + 1, tuple(by_id))  # +1: an extra file is named
    main = decode(task, cases, _match_cases(entries.pop(""), task, cases, split), limit)
    shifted = {}
    for set_id, files in entries.items():
        child = by_id[set_id]
        shifted[set_id] = decode(child, child.split("test"), _match_cases(files, child, child.split("test"), "test"),
                                limit)
    return main, shifted


def shift_sets_for(task: Task, split: str) -> list[Task]:
    """The shift and sweep sets a prediction submission to `task`'s `split` may cover (test split
    only): each is scored when the submission has its folder of masks, else "not submitted"."""
    if split != "test" or task.parent:
        return []
    from .task_sets import shift_sets, sweep_sets

    return [*shift_sets(task), *sweep_sets(task)]


def check(task: Task, path, split: str = "test"):
    """`sonobench check` for prediction files: every limit and every mask checked, nothing stored
    (an `sonobench.evaluator.preflight.Report`)."""
    from .preflight import Report

    report = Report(model=Path(path).name, task=task.ref, format=FORMAT)
    try:
        masks, shifted = load(Path(path), task, split, shift_sets_for(task, split))
    except SonoBenchError as e:
        report.problems.append(str(e))
        return report
    report.checked.append(f"{len(masks.masks)} masks, one per {split} case, at each case's native size, with "
                          f"class indices 0 .. {task.num_classes - 1}")
    report.checked += [f"shift set {set_id}: {len(m.masks)} masks" for set_id, m in shifted.items()]
    return report
