"""Distances from each point of one boolean grid to the nearest point of another,
for the surface metrics (HD95's border pixels, NSD/ASSD's border elements).

Most points of one border have a point of the other within a few pixels. So each
point first looks up a small window of offsets sorted by their length in mm; the first
offset that lands on the other set is the exact nearest point, because every offset
not in the window is longer than the window's radius. Only points with nothing in
the window go to a k-d tree. Dense borders (speckle) take one distance transform
instead. Every distance is computed from its integer offset with scipy's formula,
sqrt((dy*sy)**2 + (dx*sx)**2), so all three paths give the same numbers as scipy."""
from __future__ import annotations

import functools
import math

import numpy as np

# Above this share of border points in the grid, one distance transform of the grid
# beats the window lookup and the k-d tree (noisy, speckled predictions).
_DENSE_SHARE = 0.25
# About how many offsets the window holds: enough that a typical segmentation error
# (a few pixels) is resolved in the window, few enough that the lookup stays cheap.
_WINDOW_SIZE = 80


def lengths(offsets: np.ndarray, spacing) -> np.ndarray:
    """sqrt((dy*sy)**2 + (dx*sx)**2) in the operation order of scipy's distance_transform_edt."""
    d = offsets.astype(np.float64)
    if spacing is not None:
        d *= np.asarray(spacing, dtype=np.float64)
    d *= d
    return np.sqrt(d[:, 0] + d[:, 1])


@functools.lru_cache(maxsize=64)
def _window(spacing: tuple[float, float] | None) -> tuple[np.ndarray, int, int]:
    """Integer offsets (k x 2) of length <= the window radius, shortest first, and
    the window's half-height and half-width in pixels."""
    sy, sx = spacing or (1.0, 1.0)
    radius = math.sqrt(_WINDOW_SIZE * sy * sx / math.pi)
    ry, rx = int(radius // sy), int(radius // sx)
    dy, dx = np.mgrid[-ry:ry + 1, -rx:rx + 1]
    offsets = np.stack((dy.ravel(), dx.ravel()), axis=1)
    length = lengths(offsets, spacing)
    keep = length <= radius
    order = np.argsort(length[keep], kind="stable")
    return offsets[keep][order], ry, rx


def symmetric_distances(a: np.ndarray, b: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    """(distance of each True of `a` to the nearest True of `b`, and of each True of `b`
    to the nearest of `a`), each in row-major order of its points. Both non-empty."""
    if np.count_nonzero(a) + np.count_nonzero(b) > _DENSE_SHARE * a.size:
        from scipy.ndimage import distance_transform_edt

        return (distance_transform_edt(~b, sampling=spacing)[a],
                distance_transform_edt(~a, sampling=spacing)[b])
    pts_a, pts_b = np.argwhere(a), np.argwhere(b)
    return (lengths(_nearest_offsets(pts_a, b, pts_b, spacing), spacing),
            lengths(_nearest_offsets(pts_b, a, pts_a, spacing), spacing))


def _nearest_offsets(pts: np.ndarray, target: np.ndarray, target_pts: np.ndarray, spacing) -> np.ndarray:
    """Offset from each of `pts` to its nearest True of `target` (whose points are `target_pts`)."""
    window, ry, rx = _window(spacing)
    padded = np.pad(target, ((ry, ry), (rx, rx)))
    width = padded.shape[1]
    flat = (pts[:, 0] + ry) * width + (pts[:, 1] + rx)
    hits = padded.ravel()[flat[:, None] + (window[:, 0] * width + window[:, 1])[None, :]]
    first = hits.argmax(axis=1)
    found = hits[np.arange(len(pts)), first]
    out = window[first]
    missing = np.flatnonzero(~found)
    if missing.size:
        out[missing] = _tree_offsets(pts[missing], target_pts, spacing)
    return out


def _tree_offsets(pts: np.ndarray, target_pts: np.ndarray, spacing) -> np.ndarray:
    from scipy.spatial import cKDTree

    scale = np.asarray(spacing or (1.0, 1.0), dtype=np.float64)
    # unbalanced trees build and query faster on these small, grid-aligned point sets
    tree = cKDTree(target_pts * scale, balanced_tree=False, compact_nodes=False)
    return target_pts[tree.query(pts * scale)[1]] - pts
