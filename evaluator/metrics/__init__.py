"""Segmentation metrics as pure functions with metadata.

`dice`, `iou`, `hd95`, `nsd`, `assd` and the thin-structure metrics (`surface_precision`,
`surface_recall`, `surface_f1`, `mean_dist_pred_to_ref`, `mean_dist_ref_to_pred`) score two
boolean masks; `score_case` scores a label
map per foreground class (None where the class is absent from the reference: not applicable);
`aggregate` / `summarize` reduce over the applicable cases with a bootstrap CI; `detection_rates` gives image-level sensitivity and specificity with Wilson
intervals. `convex_hull_region` / `restrict` confine scoring to a scan region.
`METRICS` (info.py) is the registry: each metric's direction, bounds, unit, kind and how it is
computed (`Computation` and its function); `score_case` and `detection_rates` loop over it, and
`per_case_metrics()` lists what `score_case` returns. `register_metric` adds one."""
from ._checks import InvalidMetricInput
from .aggregate import aggregate, empty_aggregate, summarize, summarize_metric
from .case import band_scores, band_scores_from, case_mean, confusion_counts, present, score_case, score_overlap
from .detection import detection_rates, wilson_interval
from .dice import dice, dice_from_counts
from .hd95 import hd95, image_diagonal
from .info import (
                   METRICS,
                   MILLIMETRES,
                   PER_CASE_COMPUTATIONS,
                   PIXELS,
                   SUMMARY_STATS,
                   Computation,
                   InvalidMetricEntry,
                   MetricInfo,
                   MetricKind,
                   always_stored_metrics,
                   count_metrics,
                   detection_metrics,
                   distance_metrics,
                   entries,
                   metric_names,
                   per_case_metrics,
                   register_metric,
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
                   mean_dist_pred_to_ref,
                   mean_dist_ref_to_pred,
                   surface_f1,
                   surface_precision,
                   surface_recall,
)

__all__ = [
    "METRICS", "MetricInfo", "MetricKind", "Computation", "PER_CASE_COMPUTATIONS", "InvalidMetricEntry",
    "register_metric", "entries", "PIXELS", "MILLIMETRES", "unit_for_spacing", "InvalidMetricInput",
    "per_case_metrics", "detection_metrics", "always_stored_metrics", "distance_metrics", "summary_columns", "metric_names", "count_metrics", "score_overlap", "case_mean",
    "SUMMARY_STATS",
    "dice", "iou", "hd95", "image_diagonal", "dice_from_counts", "iou_from_counts",
    "nsd", "assd", "surface_distances", "SurfaceDistances", "default_nsd_tolerance", "tolerance_columns",
    "surface_precision", "surface_recall", "surface_f1", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred",
    "band_distances", "band_scores", "band_scores_from", "BandDistances",
    "detection_rates", "wilson_interval",
    "score_case", "confusion_counts", "present", "aggregate", "summarize", "summarize_metric", "empty_aggregate", "convex_hull_region", "restrict",
]
