"""95th-percentile Hausdorff distance, exactly as medpy.metric.binary.hd95 defines it:
the 95th percentile (numpy's linear interpolation) of the pooled distances from each
1-connected border pixel of one mask to the nearest border pixel of the other, in both
directions, distances scaled by the pixel spacing.

Faster than medpy with the same values: the work is cropped to the bounding box of
both masks (all border pixels lie inside it, so no distance changes), and for thin
borders the nearest border pixel is found with a k-d tree instead of a full distance
transform. Each distance is then computed with scipy's own formula,
sqrt((dy*sy)**2 + (dx*sx)**2), so both paths reproduce medpy's numbers."""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_mask_pair, check_spacing

# Above this share of border pixels in the crop, one distance transform of the crop
# beats building a k-d tree (noisy, speckled predictions).
_DENSE_BORDER_SHARE = 0.25


def image_diagonal(shape: tuple[int, int], spacing: tuple[float, float] | None = None) -> float:
    """The image diagonal, sqrt((H*sy)^2 + (W*sx)^2): HD95 when exactly one mask is empty."""
    sy, sx = spacing or (1.0, 1.0)
    return math.sqrt((shape[0] * sy) ** 2 + (shape[1] * sx) ** 2)


def hd95(pred: np.ndarray, gt: np.ndarray, spacing=None) -> float:
    """HD95 of two 2-D boolean masks of equal shape, in pixels, or in mm when
    `spacing` = (row_mm, col_mm) (or one number for square pixels) is given.
    Both empty -> 0; exactly one empty -> the image diagonal."""
    pred, gt = check_mask_pair(pred, gt)
    return hd95_unchecked(pred, gt, check_spacing(spacing))


def hd95_unchecked(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float] | None) -> float:
    """hd95 without argument checks, for callers that validated already."""
    has_pred, has_gt = bool(pred.any()), bool(gt.any())
    if not has_pred and not has_gt:
        return 0.0
    if not (has_pred and has_gt):
        return image_diagonal(pred.shape, spacing)
    box = _bounding_box(pred | gt)
    distances = _surface_distances(_border(pred[box]), _border(gt[box]), spacing)
    return float(np.percentile(distances, 95))


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _border(mask: np.ndarray) -> np.ndarray:
    """mask XOR its erosion by the 4-neighbour cross, with outside counted as
    background (scipy's binary_erosion with border_value=0, as medpy calls it).
    Outside a bounding-box crop is background too, so cropping changes nothing."""
    p = np.pad(mask, 1)
    interior = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~interior


def _surface_distances(a: np.ndarray, b: np.ndarray, spacing) -> np.ndarray:
    """Distances from each border pixel of `a` to the nearest of `b`, then from `b` to `a`."""
    if np.count_nonzero(a) + np.count_nonzero(b) > _DENSE_BORDER_SHARE * a.size:
        from scipy.ndimage import distance_transform_edt

        return np.concatenate((distance_transform_edt(~b, sampling=spacing)[a],
                               distance_transform_edt(~a, sampling=spacing)[b]))
    from scipy.spatial import cKDTree

    scale = np.asarray(spacing or (1.0, 1.0), dtype=np.float64)
    pts_a, pts_b = np.argwhere(a), np.argwhere(b)
    # unbalanced trees build and query faster on these small, grid-aligned point sets
    tree_a = cKDTree(pts_a * scale, balanced_tree=False, compact_nodes=False)
    tree_b = cKDTree(pts_b * scale, balanced_tree=False, compact_nodes=False)
    a_to_b = pts_b[tree_b.query(pts_a * scale)[1]] - pts_a
    b_to_a = pts_a[tree_a.query(pts_b * scale)[1]] - pts_b
    return _lengths(np.concatenate((a_to_b, b_to_a)), spacing)


def _lengths(offsets: np.ndarray, spacing) -> np.ndarray:
    """sqrt((dy*sy)**2 + (dx*sx)**2) in the operation order of scipy's distance_transform_edt."""
    d = offsets.astype(np.float64)
    if spacing is not None:
        d *= np.asarray(spacing, dtype=np.float64)
    d *= d
    return np.sqrt(d[:, 0] + d[:, 1])
