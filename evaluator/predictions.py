"""Prediction submissions: per-case masks instead of a model, scored like any result.

A submission is a folder or a ``.zip`` holding one file per case of the task's split (the test
split by default; `sonobench export TASK --split test --images-only` hands the images out):
``<case_id>.png``, a class-index PNG (mode L or P) at the case's native size, or
``<case_id>.npz`` holding one integer array of that size. The masks are scored by the same
per-case function as a model's outputs (`scoring.score_prediction`), aggregated by the same
`summary` code and committed by the same `evaluate.commit`; the row's format is ``predictions``
(the board and the app label it), and params, GFLOPs and latency are NULL ("n/a"), never 0.

Prediction files are data, not code, and are decoded here in the trusted parent — never
loaded by anything that could run them — under hard limits fixed by the task, so no file can
make the parent allocate more than a valid mask would need:

- the container: a real folder or a real zip file, never a symlink; its entries are plain
  files directly inside it (no sub-folders, no symlinks, no devices); a zip member's name is a
  bare file name (no ``/``, ``\\``, ``..`` or absolute path: no path traversal), not encrypted
  and not a symlink;
- the number of entries is at most the number of cases; every case has exactly one file and
  every file names a case (missing and extra cases are refused, naming them);
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
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import __version__, imageio, summary
from .errors import InvalidSubmission, SonoBenchError
from .tasks import Task, verify_task

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


def _entries_of_folder(folder: Path, limit: int, max_entries: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for entry in sorted(folder.iterdir()):
        if len(out) >= max_entries:
            raise InvalidPredictions(f"{folder.name} holds more than {max_entries} entries, one more than this "
                                     "split has cases; put only the <case_id>.png (or .npz) files in it")
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise InvalidPredictions(f"'{entry.name}' is a symbolic link; prediction files must be plain files")
        if stat.S_ISDIR(mode):
            raise InvalidPredictions(f"'{entry.name}' is a folder; prediction files lie directly in the submitted "
                                     "folder (no sub-folders)")
        if not stat.S_ISREG(mode):
            raise InvalidPredictions(f"'{entry.name}' is not a regular file")
        if entry.lstat().st_size > limit:
            raise InvalidPredictions(f"'{entry.name}' is {entry.lstat().st_size} bytes; a mask of this task is at "
                                     f"most {limit} bytes")
        out[entry.name] = _read_bounded(entry, limit)
    return out


def _read_bounded(path: Path, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidPredictions(f"'{path.name}' grew past {limit} bytes while it was read")
    return data


def _bad_member_name(name: str) -> bool:
    return name.startswith(("/", "\\")) or "/" in name or "\\" in name or ".." in name or ":" in name


def _entries_of_zip(path: Path, limit: int, max_entries: int) -> dict[str, bytes]:
    if path.stat().st_size > limit * max_entries + _SLACK:
        raise InvalidPredictions(f"{path.name} is larger than {max_entries} masks of this task can be")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise InvalidPredictions(f"{path.name} is not a readable zip file ({e})") from None
    with zf:
        members = zf.infolist()
        if len(members) > max_entries:
            raise InvalidPredictions(f"{path.name} has {len(members)} members; this split has {max_entries - 1} "
                                     "cases, one file each")
        out = {}
        for m in members:
            out[m.filename] = _read_member(zf, m, limit, path.name)
    return out


def _read_member(zf: zipfile.ZipFile, m: zipfile.ZipInfo, limit: int, archive: str) -> bytes:
    name = m.filename
    if _bad_member_name(name) or m.is_dir():
        what = "a folder" if m.is_dir() else "a path, not a bare file name"
        raise InvalidPredictions(f"{archive}: member '{name}' is {what}; the zip must hold the mask files at its top "
                                 "level, named <case_id>.png (zip the files, not their folder: no path traversal, "
                                 "no sub-folders)")
    if stat.S_ISLNK(m.external_attr >> 16):
        raise InvalidPredictions(f"{archive}: member '{name}' is a symbolic link; prediction files must be plain files")
    if m.flag_bits & 0x1:
        raise InvalidPredictions(f"{archive}: member '{name}' is encrypted; upload an unencrypted zip")
    if m.file_size > limit:
        raise InvalidPredictions(f"{archive}: member '{name}' unpacks to {m.file_size} bytes; a mask of this task is "
                                 f"at most {limit} bytes (a zip bomb is refused)")
    if m.file_size > max(m.compress_size, 1) * MAX_ZIP_RATIO:
        raise InvalidPredictions(f"{archive}: member '{name}' is compressed {m.file_size / max(m.compress_size, 1):.0f}"
                                 f":1, over the limit of {MAX_ZIP_RATIO:.0f}:1 (a zip bomb is refused)")
    try:
        with zf.open(m) as f:
            data = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        raise InvalidPredictions(f"{archive}: member '{name}' cannot be read ({e})") from None
    if len(data) > limit:
        raise InvalidPredictions(f"{archive}: member '{name}' unpacks past {limit} bytes, more than its header says "
                                 "(a zip bomb is refused)")
    return data


def read_entries(path: Path, task: Task, cases) -> dict[str, bytes]:
    """The raw files of a folder or zip, every container limit checked (see the module docstring)."""
    limit, max_entries = file_limit(task, cases), len(cases) + 1
    if path.is_symlink():
        raise InvalidPredictions(f"{path} is a symbolic link; submit the folder or zip itself")
    if path.is_dir():
        return _entries_of_folder(path, limit, max_entries)
    if path.is_file() and zipfile.is_zipfile(path):
        return _entries_of_zip(path, limit, max_entries)
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
        if im.mode not in ("L", "P"):
            raise InvalidPredictions(f"{case_id}.png has mode {im.mode}; save a single-channel 8-bit class-index PNG "
                                     "(mode L or P), not an RGB or 16-bit image")
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


def load(path: Path, task: Task, split: str = "test") -> Masks:
    """Read and decode a prediction folder or zip for `task`'s `split` (InvalidPredictions on any fault)."""
    cases = task.split(split)
    if not cases:
        raise SonoBenchError(f"task {task.ref} has no '{split}' cases")
    entries = read_entries(Path(path), task, cases)
    return decode(task, cases, _match_cases(entries, task, cases, split), file_limit(task, cases))


