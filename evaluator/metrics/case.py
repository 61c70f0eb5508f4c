"""Score one case: per foreground class, every per-case metric of the registry (Dice, IoU, HD95,
NSD, ASSD, the thin-structure surface metrics, ...) and the TP/FP/FN pixel counts.

`score_case` loops over the registry (`info.entries`): each metric's function gets what its
computation kind says (the counts, the class's masks, the contour surface distances, the pixel
band distances), each intermediate computed once per class and only when a metric needs it.

The class-absent policy (Metrics Reloaded; nnU-Net/MSD practice), stated here once for every
metric: a class absent from the case's reference (TP + FN = 0) has no delineation score in that
case - every metric is None, whatever was predicted - and only its counts are kept; its false
positives count in the image-level specificity. A case's macro value (`case_mean`) averages the
classes present in its reference; a case with no foreground class in its reference has none."""
from __future__ import annotations

import numpy as np

from ._checks import (
                      InvalidMetricInput,
                      check_label_pair,
                      check_mask_pair,
                      check_positive_int,
                      check_spacing,
                      check_tolerance,
)
from .info import PER_CASE_COMPUTATIONS, Computation, MetricInfo, entries
from .region import restrict
from .surface import default_nsd_tolerance, surface_distances_unchecked
from .thin import TOLERANCE_STEPS, BandDistances, band_distances_unchecked

COUNTS = ("tp", "fp", "fn")  # the per-class pixel counts every case keeps, after its metrics


def confusion_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """K x K matrix, [g, p] = number of pixels of true class g predicted as class p."""
    flat = gt.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _class_counts(cm: np.ndarray, c: int) -> tuple[int, int, int]:
    tp = int(cm[c, c])
    return tp, int(cm[:, c].sum()) - tp, int(cm[c, :].sum()) - tp


def _overlap(cm: np.ndarray, num_classes: int) -> dict[int, dict]:
    out = {}
    for c in range(1, num_classes):
        tp, fp, fn = _class_counts(cm, c)
        scores = {i.name: None if tp + fn == 0 else i.fn(tp, fp, fn) for i in entries(Computation.COUNTS)}
        out[c] = {**scores, **dict(zip(COUNTS, (tp, fp, fn)))}
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
    tolerances = {"nsd_tolerance": tolerance, "surface_tolerance": band_tolerance}  # by a metric's `tolerance`
    cm = confusion_counts(pred_labels, gt_labels, num_classes)
    metrics = [i for i in entries() if i.computed in PER_CASE_COMPUTATIONS]
    out = {}
    for c in range(1, num_classes):
        counts = _class_counts(cm, c)
        inputs = _ClassInputs(pred_labels, gt_labels, c, spacing, counts)
        out[c] = {**{i.name: inputs.score(i, tolerances) for i in metrics}, **dict(zip(COUNTS, counts))}
    return out


class _ClassInputs:
    """What the metrics of one class of one case are computed from; the masks and the distance
    intermediates are built on first use, once, and never for a class absent from the reference."""

    def __init__(self, pred_labels, gt_labels, c: int, spacing, counts: tuple[int, int, int]):
        self._labels, self._c, self.spacing, self.counts = (pred_labels, gt_labels), c, spacing, counts
        self._cache: dict = {}

    @property
    def absent(self) -> bool:
        return self.counts[0] + self.counts[2] == 0

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        pred, gt = self._labels
        return self._get("masks", lambda: (pred == self._c, gt == self._c))

    def score(self, info: MetricInfo, tolerances: dict) -> float | None:
        """`info`'s value for this class: None where the class is absent from the reference."""
        if self.absent:
            return None
        if info.computed is Computation.COUNTS:
            return info.fn(*self.counts)
        p, g = self.masks()
        if info.computed is Computation.MASKS:
            return info.fn(p, g, self.spacing)
        if info.tolerance and info.tolerance not in tolerances:
            raise InvalidMetricInput(f"metric {info.name!r} is scored at the tolerance {info.tolerance!r}, which "
                                     f"score_case does not know; per-case tolerances: {', '.join(tolerances)}")
        tolerance = tolerances.get(info.tolerance)
        if info.computed is Computation.SURFACE:
            sd = self._get("surface", lambda: surface_distances_unchecked(p, g, self.spacing))
            return info.fn(sd, p.shape, self.spacing, tolerance)
        bd = self._get("band", lambda: band_distances_unchecked(p, g, self.spacing))
        return info.fn(bd, p.shape, self.spacing, tolerance)


def band_scores_from(bd: BandDistances, shape: tuple[int, int], spacing, tolerance: float,
                     steps: int = TOLERANCE_STEPS) -> dict[str, float | None]:
    """Every band-distance metric of the registry (the thin-structure scores) from
    `band_distances` of masks of `shape`, with the empty-reference policy; precision/recall/F1
    averaged over the `steps` tolerances tolerance*k/steps, k = 1..steps."""
    return {i.name: i.fn(bd, shape, spacing, tolerance, steps) for i in entries(Computation.BAND)}


def band_scores(pred: np.ndarray, gt: np.ndarray, tolerance, spacing=None,
                steps: int = TOLERANCE_STEPS) -> dict[str, float | None]:
    """The thin-structure scores of two 2-D boolean masks at `tolerance` (pixels, or mm
    with `spacing`; precision/recall/F1 averaged over `steps` tolerances up to it)."""
    pred, gt = check_mask_pair(pred, gt)
    tolerance = check_tolerance(tolerance)
    spacing = check_spacing(spacing)
    steps = check_positive_int("steps", steps)
    return band_scores_from(band_distances_unchecked(pred, gt, spacing), pred.shape, spacing, tolerance, steps)
