"""Score one case: per foreground class, Dice, IoU, HD95, NSD, ASSD, the thin-structure surface
metrics (surface precision/recall/F1, one-sided mean distances) and the TP/FP/FN pixel counts.

The class-absent policy (Metrics Reloaded; nnU-Net/MSD practice): a class absent from the case's
reference (TP + FN = 0) has no delineation score in that case - every metric is None, whatever
was predicted - and only its counts are kept; its false positives count in the image-level
specificity. A case's macro value (`case_mean`) averages the classes present in its reference;
a case with no foreground class in its reference has none."""
from __future__ import annotations

import numpy as np

from ._checks import InvalidMetricInput, check_label_pair, check_positive_int, check_spacing, check_tolerance
from .dice import dice_from_counts
from .hd95 import hd95_unchecked
from .info import count_metrics, per_case_metrics
from .iou import iou_from_counts
from .region import restrict
from .surface import assd_from, default_nsd_tolerance, nsd_from, surface_distances_unchecked
from .thin import band_distances_unchecked, band_scores_from


def confusion_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """K x K matrix, [g, p] = number of pixels of true class g predicted as class p."""
    flat = gt.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# The registry's count-based metrics (info.count_metrics) and the function of each; a test checks
# that the two agree, so a metric flagged from_counts there must have its function here.
_FROM_COUNTS = {"dice": dice_from_counts, "iou": iou_from_counts}


def _class_counts(cm: np.ndarray, c: int) -> tuple[int, int, int]:
    tp = int(cm[c, c])
    return tp, int(cm[:, c].sum()) - tp, int(cm[c, :].sum()) - tp


def _overlap(cm: np.ndarray, num_classes: int) -> dict[int, dict]:
    out = {}
    for c in range(1, num_classes):
        tp, fp, fn = _class_counts(cm, c)
        out[c] = {**{m: _FROM_COUNTS[m](tp, fp, fn) for m in count_metrics()}, "tp": tp, "fp": fp, "fn": fn}
    return out


def score_overlap(pred_labels: np.ndarray, gt_labels: np.ndarray, num_classes: int) -> dict[int, dict]:
    """The count-based part of `score_case` (dice, iou, tp, fp, fn per foreground class), for
    callers that score often and need no surface distances (the trainer's validation)."""
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    pred_labels, gt_labels = check_label_pair(pred_labels, gt_labels, num_classes)
    return _overlap(confusion_counts(pred_labels, gt_labels, num_classes), num_classes)


def present(scores: dict) -> bool:
    """True when the class is in the case's reference (TP + FN > 0): its scores apply."""
    return int(scores["tp"]) + int(scores["fn"]) > 0


def case_mean(per_class: dict[int, dict], metric: str) -> float | None:
    """One case's macro mean of `metric` over the foreground classes present in its reference
    (the summary's reduction); None when the reference has no foreground class. A present class
    whose value is None (missing, e.g. scored before the metric existed) raises."""
    values = []
    for c, scores in per_class.items():
        if present(scores):
            if scores.get(metric) is None:
                raise InvalidMetricInput(f"class {c} is in the reference but has no {metric}; re-score the case")
            values.append(float(scores[metric]))
    return float(np.mean(values)) if values else None


def score_case(pred_labels: np.ndarray, gt_labels: np.ndarray, num_classes: int, spacing=None,
               nsd_tolerance=None, region=None, surface_tolerance=None) -> dict[int, dict]:
    """Per foreground class c in 1..num_classes-1 of one case: every per-case metric of the
    registry ("dice", "iou", "hd95", "nsd", "assd", "surface_precision", ... as floats, or None
    where class c is absent from the reference), then
    "tp", "fp", "fn" (int pixel counts).

    `pred_labels`, `gt_labels`: 2-D integer label maps of equal shape (0 = background).
    `spacing`: (row_mm, col_mm), one number, or None; the distances (HD95, ASSD, the mean
    distances) are in mm with it, pixels without. `nsd_tolerance`: NSD's tolerance in the same
    unit; None means `default_nsd_tolerance(spacing)` (2 pixels). `surface_tolerance`: the
    thin-structure metrics' tolerance in the same unit; None means NSD's tolerance.
    `region`: the case's scan region (a boolean mask of the same shape) or None for the whole image; pixels outside it are background
    in both maps, so nothing outside the imaged fan counts.
    A class absent from the reference gets None for every metric (not applicable, see the module
    docstring); a present class predicted empty scores as a failure (Dice 0, the diagonal HD95).
    Never NaN."""
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    pred_labels, gt_labels = check_label_pair(pred_labels, gt_labels, num_classes)
    if region is not None:
        pred_labels, gt_labels = restrict(pred_labels, gt_labels, region)
    spacing = check_spacing(spacing)
    tolerance = default_nsd_tolerance(spacing) if nsd_tolerance is None else check_tolerance(nsd_tolerance)
    band_tolerance = tolerance if surface_tolerance is None else check_tolerance(surface_tolerance)
    out = _overlap(confusion_counts(pred_labels, gt_labels, num_classes), num_classes)
    for c, s in out.items():
        counts = {k: s.pop(k) for k in ("tp", "fp", "fn")}  # keep the key order: metrics, then counts
        s.update(_class_distances(pred_labels, gt_labels, c, counts["tp"] + counts["fp"],
                                  counts["tp"] + counts["fn"], spacing, tolerance, band_tolerance), **counts)
    return out


# The distance-based metrics of the registry (everything per case that is not count-based).
_NOT_APPLICABLE = tuple(m for m in per_case_metrics() if m not in count_metrics())


def _class_distances(pred, gt, c, n_pred, n_gt, spacing, tolerance, band_tolerance) -> dict[str, float | None]:
    if n_gt == 0:  # absent from the reference: not applicable (and no masks to build)
        return dict.fromkeys(_NOT_APPLICABLE)
    p, g = pred == c, gt == c
    sd = surface_distances_unchecked(p, g, spacing)
    return {"hd95": hd95_unchecked(p, g, spacing), "nsd": nsd_from(sd, tolerance),
            "assd": assd_from(sd, p.shape, spacing),
            **band_scores_from(band_distances_unchecked(p, g, spacing), p.shape, spacing, band_tolerance)}
