"""Segmentation metrics as pure functions with metadata.

`dice`, `iou`, `hd95`, `nsd`, `assd` and the thin-structure metrics (`surface_precision`,
`surface_recall`, `surface_f1`, `mean_dist_pred_to_ref`, `mean_dist_ref_to_pred`) score two
boolean masks; `score_case` scores a label
map per foreground class (None where the class is absent from the reference: not applicable);
`aggregate` / `summarize` reduce over the applicable cases with a bootstrap CI; `detection_rates` gives image-level sensitivity and specificity with Wilson
intervals. `convex_hull_region` / `restrict` confine scoring to a scan region.
`METRICS` holds each metric's direction, bounds, unit and kind for the
leaderboard; `per_case_metrics()` lists the ones `score_case` returns."""
from ._checks import InvalidMetricInput
from .aggregate import aggregate, empty_aggregate, summarize, summarize_metric
from .case import case_mean, confusion_counts, present, score_case, score_overlap
from .detection import detection_rates, wilson_interval
from .dice import dice, dice_from_counts
from .hd95 import hd95, image_diagonal
from .info import (
                   METRICS,
                   MILLIMETRES,
                   PIXELS,
                   SUMMARY_STATS,
                   MetricInfo,
                   MetricKind,
                   always_stored_metrics,
                   count_metrics,
                   detection_metrics,
                   distance_metrics,
                   metric_names,
                   per_case_metrics,
                   summary_columns,
                   tolerance_columns,
                   unit_for_spacing,
)
from .iou import iou, iou_from_counts
from .region import convex_hull_region, restrict
from .surface import SurfaceDistances, assd, default_nsd_tolerance, nsd, surface_distances
from .thin import (
                   BandDistances,
                   band_distances,
                   band_scores,
                   mean_dist_pred_to_ref,
                   mean_dist_ref_to_pred,
                   surface_f1,
                   surface_precision,
                   surface_recall,
)

__all__ = [
    "METRICS", "MetricInfo", "MetricKind", "PIXELS", "MILLIMETRES", "unit_for_spacing", "InvalidMetricInput",
    "per_case_metrics", "detection_metrics", "always_stored_metrics", "distance_metrics", "summary_columns", "metric_names", "count_metrics", "score_overlap", "case_mean",
    "SUMMARY_STATS",
    "dice", "iou", "hd95", "image_diagonal", "dice_from_counts", "iou_from_counts",
    "nsd", "assd", "surface_distances", "SurfaceDistances", "default_nsd_tolerance", "tolerance_columns",
    "surface_precision", "surface_recall", "surface_f1", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred",
    "band_distances", "band_scores", "BandDistances",
    "detection_rates", "wilson_interval",
    "score_case", "confusion_counts", "present", "aggregate", "summarize", "summarize_metric", "empty_aggregate", "convex_hull_region", "restrict",
]
