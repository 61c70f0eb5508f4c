"""Distances from each point of one boolean grid to the nearest point of another,
for the surface metrics (HD95's border pixels, NSD/ASSD's border elements).

Most points of one border have a point of the other within a few pixels. So each
point first looks up a small window of offsets sorted by their length in mm; the first
offset that lands on the other set is the exact nearest point, because every offset
not in the window is longer than the window's radius. The window is searched in
rings, shortest first, and only while few points remain; the points left over (nothing
nearby: isolated false positives) are compared with every target point when that is
cheap, else with a k-d tree. Dense borders (speckle) take one distance transform
instead. Every distance is computed from its integer offset with scipy's formula,
sqrt((dy*sy)**2 + (dx*sx)**2), so all three paths give the same numbers as scipy."""
from __future__ import annotations

import functools
import math

import numpy as np

# Above this share of border points in the grid, one distance transform of the grid
# beats the window lookup and the k-d tree (noisy, speckled predictions).
_DENSE_SHARE = 0.25
# How many offsets the window holds (radius about 32 pixels), and where its stages end:
# every point tries the 9 shortest offsets, the points still without a hit the rest of
# the first 80 (a typical segmentation error of a few pixels), and, while few remain,
# the next rings of the window. Whatever is left goes to the far search (all pairs or a tree).
_WINDOW_SIZE = 3200
_STAGES = (9, 80, 800, _WINDOW_SIZE)
_RING_LOOKUPS = 100_000  # the rings after the second stage run only when they cost fewer lookups
_ALL_PAIRS = 1_000_000  # up to this many (point, target) pairs (8 MB), compare all instead of a tree
_MOSTLY_FAR = 0.25  # when the first stage resolves fewer than this share, the rest go to the tree


def lengths(offsets: np.ndarray, spacing) -> np.ndarray:
    """sqrt((dy*sy)**2 + (dx*sx)**2) in the operation order of scipy's distance_transform_edt."""
    d = offsets.astype(np.float64)
    if spacing is not None:
        d *= np.asarray(spacing, dtype=np.float64)
    d *= d
    return np.sqrt(d[:, 0] + d[:, 1])


def padded(mask: np.ndarray, ry: int, rx: int, dtype=np.bool_) -> np.ndarray:
    """`mask` with `ry` zero rows above and below and `rx` zero columns left and right
    (what np.pad does, several times faster on these small arrays)."""
    out = np.zeros((mask.shape[0] + 2 * ry, mask.shape[1] + 2 * rx), dtype=dtype)
    out[ry:ry + mask.shape[0], rx:rx + mask.shape[1]] = mask
    return out


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
    window, ry, rx = _window(spacing)
    if ry > a.shape[0] or rx > a.shape[1]:  # very anisotropic pixels: offsets past the grid never hit
        window = window[(np.abs(window[:, 0]) <= a.shape[0]) & (np.abs(window[:, 1]) <= a.shape[1])]
        ry, rx = min(ry, a.shape[0]), min(rx, a.shape[1])
    # padded by the window, every lookup stays inside the array; points are flat indices
    pad_a, pad_b = padded(a, ry, rx), padded(b, ry, rx)
    grid = _Grid(pad_a.shape[1], window, spacing)
    flat_a, flat_b = np.flatnonzero(pad_a), np.flatnonzero(pad_b)
    return (lengths(grid.nearest_offsets(flat_a, pad_b.ravel(), flat_b), spacing),
            lengths(grid.nearest_offsets(flat_b, pad_a.ravel(), flat_a), spacing))


class _Grid:
    """Nearest-point search on a padded grid of row length `width`."""

    def __init__(self, width: int, window: np.ndarray, spacing):
        self.width, self.window, self.spacing = width, window, spacing
        self.steps = window[:, 0] * width + window[:, 1]  # each offset as a flat-index step

    def nearest_offsets(self, points: np.ndarray, target: np.ndarray, target_points: np.ndarray) -> np.ndarray:
        """(dy, dx) from each flat index in `points` to its nearest True of the flat grid
        `target` (whose True indices are `target_points`)."""
        out = np.empty((points.size, 2), dtype=np.int64)
        todo = np.arange(points.size)
        lo = 0
        for i, hi in enumerate(_STAGES):
            hi = min(hi, len(self.steps))
            if hi <= lo:
                break
            if i == 1 and todo.size > (1.0 - _MOSTLY_FAR) * points.size:
                break  # isolated points (speckle): a window would mostly miss
            if i > 1 and todo.size * (hi - lo) > _RING_LOOKUPS:
                break
            hits = target[points[todo, None] + self.steps[None, lo:hi]]
            first = hits.argmax(axis=1)
            found = hits[np.arange(todo.size), first]
            out[todo[found]] = self.window[lo + first[found]]
            todo = todo[~found]
            if not todo.size:
                return out
            lo = hi
        out[todo] = self._far_offsets(points[todo], target_points)
        return out

    def _far_offsets(self, points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
        """Nearest target of points with none in the window: from all pairs when they are
        few (one C loop, no tree to build), else from a k-d tree."""
        pts = np.stack(np.divmod(points, self.width), axis=1)
        targets = np.stack(np.divmod(target_points, self.width), axis=1)
        scale = np.asarray(self.spacing or (1.0, 1.0), dtype=np.float64)
        if points.size * target_points.size <= _ALL_PAIRS:
            from scipy.spatial.distance import cdist

            nearest = cdist(pts * scale, targets * scale, "sqeuclidean").argmin(axis=1)
        else:
            from scipy.spatial import cKDTree

            nearest = cKDTree(targets * scale).query(pts * scale)[1]
        return targets[nearest] - pts