def check(task: Task, path, split: str = "test"):
    """`sonobench check` for prediction files: every limit and every mask checked, nothing stored
    (an `evaluator.preflight.Report`)."""
    from .preflight import Report

    report = Report(model=Path(path).name, task=task.ref, format=FORMAT)
    try:
        masks = load(Path(path), task, split)
    except SonoBenchError as e:
        report.problems.append(str(e))
        return report
    report.checked.append(f"{len(masks.masks)} masks, one per {split} case, at each case's native size, with "
                          f"class indices 0 .. {task.num_classes - 1}")
    return report


def _score(task: Task, cases, masks: Masks, split: str, labels_root, settings) -> tuple[dict, list[dict]]:
    """The result row and per-case rows, by the functions a model's outputs are scored with."""
    from .scoring import private_cases, score_prediction

    t0 = time.monotonic()
    per_case, rows, pngs = [], [], {}
    for case in cases:
        pred = masks.masks[case.id]
        scores = score_prediction(task, case, pred, labels_root)
        per_case.append(scores)
        rows += summary.case_rows(case.id, scores)
        pngs[case.id] = imageio.label_png(pred)
    result = {
        "task_id": task.id, "task_version": task.version, "manifest_digest": task.digest, "split": split,
        "n_cases": len(cases), "n_failed_cases": 0, "primary_metric": task.primary_metric,
        **summary.summary_columns(task, per_case, [c.id for c in cases]),
        "params": None, "gflops": None, "latency_ms": None, "peak_memory_mb": None,
        "complexity": {"params": None, "gflops": None, "source": "prediction files: no model, no complexity"},
        "hardware": {"source": "prediction files decoded and scored by the evaluator; no model ran"},
        "evaluator_version": __version__, "wall_s": time.monotonic() - t0,
        "private_cases": int(private_cases(task, split, settings)),
        "test_predictions": pngs if split == "test" else {},
    }
    return result, rows


def refuse_hidden(task: Task, settings) -> None:
    """A task with a hidden test split takes prediction files only when the operator allows it."""
    from .private import split_of

    hidden = task.test_labels_private or split_of(task) is not None
    if hidden and not settings.predictions_on_hidden_split:
        raise PredictionsRefused(f"{task.ref} has a hidden test split, and this leaderboard does not take prediction "
                                 "files on such a task (operator setting predictions_on_hidden_split); submit a "
                                 "model instead. Nothing was stored.")


def submit(store, task: Task, req, spec: dict, who, request, settings, *, log=None, on_result=None):
    """The intake's prediction branch (`evaluator.intake.submit` calls it): decode, score, then
    create the row and commit the result together; a repeat of the same masks is not scored twice.
    Shift and sweep sets are not scored: no masks of their images were submitted."""
    from .errors import AlreadyScored
    from .evaluate import Attempt, commit
    from .intake import ALREADY_SCORED, ALREADY_SUBMITTED, SCORED, IntakeOutcome
    from .store import jobs as store_jobs

    refuse_hidden(task, settings)
    cases = task.split(request.split)
    masks = load(req.path, task, request.split)
    name = (req.name or spec.get("name") or req.path.stem)[:200]
    try:
        store.refuse_duplicate(masks.sha256, task, req.path.name, team_id=who.team_id)
    except AlreadyScored as e:
        res = store.result_for(e.submission_id)
        return _told(on_result, IntakeOutcome(task, name, ALREADY_SCORED if res else ALREADY_SUBMITTED,
                                              e.submission_id, res, predictions=True))
    verify_task(task, splits=(request.split,), labels_root=request.labels_root)
    result, rows = _score(task, cases, masks, request.split, request.labels_root, settings)
    store_jobs.register_task(store, task)
    sid, _ = store_jobs.create_submission(
        store, settings, file_sha256=masks.sha256, filename=req.path.name, fmt=FORMAT, task=task, name=name,
        team=(who.team or spec.get("team") or "")[:100], kind=request.kind, team_id=who.team_id,
        meta={"split": request.split, "predictions": len(cases), **request.extra_meta})
    commit(store, sid, Attempt(result=result, rows=rows))
    return _told(on_result, IntakeOutcome(task, name, SCORED, sid, store.result_for(sid), predictions=True))


def _told(on_result, outcome):
    if on_result:
        on_result(outcome)
    return outcome
