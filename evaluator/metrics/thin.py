"""Surface metrics with a tolerance for thin structures (a bone surface labelled as a band of
a few pixels), where Dice on the band is brittle: a prediction one band-width off scores 0.

They are computed on the mask pixels themselves, not on contours: a band 3-4 pixels wide is
all border, so its contour (what NSD/ASSD measure) would trace both sides of one surface.
For every foreground pixel of one mask, its distance is from its centre to the nearest pixel
centre of the other mask (0 for a pixel in both), sqrt((dy*sy)**2 + (dx*sx)**2), in pixels or
in mm with a spacing (row_mm, col_mm).

- surface precision: the share of predicted pixels within a tolerance (<=) of a reference pixel;
- surface recall: the share of reference pixels within a tolerance of a predicted pixel;
- surface F1: their harmonic mean, 0 when both are 0;
- mean distance pred -> ref and ref -> pred: the one-sided means (lower is better).

Precision, recall and F1 are each the mean over `TOLERANCE_STEPS` (4) tolerances T/4, T/2, 3T/4
and T, where T is the declared tolerance (as COCO averages precision over IoU thresholds). One
tolerance cannot see every error: with T at the band's thickness (the bone task's 0.5 mm, about
4 pixels) a label moved by 1, 2 or 3 pixels scores 1, and with T below one pixel the score is
Dice on the band, which falls to 0 one band-width off. The average loses about a quarter for each
quarter-T of error, reaches 0 only beyond T, and a 1-pixel error always costs something because
T/4 is below one pixel for every task whose T is under 4 pixels. `steps=1` gives the plain
single-tolerance score.

These are the accuracy / completeness / F1 at distance thresholds that ultrasound bone-surface
work reports (e.g. UltraBones100k); this module does not claim to reproduce any paper's exact
point sets, only this definition. A centre-line (skeleton) version was not chosen: it needs a
thinning algorithm whose spurs and end points change the numbers on a 3-4 px band, and at one
tolerance it is as blind to a shift smaller than the tolerance as the pixel version.

Empty masks follow the benchmark's policy: an empty reference -> every score None (not
applicable: false positives on an image without the structure are the image-level
specificity's business); an empty prediction of a present reference -> precision = recall =
F1 = 0 and both distances the image diagonal (as HD95 and ASSD)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_mask_pair, check_positive_int, check_spacing, check_tolerance
from ._nearest import symmetric_distances
from .hd95 import _bounding_box, image_diagonal

TOLERANCE_STEPS = 4  # precision/recall/F1 are averaged over T/4, T/2, 3T/4, T


class BandDistances(NamedTuple):
    """Per foreground pixel, in row-major order."""
    pred_to_gt: np.ndarray  # distance of each predicted pixel to the nearest reference pixel
    gt_to_pred: np.ndarray  # distance of each reference pixel to the nearest predicted pixel


def band_distances(pred: np.ndarray, gt: np.ndarray, spacing=None) -> BandDistances:
    """Pixel-to-nearest-pixel distances of two 2-D boolean masks of equal shape (pixels, or
    mm with `spacing`); a direction whose other mask is empty holds inf."""
    pred, gt = check_mask_pair(pred, gt)
    return band_distances_unchecked(pred, gt, check_spacing(spacing))


def band_distances_unchecked(pred: np.ndarray, gt: np.ndarray, spacing) -> BandDistances:
    """band_distances without argument checks, for callers that validated already."""
    has_pred, has_gt = bool(pred.any()), bool(gt.any())
    if not (has_pred and has_gt):
        return BandDistances(np.full(np.count_nonzero(pred), np.inf), np.full(np.count_nonzero(gt), np.inf))
    box = _bounding_box(pred | gt)  # every pixel of both lies in the crop: no distance changes
    to_gt, to_pred = symmetric_distances(pred[box], gt[box], spacing)
    return BandDistances(to_gt, to_pred)


def _levels(tolerance: float, steps: int) -> list[float]:
    return [tolerance * k / steps for k in range(1, steps + 1)]


def _shares(distances: np.ndarray, levels: list[float]) -> list[float]:
    """The share of `distances` within each tolerance of `levels` (<=)."""
    return [float(np.count_nonzero(distances <= t) / distances.size) for t in levels]


def precision_from(bd: BandDistances, shape, spacing, tolerance: float,
                   steps: int = TOLERANCE_STEPS) -> float | None:
    """Surface precision from `band_distances`, with the empty-mask policy (module docstring)."""
    if bd.gt_to_pred.size == 0:
        return None
    if bd.pred_to_gt.size == 0:
        return 0.0
    return float(np.mean(_shares(bd.pred_to_gt, _levels(tolerance, steps))))


def recall_from(bd: BandDistances, shape, spacing, tolerance: float,
                steps: int = TOLERANCE_STEPS) -> float | None:
    """Surface recall from `band_distances`, with the empty-mask policy."""
    if bd.gt_to_pred.size == 0:
        return None
    if bd.pred_to_gt.size == 0:
        return 0.0
    return float(np.mean(_shares(bd.gt_to_pred, _levels(tolerance, steps))))


def surface_f1_from(bd: BandDistances, shape, spacing, tolerance: float,
                    steps: int = TOLERANCE_STEPS) -> float | None:
    """Surface F1 from `band_distances`: the mean over the tolerances of the harmonic mean of
    precision and recall there (0 where both are 0), with the empty-mask policy."""
    if bd.gt_to_pred.size == 0:
        return None
    if bd.pred_to_gt.size == 0:
        return 0.0
    levels = _levels(tolerance, steps)
    pairs = zip(_shares(bd.pred_to_gt, levels), _shares(bd.gt_to_pred, levels))
    return float(np.mean([0.0 if p + r == 0 else 2.0 * p * r / (p + r) for p, r in pairs]))


def _mean_from(distances: np.ndarray, bd: BandDistances, shape, spacing) -> float | None:
    if bd.gt_to_pred.size == 0:
        return None
    if bd.pred_to_gt.size == 0:
        return image_diagonal(shape, spacing)
    return float(distances.mean())


def mean_pred_to_ref_from(bd: BandDistances, shape, spacing, tolerance=None, steps=None) -> float | None:
    """Mean distance of the predicted pixels to the reference (the tolerance does not enter it)."""
    return _mean_from(bd.pred_to_gt, bd, shape, spacing)


def mean_ref_to_pred_from(bd: BandDistances, shape, spacing, tolerance=None, steps=None) -> float | None:
    """Mean distance of the reference pixels to the prediction (the tolerance does not enter it)."""
    return _mean_from(bd.gt_to_pred, bd, shape, spacing)


def _band(pred: np.ndarray, gt: np.ndarray, spacing):
    pred, gt = check_mask_pair(pred, gt)
    spacing = check_spacing(spacing)
    return band_distances_unchecked(pred, gt, spacing), pred.shape, spacing


def surface_precision(pred: np.ndarray, gt: np.ndarray, tolerance, spacing=None,
                      steps: int = TOLERANCE_STEPS) -> float | None:
    """Share of predicted pixels within a tolerance of a reference pixel, averaged over `steps`
    tolerances up to `tolerance`. Empty `gt` -> None; empty `pred` -> 0."""
    tolerance, steps = check_tolerance(tolerance), check_positive_int("steps", steps)
    return precision_from(*_band(pred, gt, spacing), tolerance, steps)


def surface_recall(pred: np.ndarray, gt: np.ndarray, tolerance, spacing=None,
                   steps: int = TOLERANCE_STEPS) -> float | None:
    """Share of reference pixels within a tolerance of a predicted pixel, averaged over `steps`
    tolerances up to `tolerance`. Empty `gt` -> None; empty `pred` -> 0."""
    tolerance, steps = check_tolerance(tolerance), check_positive_int("steps", steps)
    return recall_from(*_band(pred, gt, spacing), tolerance, steps)


def surface_f1(pred: np.ndarray, gt: np.ndarray, tolerance, spacing=None,
               steps: int = TOLERANCE_STEPS) -> float | None:
    """Mean over `steps` tolerances up to `tolerance` of the harmonic mean of surface precision
    and recall there (0 when both are 0). Empty `gt` -> None; empty `pred` -> 0."""
    tolerance, steps = check_tolerance(tolerance), check_positive_int("steps", steps)
    return surface_f1_from(*_band(pred, gt, spacing), tolerance, steps)


def mean_dist_pred_to_ref(pred: np.ndarray, gt: np.ndarray, spacing=None) -> float | None:
    """Mean distance of the predicted pixels to the nearest reference pixel (pixels, or mm with
    `spacing`). Empty `gt` -> None; empty `pred` on a non-empty `gt` -> the image diagonal."""
    return mean_pred_to_ref_from(*_band(pred, gt, spacing))


def mean_dist_ref_to_pred(pred: np.ndarray, gt: np.ndarray, spacing=None) -> float | None:
    """Mean distance of the reference pixels to the nearest predicted pixel (pixels, or mm with
    `spacing`). Empty `gt` -> None; empty `pred` on a non-empty `gt` -> the image diagonal."""
    return mean_ref_to_pred_from(*_band(pred, gt, spacing))
