"""UltraBones100k's tracked sweeps: each `cadaverNN_<id>/recordNN/` of a user's copy becomes one
`sonobench.evaluator.sweeps.Sweep` — its frames (`UltrasoundImages/<timestamp>.png`, labels
`Labels/<timestamp>_label.png`), one pose per frame from `tracking.csv`, and the specimen's
`CT_bone_model.stl` (ASCII or binary) as the ground-truth mesh.

Frame ids are the case ids the UltraBones100k import gives the same frames
(`s<NN>_<record>_<timestamp>`), so a sweep's frames are the task's cases.

`tracking.csv`: one row per frame, matched on the column `timestamp` (the image's file stem: the
recording is temporally synchronised), the probe's pose in the CT (world) frame, in one of two
schemas, original poses plain and optimised poses with the suffix `_optimized` (the operator picks
which, `PoseSet`):
* a 4x4 matrix, columns `m00` ... `m33` (row-major), or
* a position and a unit quaternion, columns `x, y, z, qx, qy, qz, qw` (scalar last).

Calibration (pixel spacing and image-to-probe transform): `calibration.json` in the record's folder,
else in the specimen's folder, else in the dataset root; else the file the user passes, which is then
required. Its keys: `pixel_spacing_mm` [row_mm, col_mm], `image_to_probe` (a 4x4 rigid transform from
the image plane in mm — x along the columns, y along the rows (depth), origin at the centre of pixel
(0, 0) — to the probe's tracked frame) and optionally `tracking_unit` ("mm", default, or "m").
A frame's pose is then probe_to_world @ image_to_probe @ diag(col_mm, row_mm, 1, 1)."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path

import numpy as np

from sonobench.evaluator.sweeps import InvalidMesh, Sweep, SweepFrame, read_stl

from .base import find_dir, locate, pair_files, rel, slug
from .errors import LayoutError
from .folders import _specimens
from .masks import binary_label

CALIBRATION_FILE = "calibration.json"
MESH_FILE = "CT_bone_model.stl"
TRACKING_FILE = "tracking.csv"
MATRIX = tuple(f"m{i}{j}" for i in range(4) for j in range(4))
POSITION_QUATERNION = ("x", "y", "z", "qx", "qy", "qz", "qw")
UNITS = {"mm": 1.0, "m": 1000.0}


class PoseSet(str, Enum):
    """Which of tracking.csv's poses place the frames."""
    ORIGINAL = "original"
    OPTIMIZED = "optimized"

    @property
    def suffix(self) -> str:
        return "_optimized" if self is PoseSet.OPTIMIZED else ""


class CalibrationError(LayoutError):
    """The pixel spacing / image-to-probe calibration is missing or invalid."""

    def __init__(self, root, problems: list[str]):
        super().__init__("UltraBones100k", root, problems,
                         hint=f"Pass a calibration file ({CALIBRATION_FILE}: pixel_spacing_mm [row_mm, col_mm], "
                              "image_to_probe as a 4x4 rigid matrix in mm, optional tracking_unit 'mm' or 'm').")


@dataclass(frozen=True)
class Calibration:
    row_mm: float
    col_mm: float
    image_to_probe: np.ndarray
    tracking_scale: float        # tracking translation unit -> mm
    source: str                  # the file it came from

    def pixel_to_probe(self) -> np.ndarray:
        return self.image_to_probe @ np.diag([self.col_mm, self.row_mm, 1.0, 1.0])


@dataclass(frozen=True)
class SweepSource:
    """One record's sweep and where its frames' files are (relative to the dataset root `root`)."""
    root: Path
    sweep: Sweep
    images: dict[str, str]       # frame id -> image path
    labels: dict[str, str]       # frame id -> label path
    calibration: Calibration


