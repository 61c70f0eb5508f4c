"""Segmentation metrics as pure functions with metadata.

`dice`, `iou`, `hd95` score two boolean masks; `score_case` scores a label map per
foreground class; `aggregate` / `summarize` reduce over cases with a bootstrap CI.
`METRICS` holds each metric's direction, bounds and unit for the leaderboard."""
from ._checks import InvalidMetricInput
from .aggregate import aggregate, summarize
from .case import confusion_counts, score_case
from .dice import dice, dice_from_counts
from .hd95 import hd95, image_diagonal
from .info import METRICS, MILLIMETRES, PIXELS, MetricInfo, unit_for_spacing
from .iou import iou, iou_from_counts

__all__ = [
    "METRICS", "MetricInfo", "PIXELS", "MILLIMETRES", "unit_for_spacing", "InvalidMetricInput",
    "dice", "iou", "hd95", "image_diagonal", "dice_from_counts", "iou_from_counts",
    "score_case", "confusion_counts", "aggregate", "summarize",
]
