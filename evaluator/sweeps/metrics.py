"""3D bone-surface reconstruction metrics of a tracked sweep.

Each frame's predicted surface is reduced to its probe-facing edge — per image column, the
shallowest pixel of the surface class — and placed in world space with the frame's pose; the
labels go through the same rule. The reconstructed points are compared with the specimen's mesh:

* accuracy: the mean and the 95th percentile of the exact point-to-mesh distances (mm), each
  distance capped at the sweep's worst reachable value (the largest field diagonal of its frames);
* completeness: the share of the *visible* mesh surface within τ mm of a reconstructed point. The
  visible surface is what the sweep's frames intersect and what faces the probe: area samples of the
  mesh lying within half the slice thickness of a frame's plane, inside its field, whose normal
  points back towards the probe (within `facing_angle` of the beam), and not deeper than τ below the
  mesh's own probe-facing edge in that frame (the shallowest crossing of the frame's plane with the
  mesh, per image column: the labels' rule applied to the mesh, so a surface hidden under another is
  not asked for);
* F-score at τ: the harmonic mean of precision (the share of reconstructed points within τ of the
  mesh) and completeness.

Empty policy: a sweep without any predicted surface pixel scores completeness 0, F-score 0 and
accuracy = the worst reachable value, never NaN, so predicting nothing never pays."""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..metrics import METRICS, SUMMARY_STATS, MetricKind, aggregate, metric_names, score_case
from .mesh import MeshDistance, sample_surface
from .structure import InvalidSweep, Sweep, SweepFrame

FACING_ANGLE = 80.0    # degrees between a face's normal and the direction back to the probe


@dataclass(frozen=True)
class SweepScores:
    """One reconstruction's scores; the keys of `as_dict` are the registry's sweep metric names."""
    sweep_accuracy: float          # mean point-to-mesh distance, mm
    sweep_accuracy_p95: float      # 95th percentile, mm
    sweep_completeness: float      # share of the visible surface within τ
    sweep_precision: float         # share of reconstructed points within τ of the mesh
    sweep_fscore: float
    n_points: int
    tolerance: float
    worst: float

    def as_dict(self) -> dict:
        return asdict(self)