def read_calibration(path) -> Calibration:
    """Read and validate a calibration JSON (see the module docstring); CalibrationError names the file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CalibrationError(path.parent, [f"{path}: cannot be read as JSON ({e})"]) from e
    problems = []
    spacing = np.asarray(doc.get("pixel_spacing_mm", ()), dtype=float).ravel() if isinstance(doc, dict) else ()
    if len(spacing) != 2 or not np.all(np.isfinite(spacing)) or not np.all(spacing > 0):
        problems.append(f"{path.name}: pixel_spacing_mm must be [row_mm, col_mm], two positive numbers")
    try:
        m = np.asarray(doc.get("image_to_probe"), dtype=float)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape != (4, 4) or not np.isfinite(m).all():
        problems.append(f"{path.name}: image_to_probe must be a 4x4 matrix of numbers")
    elif not (np.allclose(m[3], (0, 0, 0, 1)) and np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-4)):
        problems.append(f"{path.name}: image_to_probe must be rigid (orthonormal rotation, last row 0 0 0 1); "
                        "put the pixel spacing in pixel_spacing_mm, not in the matrix")
    unit = doc.get("tracking_unit", "mm") if isinstance(doc, dict) else "mm"
    if unit not in UNITS:
        problems.append(f"{path.name}: tracking_unit must be one of {sorted(UNITS)}, got {unit!r}")
    if problems:
        raise CalibrationError(path.parent, problems)
    return Calibration(float(spacing[0]), float(spacing[1]), m, UNITS[unit], str(path))


def find_calibration(root: Path, specimen: Path, record: Path, user_file=None) -> Calibration:
    """The dataset's own calibration (record, then specimen, then root folder), else `user_file`."""
    for folder in (record, specimen, root):
        if (folder / CALIBRATION_FILE).is_file():
            return read_calibration(folder / CALIBRATION_FILE)
    if user_file is None:
        raise CalibrationError(root, [f"{rel(record, root)}/: no pixel spacing or image-to-probe calibration: neither "
                                      f"{CALIBRATION_FILE} in the record, its specimen folder or the dataset root, "
                                      "nor a calibration file passed (required here)"])
    if not Path(user_file).is_file():
        raise CalibrationError(root, [f"the calibration file passed, {user_file}, does not exist"])
    return read_calibration(user_file)


def quaternion_matrix(qx, qy, qz, qw) -> np.ndarray:
    """Rotation matrix of a unit quaternion (scalar last)."""
    x, y, z, w = np.array([qx, qy, qz, qw], float) / np.linalg.norm([qx, qy, qz, qw])
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def read_tracking(path: Path, poses: PoseSet, scale: float = 1.0) -> dict[str, np.ndarray]:
    """timestamp -> probe-to-world 4x4 (translation in mm) from a tracking.csv."""
    poses = PoseSet(poses)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
            header = [h.strip() for h in (rows[0].keys() if rows else [])]
    except OSError as e:
        raise LayoutError("UltraBones100k", path.parent, [f"{path.name}: cannot be read ({e})"]) from e
    matrix = [c + poses.suffix for c in MATRIX]
    pq = [c + poses.suffix for c in POSITION_QUATERNION]
    if "timestamp" not in header or not (set(matrix) <= set(header) or set(pq) <= set(header)):
        raise LayoutError("UltraBones100k", path.parent, [
            f"{path.name}: expected a 'timestamp' column and the {poses.value} poses as {', '.join(matrix[:2])} ... "
            f"{matrix[-1]} (a row-major 4x4) or {', '.join(pq)}; found columns {header}"])
    out, problems = {}, []
    for number, row in enumerate(rows, 2):
        row = {k.strip(): v for k, v in row.items() if k}
        try:
            if set(matrix) <= set(row):
                m = np.array([float(row[c]) for c in matrix]).reshape(4, 4)
            else:
                m = np.eye(4)
                m[:3, :3] = quaternion_matrix(*(float(row[c]) for c in pq[3:]))
                m[:3, 3] = [float(row[c]) for c in pq[:3]]
        except (TypeError, ValueError, ZeroDivisionError):
            problems.append(f"{path.name}, line {number}: a pose value is missing or not a number")
            continue
        if not np.isfinite(m).all():
            problems.append(f"{path.name}, line {number}: the pose is not finite (tracking lost?)")
            continue
        m[:3, 3] *= scale
        out[_time(row["timestamp"])] = m
    if problems:
        raise LayoutError("UltraBones100k", path.parent, problems)
    return out


def read_sweeps(root, poses: PoseSet | str = PoseSet.OPTIMIZED, calibration=None, specimens=None) -> list[SweepSource]:
    """Every record of the copy at `root` (or of `specimens`, numbers) as a sweep, in specimen and record order.
    `calibration`: a calibration file, used where the dataset has none of its own."""
    root = locate(Path(root), "UltraBones100k", lambda p: bool(_specimens(p)),
                  "specimen folders cadaverNN_<id>/ (AI_Ultrasound_dataset)")
    found = [(n, d) for n, d in _specimens(root) if specimens is None or n in set(specimens)]
    if not found:
        raise LayoutError("UltraBones100k", root, ["no specimen folders cadaverNN_<id>/ (of those asked for) here"])
    out = []
    for n, folder in found:
        mesh = _mesh(root, folder)
        for record in sorted(r for r in folder.iterdir() if r.is_dir() and r.name.lower().startswith("record")):
            out.append(_record(root, n, folder, record, mesh, PoseSet(poses), calibration))
    return out


