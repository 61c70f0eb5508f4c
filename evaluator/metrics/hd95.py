"""95th-percentile Hausdorff distance, exactly as medpy.metric.binary.hd95 defines it:
the 95th percentile (numpy's linear interpolation) of the pooled distances from each
1-connected border pixel of one mask to the nearest border pixel of the other, in both
directions, distances scaled by the pixel spacing.

Faster than medpy with the same values: the work is cropped to the bounding box of
both masks (all border pixels lie inside it, so no distance changes), and the nearest
border pixel is found by a window lookup with a k-d tree for the rest (see
`_nearest`) instead of a full distance transform. Each distance is computed with
scipy's own formula, sqrt((dy*sy)**2 + (dx*sx)**2), so medpy's numbers come out."""
from __future__ import annotations

import math

import numpy as np

from ._checks import check_mask_pair, check_spacing
from ._nearest import padded, symmetric_distances


def image_diagonal(shape: tuple[int, int], spacing: tuple[float, float] | None = None) -> float:
    """The image diagonal, sqrt((H*sy)^2 + (W*sx)^2): HD95 of an empty prediction of a present class."""
    sy, sx = spacing or (1.0, 1.0)
    return math.sqrt((shape[0] * sy) ** 2 + (shape[1] * sx) ** 2)


def hd95(pred: np.ndarray, gt: np.ndarray, spacing=None) -> float | None:
    """HD95 of two 2-D boolean masks of equal shape, in pixels, or in mm when
    `spacing` = (row_mm, col_mm) (or one number for square pixels) is given.
    Empty `gt` -> None (not applicable); empty `pred` on a non-empty `gt` -> the image diagonal."""
    pred, gt = check_mask_pair(pred, gt)
    return hd95_unchecked(pred, gt, check_spacing(spacing))


def hd95_unchecked(pred: np.ndarray, gt: np.ndarray, spacing: tuple[float, float] | None) -> float | None:
    """hd95 without argument checks, for callers that validated already."""
    if not gt.any():
        return None
    if not pred.any():
        return image_diagonal(pred.shape, spacing)
    box = _bounding_box(pred | gt)
    distances = symmetric_distances(_border(pred[box]), _border(gt[box]), spacing)
    return float(np.percentile(np.concatenate(distances), 95))


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _border(mask: np.ndarray) -> np.ndarray:
    """mask XOR its erosion by the 4-neighbour cross, with outside counted as
    background (scipy's binary_erosion with border_value=0, as medpy calls it).
    Outside a bounding-box crop is background too, so cropping changes nothing."""
    p = padded(mask, 1, 1)
    interior = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~interior