def probe_facing_edge(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the shallowest foreground pixel of each column that has one."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise InvalidSweep(f"Expected a 2-D surface mask, got shape {mask.shape}.")
    cols = np.flatnonzero(mask.any(axis=0))
    return mask[:, cols].argmax(axis=0), cols


def reconstruct(sweep: Sweep, masks: dict, foreground: int = 1) -> np.ndarray:
    """World points (N, 3) of the probe-facing edges of `masks` (frame id -> label map); a frame
    without a mask contributes nothing (as a prediction of no surface)."""
    parts = [np.zeros((0, 3))]
    for frame in sweep.frames:
        labels = masks.get(frame.frame_id)
        if labels is None:
            continue
        labels = np.asarray(labels)
        if labels.shape != frame.shape:
            raise InvalidSweep(f"Frame {frame.frame_id}: mask of shape {labels.shape}, but the sweep's frame is "
                               f"{frame.shape}: masks must be at the frame's native size.")
        rows, cols = probe_facing_edge(labels == foreground)
        parts.append(frame.to_world(rows, cols))
    return np.concatenate(parts)


def section_depths(frame: SweepFrame, triangles: np.ndarray) -> np.ndarray:
    """Per image column of `frame`, the depth (mm) of the shallowest crossing of the frame's plane with
    `triangles` (M, 3, 3) within the column's pixel width — the mesh's own probe-facing edge, the
    labels' rule applied to the mesh; inf where the section does not reach the column."""
    shallowest = np.full(frame.shape[1], np.inf)
    s = (triangles - frame.origin) @ frame.normal                      # (M, 3) signed distances
    s = np.where(s == 0, 1e-12, s)
    crossing = (s.min(axis=1) < 0) & (s.max(axis=1) > 0)
    t, s = triangles[crossing], s[crossing]
    if not len(t):
        return shallowest
    ends = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        cut = s[:, i] * s[:, j] < 0
        frac = np.where(cut, s[:, i] / np.where(cut, s[:, i] - s[:, j], 1.0), np.nan)
        ends.append(t[:, i] + (t[:, j] - t[:, i]) * frac[:, None])
    ends = np.stack(ends, 1)                                            # (K, 3 edges, 3); two edges are cut
    order = np.argsort(np.isnan(ends[:, :, 0]), axis=1, kind="stable")[:, :2]
    pair = np.take_along_axis(ends, order[:, :, None], axis=1)          # (K, 2, 3)
    rows, cols, _ = frame.to_pixels(pair.reshape(-1, 3))
    rows, cols = rows.reshape(-1, 2), cols.reshape(-1, 2)
    depth = rows * np.linalg.norm(frame.row_axis)
    # Each segment counts in every pixel column it overlaps ([k - 1/2, k + 1/2]) with the shallower
    # end of its part inside that column, as a label's shallowest pixel of the column would.
    lo, hi = np.rint(cols.min(axis=1)), np.rint(cols.max(axis=1))
    count = (hi - lo + 1).astype(np.int64)
    seg = np.repeat(np.arange(len(count)), count)
    col = lo[seg] + (np.arange(len(seg)) - np.repeat(np.cumsum(count) - count, count))
    span = cols[seg, 1] - cols[seg, 0]
    at = np.full(len(seg), np.inf)
    for edge in (np.maximum(cols[seg].min(axis=1), col - 0.5), np.minimum(cols[seg].max(axis=1), col + 0.5)):
        w = np.divide(edge - cols[seg, 0], span, out=np.zeros(len(seg)), where=span != 0)
        at = np.minimum(at, depth[seg, 0] + w * (depth[seg, 1] - depth[seg, 0]))
    keep = (col >= 0) & (col < frame.shape[1])
    np.minimum.at(shallowest, col[keep].astype(np.int64), at[keep])
    return shallowest


def _frame_visible(frame: SweepFrame, points: np.ndarray, normals: np.ndarray, triangles: np.ndarray,
                   half_slice: float, tolerance: float, cos_facing: float) -> np.ndarray:
    """Indices of `points` (mesh samples near the frame) that this frame sees."""
    rows, cols, off = frame.to_pixels(points)
    n_rows, n_cols = frame.shape
    seen = ((np.abs(off) <= half_slice) & (cols >= -0.5) & (cols <= n_cols - 0.5) & (rows >= -0.5)
            & (rows <= n_rows - 0.5) & (normals @ -frame.beam >= cos_facing))
    idx = np.flatnonzero(seen)
    if not len(idx):
        return idx
    # Hidden under a shallower surface of the same column: deeper than the section's edge + τ.
    shallowest = section_depths(frame, triangles)
    column = np.clip(np.rint(cols[idx]).astype(np.int64), 0, n_cols - 1)
    depth = rows[idx] * np.linalg.norm(frame.row_axis)
    return idx[depth <= shallowest[column] + tolerance]


def visible_surface(sweep: Sweep, tolerance: float, spacing: float | None = None, half_slice: float | None = None,
                    facing_angle: float = FACING_ANGLE, seed: int = 0) -> np.ndarray:
    """Area samples (N, 3) of the mesh surface the sweep sees (see the module's docstring), about one per
    `spacing`² mm² (default τ/4). `half_slice`: half the slice thickness (default τ/2, so a visible sample
    lies within τ of its frame's own edge points when the reconstruction is exact)."""
    spacing = tolerance / 4 if spacing is None else spacing
    half_slice = tolerance / 2 if half_slice is None else half_slice
    points, normals = sample_surface(sweep.mesh, spacing, seed)
    tree = cKDTree(points)
    triangles = sweep.mesh.triangles
    centroids = triangles.mean(axis=1)
    tri_tree = cKDTree(centroids)
    radius = float(np.linalg.norm(triangles - centroids[:, None], axis=2).max())
    cos_facing = float(np.cos(np.radians(facing_angle)))
    seen = np.zeros(len(points), bool)
    for frame in sweep.frames:
        rows, cols = frame.shape
        centre = frame.to_world([(rows - 1) / 2], [(cols - 1) / 2])[0]
        reach = frame.field_diagonal() / 2 + half_slice + 1e-9
        near = np.asarray(tree.query_ball_point(centre, reach), np.int64)
        if not len(near):
            continue
        tris = triangles[np.asarray(tri_tree.query_ball_point(centre, reach + radius), np.int64)]
        seen[near[_frame_visible(frame, points[near], normals[near], tris, half_slice, tolerance, cos_facing)]] = True
    if not seen.any():
        raise InvalidSweep(f"Sweep {sweep.sweep_id}: its frames see none of the mesh's probe-facing surface. Check "
                           "that the mesh and the poses are in the same world frame and unit (mm).")
    return points[seen]


def point_errors(sweep: Sweep, masks: dict, foreground: int = 1, distance: MeshDistance | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The reconstructed points of `masks` and each one's distance (mm) to the mesh, capped at the
    worst reachable value as the accuracy counts it: what a view colours by distance."""
    points = reconstruct(sweep, masks, foreground)
    if not len(points):
        return points, np.zeros(0)
    return points, np.minimum((distance or MeshDistance(sweep.mesh))(points), sweep.worst_distance())


def score_reconstruction(sweep: Sweep, points: np.ndarray, visible: np.ndarray, tolerance: float,
                         distance: MeshDistance | None = None) -> SweepScores:
    """Scores of reconstructed `points` against the sweep's mesh and its `visible` surface samples."""
    if not tolerance > 0:
        raise InvalidSweep(f"Expected a positive tolerance τ in mm, got {tolerance!r}.")
    worst = sweep.worst_distance()
    if not len(points):
        return SweepScores(worst, worst, 0.0, 0.0, 0.0, 0, float(tolerance), worst)
    d = np.minimum((distance or MeshDistance(sweep.mesh))(points), worst)
    precision = float(np.mean(d <= tolerance))
    near, _ = cKDTree(points).query(visible, distance_upper_bound=tolerance)
    completeness = float(np.mean(np.isfinite(near)))
    f = 2 * precision * completeness / (precision + completeness) if precision + completeness else 0.0
    return SweepScores(float(d.mean()), float(np.percentile(d, 95)), completeness, precision, float(f),
                       len(points), float(tolerance), worst)


def score_sweep(sweep: Sweep, predictions: dict, labels: dict | None = None, *, tolerance: float,
                num_classes: int = 2, foreground: int = 1, spacing=None, nsd_tolerance=None,
                surface_tolerance=None) -> dict:
    """Score one sweep: "frames" (frame id -> `score_case` of the frame, as the bone task scores its
    frames; only with `labels`), "reconstruction" (the predictions' SweepScores) and "labels" (the
    labels' own reconstruction through the same rule: the ceiling a perfect segmentation reaches,
    only with `labels`). A frame missing from `predictions` is scored as predicting no surface."""
    if isinstance(tolerance, bool) or not (isinstance(tolerance, numbers.Real) and tolerance > 0):
        raise InvalidSweep(f"Expected a positive tolerance τ in mm, got {tolerance!r}.")
    missing = [f for f in sweep.frame_ids if labels is not None and f not in labels]
    if missing:
        raise InvalidSweep(f"Sweep {sweep.sweep_id}: no label for {len(missing)} frame(s), e.g. {missing[:5]}: every "
                           "frame of a sweep needs its label to be scored.")
    visible = visible_surface(sweep, tolerance)
    distance = MeshDistance(sweep.mesh)
    out = {"reconstruction": score_reconstruction(sweep, reconstruct(sweep, predictions, foreground), visible,
                                                  tolerance, distance)}
    if labels is not None:
        frames = {}
        for frame in sweep.frames:
            gt = np.asarray(labels[frame.frame_id])
            pred = predictions.get(frame.frame_id)
            pred = np.zeros_like(gt) if pred is None else np.asarray(pred)
            frames[frame.frame_id] = score_case(pred, gt, num_classes, spacing=spacing, nsd_tolerance=nsd_tolerance,
                                                surface_tolerance=surface_tolerance)
        out["frames"] = frames
        out["labels"] = score_reconstruction(sweep, reconstruct(sweep, labels, foreground), visible, tolerance,
                                             distance)
    return out


def sweep_columns(scores: list[SweepScores]) -> dict:
    """The result-row columns of a result's sweeps: `<metric>_<stat>` (mean, std, bootstrap CI over
    the sweeps) for every sweep metric of the registry, and `sweep_tolerance`."""
    if not scores:
        raise InvalidSweep("No sweep scores to summarise: a task with sweeps scores every one of them.")
    tolerances = {s.tolerance for s in scores}
    if len(tolerances) != 1:
        raise InvalidSweep(f"The sweeps were scored at different tolerances {sorted(tolerances)}: score them at one τ.")
    out = {}
    for name in sweep_metrics():
        summary = aggregate([getattr(s, name) for s in scores])
        out.update({f"{name}_{k}": summary[k] for k in SUMMARY_STATS})
    out["sweep_tolerance"] = tolerances.pop()
    return out


def sweep_metrics() -> tuple[str, ...]:
    """The registry's sweep metrics, in registration order."""
    return tuple(m for m in metric_names() if METRICS.get(m).kind is MetricKind.SWEEP)
