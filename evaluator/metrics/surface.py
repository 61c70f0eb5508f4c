"""Surface metrics with contour lengths: NSD (normalised surface distance, also called
surface Dice) and ASSD (average symmetric surface distance), following the definition
of DeepMind's `surface-distance` package (Nikolov et al. 2021).

Each mask is described on the corners of its pixels: the corner (i, j) gets the code
8*m[i-1,j-1] + 4*m[i-1,j] + 2*m[i,j-1] + m[i,j] of the 2 x 2 pixels around it (outside
the image = 0). A corner whose code is neither 0 nor 15 is a border element; its
contour length is that of the marching-squares segment through its 2 x 2 cell, scaled
by the pixel spacing. Each border element's distance is to the nearest border element
of the other mask. NSD at tolerance tau is the share of both contours' length lying
within tau of the other contour; ASSD is the mean of the two length-weighted mean
distances. Distances are in pixels, or in mm with a spacing (row_mm, col_mm)."""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from ._checks import check_mask_pair, check_spacing, check_tolerance
from ._nearest import padded, symmetric_distances
from .hd95 import _bounding_box, image_diagonal

_FULL = 0b1111
NSD_TOLERANCE_PIXELS = 2.0  # default tolerance when a task declares none


class SurfaceDistances(NamedTuple):
    """Per border element, in row-major order of the elements on the corner grid."""
    gt_to_pred: np.ndarray  # distance of each gt element to the nearest pred element (inf if pred is empty)
    pred_to_gt: np.ndarray  # distance of each pred element to the nearest gt element (inf if gt is empty)
    lengths_gt: np.ndarray  # contour length of each gt element
    lengths_pred: np.ndarray  # contour length of each pred element


def default_nsd_tolerance(spacing=None) -> float:
    """2 pixels: 2.0 without a spacing, 2 x the mean pixel size in mm with one."""
    spacing = check_spacing(spacing)
    return NSD_TOLERANCE_PIXELS * (1.0 if spacing is None else (spacing[0] + spacing[1]) / 2.0)


@functools.lru_cache(maxsize=64)
def contour_lengths(spacing: tuple[float, float] | None = None) -> np.ndarray:
    """Contour length of the marching-squares segment(s) of each of the 16 codes."""
    sy, sx = spacing or (1.0, 1.0)
    half_diagonal = 0.5 * math.sqrt(sy * sy + sx * sx)
    table = np.zeros(16)
    for code in (0b0001, 0b0010, 0b0100, 0b1000, 0b1110, 0b1101, 0b1011, 0b0111):
        table[code] = half_diagonal  # one corner in (or out): the segment cuts that corner
    table[0b0011] = table[0b1100] = sx  # bottom or top row in: a horizontal segment
    table[0b0101] = table[0b1010] = sy  # right or left column in: a vertical segment
    table[0b0110] = table[0b1001] = 2 * half_diagonal  # opposite corners in: two cuts
    table.setflags(write=False)
    return table


def surface_distances(pred: np.ndarray, gt: np.ndarray, spacing=None) -> SurfaceDistances:
    """Border elements of two 2-D boolean masks of equal shape: their distances to the
    other mask's border and their contour lengths (pixels, or mm with `spacing`)."""
    pred, gt = check_mask_pair(pred, gt)
    return surface_distances_unchecked(pred, gt, check_spacing(spacing))


def surface_distances_unchecked(pred: np.ndarray, gt: np.ndarray, spacing) -> SurfaceDistances:
    """surface_distances without argument checks, for callers that validated already."""
    both = pred | gt
    if not both.any():
        empty = np.zeros(0)
        return SurfaceDistances(empty, empty, empty, empty)
    box = _bounding_box(both)  # every border element lies on the crop's corner grid
    code_pred, code_gt = _codes(pred[box]), _codes(gt[box])
    border_pred = (code_pred != 0) & (code_pred != _FULL)
    border_gt = (code_gt != 0) & (code_gt != _FULL)
    if border_pred.any() and border_gt.any():
        gt_to_pred, pred_to_gt = symmetric_distances(border_gt, border_pred, spacing)
    else:
        gt_to_pred = np.full(np.count_nonzero(border_gt), np.inf)
        pred_to_gt = np.full(np.count_nonzero(border_pred), np.inf)
    table = contour_lengths(spacing)
    return SurfaceDistances(gt_to_pred, pred_to_gt, table[code_gt[border_gt]], table[code_pred[border_pred]])


def _codes(mask: np.ndarray) -> np.ndarray:
    """(h+1) x (w+1) neighbourhood codes of an h x w mask, one per pixel corner."""
    p = padded(mask, 1, 1, np.uint8)
    return 8 * p[:-1, :-1] + 4 * p[:-1, 1:] + 2 * p[1:, :-1] + p[1:, 1:]


def nsd(pred: np.ndarray, gt: np.ndarray, tolerance, spacing=None) -> float:
    """Normalised surface distance of two 2-D boolean masks at `tolerance` (pixels, or mm
    with `spacing`): the share of both contours within `tolerance` of the other.
    Empty `gt` -> None (not applicable); empty `pred` on a non-empty `gt` -> 0."""
    pred, gt = check_mask_pair(pred, gt)
    tolerance = check_tolerance(tolerance)
    return nsd_from(surface_distances_unchecked(pred, gt, check_spacing(spacing)), tolerance)


def assd(pred: np.ndarray, gt: np.ndarray, spacing=None) -> float:
    """Average symmetric surface distance of two 2-D boolean masks (pixels, or mm with
    `spacing`). Empty `gt` -> None (not applicable); empty `pred` on a non-empty `gt` -> the
    image diagonal."""
    pred, gt = check_mask_pair(pred, gt)
    spacing = check_spacing(spacing)
    return assd_from(surface_distances_unchecked(pred, gt, spacing), pred.shape, spacing)


def nsd_from(sd: SurfaceDistances, tolerance: float) -> float | None:
    """NSD from `surface_distances`, with the empty-reference policy (a non-empty mask always
    has border elements, so no gt element means an empty reference)."""
    total = sd.lengths_gt.sum() + sd.lengths_pred.sum()
    if sd.lengths_gt.size == 0:
        return None
    if sd.lengths_pred.size == 0:
        return 0.0
    within = sd.lengths_gt[sd.gt_to_pred <= tolerance].sum() + sd.lengths_pred[sd.pred_to_gt <= tolerance].sum()
    return float(within / total)


def assd_from(sd: SurfaceDistances, shape: tuple[int, int], spacing) -> float | None:
    """ASSD from `surface_distances` of masks of `shape`, with the empty-reference policy."""
    if sd.lengths_gt.size == 0:
        return None
    if sd.lengths_pred.size == 0:
        return image_diagonal(shape, spacing)
    gt_mean = (sd.gt_to_pred * sd.lengths_gt).sum() / sd.lengths_gt.sum()
    pred_mean = (sd.pred_to_gt * sd.lengths_pred).sum() / sd.lengths_pred.sum()
    return float((gt_mean + pred_mean) / 2.0)
