"""Metric metadata: what each score means and which way is better. The leaderboard
reads sort direction, bounds and units from here, never from a metric's name."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from ..registry import Registry
from ._checks import check_spacing

PIXELS = "px"
MILLIMETRES = "mm"


class MetricKind(str, Enum):
    """How a metric is computed and aggregated."""
    PER_CASE = "per_case"  # scored per case and class; mean over cases with a bootstrap CI
    DETECTION = "detection"  # a rate over images from the per-case counts, with a Wilson interval


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    unit: str  # "" for ratios; PIXELS for distances, which become MILLIMETRES with a spacing
    lower_bound: float
    upper_bound: float
    description: str
    kind: MetricKind = MetricKind.PER_CASE

    def unit_for(self, spacing=None) -> str:
        """The unit of this metric on a task with `spacing` ((row_mm, col_mm) or None)."""
        if self.unit == PIXELS and check_spacing(spacing) is not None:
            return MILLIMETRES
        return self.unit

    def is_better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.higher_is_better else a < b


METRICS: Registry[MetricInfo] = Registry("metric")

_REGISTERED = (
    MetricInfo("dice", True, "", 0.0, 1.0,
               "Dice similarity coefficient 2|P∩G| / (|P|+|G|); 1 when both masks are empty."),
    MetricInfo("iou", True, "", 0.0, 1.0,
               "Intersection over union (Jaccard) |P∩G| / |P∪G|; 1 when both masks are empty."),
    MetricInfo("hd95", False, PIXELS, 0.0, math.inf,
               "95th percentile of the pooled surface distances of both directions (medpy's hd95, "
               "1-connected borders), in pixels or in mm when the task has a spacing; 0 when both masks "
               "are empty, the image diagonal when exactly one is. MONAI and DeepMind's surface-distance "
               "take the larger of the two directed 95th percentiles instead, which can be much larger: "
               "do not compare with a paper's MONAI HD95."),
    MetricInfo("nsd", True, "", 0.0, 1.0,
               "Normalised surface distance (surface Dice, Nikolov et al. 2021): the share of both "
               "contours' length within the tolerance of the other contour (DeepMind's surface-distance "
               "definition); tolerance in mm declared by the task, else 2 pixels. 1 when both masks are "
               "empty, 0 when exactly one is."),
    MetricInfo("assd", False, PIXELS, 0.0, math.inf,
               "Average symmetric surface distance: the mean of the two contour-length-weighted mean "
               "distances from each contour to the other (DeepMind's surface-distance definition), in "
               "pixels or in mm when the task has a spacing; 0 when both masks are empty, the image "
               "diagonal when exactly one is."),
    MetricInfo("sensitivity", True, "", 0.0, 1.0,
               "Image-level sensitivity: among test images whose ground truth has the class, the share "
               "whose prediction overlaps it anywhere; Wilson 95% interval; undefined without such images.",
               MetricKind.DETECTION),
    MetricInfo("specificity", True, "", 0.0, 1.0,
               "Image-level specificity: among test images whose ground truth lacks the class, the share "
               "predicted empty; Wilson 95% interval; undefined without such images.",
               MetricKind.DETECTION),
)
for _info in _REGISTERED:
    METRICS.register(_info.name, _info)


def per_case_metrics() -> tuple[str, ...]:
    """Names of the metrics scored per case and class, in registration order
    (dice, iou, hd95, nsd, assd): what `score_case` returns and `summarize` aggregates."""
    return tuple(i.name for i in _REGISTERED if i.kind is MetricKind.PER_CASE)


def detection_metrics() -> tuple[str, ...]:
    """Names of the image-level detection rates, in registration order."""
    return tuple(i.name for i in _REGISTERED if i.kind is MetricKind.DETECTION)


def unit_for_spacing(metric: str, spacing=None) -> str:
    """Unit of `metric` on a task with `spacing`: hd95, assd -> "mm" with a spacing, "px" without."""
    return METRICS.get(metric).unit_for(spacing)
