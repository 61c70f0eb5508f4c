"""Scan regions: the part of an image the probe actually imaged (the fan of a convex or
phased-array probe, the rectangle of a linear one). Metrics count only pixels inside it:
a prediction outside the fan is neither rewarded nor punished, because no label there
says anything about anatomy.

`convex_hull_region` derives the region from the image itself, as UltraBench does for
convex-probe datasets: the convex hull of the pixels brighter than a threshold (the
black background around a fan is exactly 0 on exported scanner frames). `restrict`
sets both label maps to background outside the region, so every per-case metric
(Dice, IoU, surface distances, counts) is computed inside it only."""
from __future__ import annotations

import numpy as np

from ._checks import InvalidMetricInput, _describe


def convex_hull_region(image: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Boolean mask of the convex hull of the pixels of a 2-D `image` above `threshold`
    (pixel centres; a pixel is inside when its centre is inside or on the hull).
    An image with fewer than three non-collinear bright pixels has no fan to find:
    the whole image is the region, so nothing is silently dropped."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise InvalidMetricInput(f"Expected a 2-D image for the scan region, but got {_describe(image)}")
    rows, cols = np.nonzero(image > threshold)
    if rows.size < 3:
        return np.ones(image.shape, dtype=bool)
    from scipy.spatial import ConvexHull, QhullError  # imported here: scoring without regions never needs it

    points = np.column_stack([rows, cols]).astype(np.float64)
    try:
        hull = ConvexHull(points)
    except QhullError:  # all bright pixels on one line: that line is the region
        region = np.zeros(image.shape, dtype=bool)
        region[rows, cols] = True
        return region
    # A point is inside when every facet's plane equation n.x + b <= 0 (qhull's outward normals).
    rr, cc = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    grid = np.column_stack([rr.ravel(), cc.ravel()]).astype(np.float64)
    normals, offsets = hull.equations[:, :2], hull.equations[:, 2]
    inside = np.all(grid @ normals.T + offsets <= 1e-9, axis=1)
    return inside.reshape(image.shape)


def check_region(region, shape: tuple[int, int]) -> np.ndarray:
    """`region` as a boolean array of `shape`, or a clear error."""
    region = np.asarray(region)
    if region.shape != tuple(shape):
        raise InvalidMetricInput(f"Expected a scan region of shape {tuple(shape)}, but got {_describe(region)}")
    if region.dtype != bool:
        if not np.isin(region, (0, 1)).all():
            raise InvalidMetricInput("Expected a scan region of 0/1 or boolean values, but got other values")
        region = region.astype(bool)
    return region


def restrict(pred_labels: np.ndarray, gt_labels: np.ndarray, region) -> tuple[np.ndarray, np.ndarray]:
    """Both label maps with every pixel outside `region` set to background (0)."""
    region = check_region(region, gt_labels.shape)
    outside = ~region
    if not outside.any():
        return pred_labels, gt_labels
    pred, gt = pred_labels.copy(), gt_labels.copy()
    pred[outside] = 0
    gt[outside] = 0
    return pred, gt