def _mesh(root: Path, folder: Path):
    if not (folder / MESH_FILE).is_file():
        raise LayoutError("UltraBones100k", root, [f"{rel(folder, root)}/: no {MESH_FILE} (the specimen's CT bone model)"])
    try:
        return read_stl(folder / MESH_FILE)
    except InvalidMesh as e:
        raise LayoutError("UltraBones100k", root, [f"{rel(folder, root)}/{MESH_FILE}: {e}"]) from e


def _record(root, n, specimen, record, mesh, poses: PoseSet, user_calibration) -> SweepSource:
    calibration = find_calibration(root, specimen, record, user_calibration)
    images, labels = find_dir(record, "UltrasoundImages"), find_dir(record, "Labels")
    problems = [] if images and labels else [f"{rel(record, root)}/: expected UltrasoundImages/ and Labels/"]
    if not (record / TRACKING_FILE).is_file():
        problems.append(f"{rel(record, root)}/: no {TRACKING_FILE}")
    if problems:
        raise LayoutError("UltraBones100k", root, problems)
    pairs = pair_files(root, images, labels, problems, lambda s: s + "_label")
    tracking = read_tracking(record / TRACKING_FILE, poses, calibration.tracking_scale)
    untracked = [rel(img, root) for img, _ in pairs if _time(img.stem) not in tracking]
    problems += [f"{p}: no {poses.value} pose for this timestamp in {TRACKING_FILE}" for p in untracked]
    if problems:
        raise LayoutError("UltraBones100k", root, problems)
    pixel_to_probe = calibration.pixel_to_probe()
    frames, image_paths, label_paths = [], {}, {}
    for img, lab in sorted(pairs, key=lambda p: _time_key(p[0].stem)):
        frame_id = slug(f"s{n:02d}_{record.name}_{img.stem}")
        frames.append(SweepFrame(frame_id, tracking[_time(img.stem)] @ pixel_to_probe, _shape(img)))
        image_paths[frame_id], label_paths[frame_id] = rel(img, root), rel(lab, root)
    sweep = Sweep(slug(f"s{n:02d}_{record.name}"), f"specimen {n}", tuple(frames), mesh)
    return SweepSource(root, sweep, image_paths, label_paths, calibration)


def _time(text: str):
    """A timestamp as a key: '1690000000033' and '1690000000033.0' are the same time."""
    try:
        return Decimal(text.strip()).normalize()
    except (InvalidOperation, AttributeError):
        return str(text).strip()


def _time_key(stem: str):
    try:
        return (0, float(stem), stem)
    except ValueError:
        return (1, 0.0, stem)


def _shape(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def load_labels(source: SweepSource) -> dict[str, np.ndarray]:
    """frame id -> the frame's label (uint8, 1 = bone surface), decoded as the UltraBones100k import
    decodes them."""
    from PIL import Image

    out = {}
    for frame_id, path in source.labels.items():
        with Image.open(source.root / path) as im:
            out[frame_id] = binary_label([im], [path])[0]
    return out


def export_sweeps(root, out, poses: PoseSet | str = PoseSet.OPTIMIZED, calibration=None, specimens=None,
                  tolerance: float | None = None) -> list[dict]:
    """Write every sweep of the copy at `root` to `out/<sweep id>/` (sweep.json + the CT mesh as binary
    STL) and return one summary row per sweep. With `tolerance` (mm), each row also has the labels' own
    reconstruction scores — how far the labelled surfaces, placed by the poses, lie from the CT model: a
    check of the calibration and the pose choice before any model is scored."""
    from sonobench.evaluator.sweeps import score_sweep, write_sweep

    rows = []
    for source in read_sweeps(root, poses, calibration, specimens):
        sweep = source.sweep
        path = write_sweep(Path(out) / sweep.sweep_id, sweep)
        row = {"sweep": sweep.sweep_id, "specimen": sweep.specimen, "frames": len(sweep.frames),
               "mesh_area_mm2": round(sweep.mesh.area(), 1), "calibration": source.calibration.source,
               "poses": PoseSet(poses).value, "path": str(path)}
        if tolerance is not None:
            labels = load_labels(source)
            row.update(score_sweep(sweep, labels, tolerance=tolerance)["reconstruction"].as_dict())
        rows.append(row)
    return rows
