"""The sweep structure: a tracked, ordered set of frames of one specimen, a pose per frame and the
specimen's ground-truth surface mesh; stored as a folder (`sweep.json` plus the mesh as STL).

Pose convention: each frame's pose is a 4x4 matrix taking the homogeneous pixel position
(column, row, 0, 1) — pixel centres at integer indices, rows growing away from the probe — to world
millimetres. It folds in the pixel spacing, the image-to-probe calibration and the tracked
probe-to-world pose: pose = probe_to_world @ image_to_probe @ diag(col_mm, row_mm, 1, 1).
The frames' ids are the case ids of the frames in their task, so a sweep's frames are scored
like any other case of it, and its predictions are looked up by those ids."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonobench.kernel.errors import SonoBenchError

from .mesh import Mesh, read_stl, write_stl

SWEEP_FILE = "sweep.json"
FORMAT = 1


class InvalidSweep(SonoBenchError):
    """A sweep that cannot be scored (bad poses, duplicate frames, a mesh it never sees...)."""


@dataclass(frozen=True)
class SweepFrame:
    frame_id: str
    pose: np.ndarray            # 4x4, pixel (col, row, 0, 1) -> world mm
    shape: tuple[int, int]      # (rows, cols) of the frame's image

    def __post_init__(self):
        pose = np.asarray(self.pose, np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise InvalidSweep(f"Frame {self.frame_id}: expected a finite 4x4 pose, got shape {pose.shape}.")
        if not np.allclose(pose[3], (0, 0, 0, 1)):
            raise InvalidSweep(f"Frame {self.frame_id}: the pose's last row must be (0, 0, 0, 1), got {pose[3]}.")
        col_axis, row_axis = pose[:3, 0], pose[:3, 1]
        if np.linalg.norm(np.cross(col_axis, row_axis)) <= 1e-12:
            raise InvalidSweep(f"Frame {self.frame_id}: the pose maps the image plane to a line (its column and "
                               "row axes are parallel or zero): check the calibration and the pixel spacing.")
        rows, cols = (int(x) for x in self.shape)
        if rows < 1 or cols < 1:
            raise InvalidSweep(f"Frame {self.frame_id}: expected a positive image shape, got {self.shape}.")
        object.__setattr__(self, "pose", pose)
        object.__setattr__(self, "shape", (rows, cols))

    @property
    def origin(self) -> np.ndarray:
        return self.pose[:3, 3]

    @property
    def col_axis(self) -> np.ndarray:
        """World displacement (mm) of one column step."""
        return self.pose[:3, 0]

    @property
    def row_axis(self) -> np.ndarray:
        """World displacement (mm) of one row step (away from the probe)."""
        return self.pose[:3, 1]

    @property
    def normal(self) -> np.ndarray:
        n = np.cross(self.col_axis, self.row_axis)
        return n / np.linalg.norm(n)

    @property
    def beam(self) -> np.ndarray:
        """Unit direction of the beam (increasing depth) in world space."""
        return self.row_axis / np.linalg.norm(self.row_axis)

    def field_diagonal(self) -> float:
        """The image's diagonal in mm: no point of the frame lies further from another."""
        rows, cols = self.shape
        return float(np.linalg.norm(self.col_axis * (cols - 1) + self.row_axis * (rows - 1)))

    def to_world(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """World positions (N, 3) of pixels (rows[i], cols[i])."""
        r, c = np.asarray(rows, np.float64), np.asarray(cols, np.float64)
        return self.origin + np.outer(c, self.col_axis) + np.outer(r, self.row_axis)

    def to_pixels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, out-of-plane distance in mm) of world points (N, 3) in this frame."""
        d = np.asarray(points, np.float64) - self.origin
        basis = np.stack([self.col_axis, self.row_axis], axis=1)           # 3x2
        cols, rows = np.linalg.pinv(basis) @ d.T
        return rows, cols, d @ self.normal


@dataclass(frozen=True)
class Sweep:
    """One tracked sweep of one specimen: frames in acquisition order and the specimen's mesh."""
    sweep_id: str
    specimen: str
    frames: tuple[SweepFrame, ...]
    mesh: Mesh

    def __post_init__(self):
        object.__setattr__(self, "frames", tuple(self.frames))
        if not self.frames:
            raise InvalidSweep(f"Sweep {self.sweep_id} has no frames.")
        ids = [f.frame_id for f in self.frames]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise InvalidSweep(f"Sweep {self.sweep_id}: frame ids must be unique, repeated: {dup[:10]}.")

    @property
    def frame_ids(self) -> tuple[str, ...]:
        return tuple(f.frame_id for f in self.frames)

    def worst_distance(self) -> float:
        """The worst accuracy a reconstruction can score: the largest field diagonal of the frames."""
        return max(f.field_diagonal() for f in self.frames)

    def subset(self, frame_ids) -> "Sweep":
        """The same sweep keeping only `frame_ids` (order kept)."""
        keep = set(frame_ids)
        return Sweep(self.sweep_id, self.specimen, tuple(f for f in self.frames if f.frame_id in keep), self.mesh)


def write_sweep(folder, sweep: Sweep, mesh_name: str = "mesh.stl") -> Path:
    """Store `sweep` as `folder/sweep.json` plus its mesh (binary STL); return the JSON's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_stl(folder / mesh_name, sweep.mesh)
    doc = {"format": FORMAT, "sweep_id": sweep.sweep_id, "specimen": sweep.specimen, "mesh": mesh_name,
           "pose_convention": "pixel (col, row, 0, 1) -> world mm",
           "frames": [{"id": f.frame_id, "shape": list(f.shape), "pose": f.pose.round(9).tolist()}
                      for f in sweep.frames]}
    path = folder / SWEEP_FILE
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def read_sweep(path) -> Sweep:
    """Read a sweep written by `write_sweep` (a folder or its sweep.json)."""
    path = Path(path)
    path = path / SWEEP_FILE if path.is_dir() else path
    try:
        doc = json.loads(path.read_text())
        frames = tuple(SweepFrame(str(f["id"]), np.asarray(f["pose"], np.float64), tuple(f["shape"]))
                       for f in doc["frames"])
        mesh = read_stl(path.parent / doc["mesh"])
        return Sweep(str(doc["sweep_id"]), str(doc["specimen"]), frames, mesh)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InvalidSweep(f"Cannot read the sweep {path}: {e!r}. Rewrite it with write_sweep.") from e
