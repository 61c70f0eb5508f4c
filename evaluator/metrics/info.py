"""Metric metadata: what each score means and which way is better. The leaderboard
reads sort direction, bounds and units from here, never from a metric's name."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..registry import Registry
from ._checks import check_spacing

PIXELS = "px"
MILLIMETRES = "mm"


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    unit: str  # "" for ratios; PIXELS for distances, which become MILLIMETRES with a spacing
    lower_bound: float
    upper_bound: float
    description: str

    def unit_for(self, spacing=None) -> str:
        """The unit of this metric on a task with `spacing` ((row_mm, col_mm) or None)."""
        if self.unit == PIXELS and check_spacing(spacing) is not None:
            return MILLIMETRES
        return self.unit

    def is_better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.higher_is_better else a < b


METRICS: Registry[MetricInfo] = Registry("metric")

for _info in (
    MetricInfo("dice", True, "", 0.0, 1.0,
               "Dice similarity coefficient 2|P∩G| / (|P|+|G|); 1 when both masks are empty."),
    MetricInfo("iou", True, "", 0.0, 1.0,
               "Intersection over union (Jaccard) |P∩G| / |P∪G|; 1 when both masks are empty."),
    MetricInfo("hd95", False, PIXELS, 0.0, math.inf,
               "95th percentile of the symmetric surface distances (medpy's hd95, 1-connected borders), "
               "in pixels or in mm when the task has a spacing; 0 when both masks are empty, the image "
               "diagonal when exactly one is."),
):
    METRICS.register(_info.name, _info)


def unit_for_spacing(metric: str, spacing=None) -> str:
    """Unit of `metric` on a task with `spacing`: hd95 -> "mm" with a spacing, "px" without."""
    return METRICS.get(metric).unit_for(spacing)
