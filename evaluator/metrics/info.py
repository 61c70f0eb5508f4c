"""The metric registry: what each score means, which way is better, and how it is computed.

Each entry carries its computation kind (`Computation`: from the confusion counts, from the class's
two masks, from contour surface distances, from pixel band distances, per image, per sweep) and
its function; `score_case` and `detection_rates` loop over the registry, and the leaderboard reads
sort direction, bounds and units from here, never from a metric's name. A new metric is one entry
(`register_metric`) plus the store migration that adds its columns (`MetricInfo.case_column`,
`MetricInfo.columns`): score_case, the aggregates, the store's rows, the leaderboard, its CSV and
the app's columns all follow the registry."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from sonobench.kernel.registry import Registry

from ._checks import check_spacing
from .dice import dice_from_counts
from .hd95 import hd95_unchecked
from .images import clear, detected
from .iou import iou_from_counts
from .surface import assd_from, nsd_from
from .thin import mean_pred_to_ref_from, mean_ref_to_pred_from, precision_from, recall_from, surface_f1_from

PIXELS = "px"
MILLIMETRES = "mm"
SUMMARY_STATS = ("mean", "std", "ci_low", "ci_high")  # a per-case metric's columns: <name>_<stat>


class MetricKind(str, Enum):
    """How a metric is computed and aggregated."""
    PER_CASE = "per_case"  # scored per case and class; mean over cases with a bootstrap CI
    DETECTION = "detection"  # a rate over images from the per-case counts, with a Wilson interval
    SWEEP = "sweep"  # scored per tracked sweep from its 3D reconstruction (evaluator/sweeps)


class Computation(str, Enum):
    """What a metric's function is given (one case, one foreground class, unless stated).
    `score_case` computes each intermediate (the surface or band distances) once per class, and
    only when a registered metric needs it."""
    COUNTS = "counts"    # fn(tp, fp, fn): the confusion counts alone (cheap: the trainer scores every epoch)
    MASKS = "masks"      # fn(pred, gt, spacing): the class's two boolean masks (HD95's own 1-connected borders)
    SURFACE = "surface"  # fn(SurfaceDistances, shape, spacing, tolerance): contour elements (surface.py)
    BAND = "band"        # fn(BandDistances, shape, spacing, tolerance, steps): pixel-to-pixel distances (thin.py)
    IMAGES = "images"    # fn(tp, fp, fn) -> True / False / None: one image's outcome for an image-level rate
    SWEEP = "sweep"      # one value per tracked sweep, computed by evaluator.sweeps (a layer above this one)


PER_CASE_COMPUTATIONS = (Computation.COUNTS, Computation.MASKS, Computation.SURFACE, Computation.BAND)
_KIND_COMPUTATIONS = {MetricKind.PER_CASE: PER_CASE_COMPUTATIONS, MetricKind.DETECTION: (Computation.IMAGES,),
                      MetricKind.SWEEP: (Computation.SWEEP,)}


class InvalidMetricEntry(ValueError):
    """A registry entry whose kind, computation and function do not fit together."""


@dataclass(frozen=True)
class MetricInfo:
    name: str
    higher_is_better: bool
    unit: str  # "" for ratios; PIXELS for distances, which become MILLIMETRES with a spacing
    lower_bound: float
    upper_bound: float
    description: str
    kind: MetricKind = MetricKind.PER_CASE
    label: str = ""          # how tables and plots name it ("Dice", "HD95"); default: NAME upper-cased
    digits: int = 3          # decimals when shown
    # True: scored since the first store schema, so every stored result has it; False: added
    # later, so rows scored before it lack it (shown as 'missing' until re-scored).
    always_stored: bool = False
    # The result column recording the tolerance the metric was scored at ("" = it has none);
    # re-scoring fills it with the metric, the leaderboard states it in the column's help, and
    # score_case passes that tolerance to the metric's function.
    tolerance: str = ""
    # How it is computed (see `Computation`; a sweep metric's is Computation.SWEEP) and the function
    # that computes it (None only for a sweep metric, which evaluator.sweeps computes).
    computed: Computation | None = None
    fn: Callable | None = None
    # Named default boards (metrics.defaults.BOARDS) that show this metric after their own list:
    # how a new metric reaches the boards of tasks that declare no list of their own.
    boards: tuple[str, ...] = ()

    def __post_init__(self):
        if self.computed is None and self.kind is MetricKind.SWEEP:
            object.__setattr__(self, "computed", Computation.SWEEP)
        allowed = _KIND_COMPUTATIONS[self.kind]
        if self.computed not in allowed:
            raise InvalidMetricEntry(f"metric {self.name!r} of kind {self.kind.value} must be computed "
                                     f"{' or '.join(c.value for c in allowed)}, not {self.computed!r}")
        if self.computed is not Computation.SWEEP and not callable(self.fn):
            raise InvalidMetricEntry(f"metric {self.name!r} ({self.computed.value}) needs its function `fn`")

    @property
    def title(self) -> str:
        return self.label or self.name.upper()

    @property
    def from_counts(self) -> bool:
        """Computed from the confusion counts alone (dice, iou): cheap enough for the trainer to
        score every validation epoch with the evaluator's own function."""
        return self.computed is Computation.COUNTS

    @property
    def case_column(self) -> str | None:
        """Its per-class column in the store's case_results (None: not stored per case)."""
        return self.name if self.kind is MetricKind.PER_CASE else None

    def columns(self) -> tuple[str, ...]:
        """The result-row columns that hold this metric's summary."""
        if self.kind is MetricKind.DETECTION:
            return (self.name, f"{self.name}_ci_low", f"{self.name}_ci_high", f"{self.name}_n")
        return tuple(f"{self.name}_{k}" for k in SUMMARY_STATS)

    def unit_for(self, spacing=None) -> str:
        """The unit of this metric on a task with `spacing` ((row_mm, col_mm) or None)."""
        if self.unit == PIXELS and check_spacing(spacing) is not None:
            return MILLIMETRES
        return self.unit

    def is_better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than score `b`."""
        return a > b if self.higher_is_better else a < b


METRICS: Registry[MetricInfo] = Registry("metric")
_ORDER: list[MetricInfo] = []  # registration order: how tables, columns and rows list the metrics


def _nsd(sd, shape, spacing, tolerance) -> float | None:
    return nsd_from(sd, tolerance)


def _assd(sd, shape, spacing, tolerance) -> float | None:
    return assd_from(sd, shape, spacing)


# The class-absent policy every delineation metric states (Metrics Reloaded; nnU-Net/MSD practice).
ABSENT = ("A class absent from the case's reference is not scored (None, not 1): whatever is predicted there "
          "counts only in the image-level specificity, so a model never gains by predicting nothing. The case's "
          "macro value averages the classes its reference has; a case without any is left out of this metric's "
          "mean, CI and n.")
MISSED = "A present class predicted empty scores {}."

_REGISTERED = (
    MetricInfo("dice", True, "", 0.0, 1.0,
               "Dice similarity coefficient 2|P∩G| / (|P|+|G|) on cases whose reference has the class. "
               + ABSENT + " " + MISSED.format("0"),
               label="Dice", digits=4, always_stored=True, computed=Computation.COUNTS, fn=dice_from_counts),
    MetricInfo("iou", True, "", 0.0, 1.0,
               "Intersection over union (Jaccard) |P∩G| / |P∪G| on cases whose reference has the class. "
               + ABSENT + " " + MISSED.format("0"),
               label="IoU", digits=4, always_stored=True, computed=Computation.COUNTS, fn=iou_from_counts),
    MetricInfo("hd95", False, PIXELS, 0.0, math.inf,
               "95th percentile of the pooled surface distances of both directions (medpy's hd95, "
               "1-connected borders), in pixels or in mm when the task has a spacing. MONAI and DeepMind's "
               "surface-distance take the larger of the two directed 95th percentiles instead, which can be much "
               "larger: do not compare with a paper's MONAI HD95. " + ABSENT + " "
               + MISSED.format("the image diagonal"),
               label="HD95", digits=2, always_stored=True, computed=Computation.MASKS, fn=hd95_unchecked),
    MetricInfo("nsd", True, "", 0.0, 1.0,
               "Normalised surface distance (surface Dice, Nikolov et al. 2021): the share of both "
               "contours' length within the tolerance of the other contour (DeepMind's surface-distance "
               "definition); tolerance in mm declared by the task, else 2 pixels. " + ABSENT + " "
               + MISSED.format("0"),
               label="NSD", digits=3, tolerance="nsd_tolerance", computed=Computation.SURFACE, fn=_nsd),
    MetricInfo("assd", False, PIXELS, 0.0, math.inf,
               "Average symmetric surface distance: the mean of the two contour-length-weighted mean "
               "distances from each contour to the other (DeepMind's surface-distance definition), in "
               "pixels or in mm when the task has a spacing. " + ABSENT + " " + MISSED.format("the image diagonal"),
               label="ASSD", digits=2, computed=Computation.SURFACE, fn=_assd),
    # Thin-structure surface metrics (evaluator/metrics/thin.py), for bone surfaces labelled as
    # a band of a few pixels. Computed for every task, not only where a task asks: they cost a
    # few ms per case, and on blob-like structures they are still a well-defined tolerance-aware
    # pixel precision/recall. NULL in the store means 'not applicable' where the case's reference
    # lacks the class (tp + fn = 0) and 'scored before the metric existed' where it has it.
    MetricInfo("surface_precision", True, "", 0.0, 1.0,
               "Surface precision (thin structures, e.g. a bone surface band): the share of predicted "
               "foreground pixels within a tolerance of a reference pixel, on the mask pixels themselves "
               "(not contours; pixel-centre distances), averaged over the tolerances T/4, T/2, 3T/4 and T. "
               "T: the task's \"surface_tolerance\" (mm with a spacing, else pixels), else the NSD tolerance. "
               + ABSENT + " " + MISSED.format("0"),
               label="Surface precision", digits=3, tolerance="surface_tolerance",
               computed=Computation.BAND, fn=precision_from),
    MetricInfo("surface_recall", True, "", 0.0, 1.0,
               "Surface recall (completeness): the share of reference foreground pixels within a tolerance "
               "of a predicted pixel, on the mask pixels themselves (not contours), averaged over the "
               "tolerances T/4, T/2, 3T/4 and T (T as for surface precision). " + ABSENT + " " + MISSED.format("0"),
               label="Surface recall", digits=3, tolerance="surface_tolerance",
               computed=Computation.BAND, fn=recall_from),
    MetricInfo("surface_f1", True, "", 0.0, 1.0,
               "Surface F1: the harmonic mean of surface precision and recall at each of the tolerances T/4, "
               "T/2, 3T/4 and T, averaged over the four (as COCO averages over IoU thresholds). One tolerance "
               "is blind below itself: at T = the band's thickness (the bone task's 0.5 mm, ~4 px) a label "
               "moved by 1-3 px scores 1, and below one pixel the score becomes Dice on the band, which is 0 "
               "one band-width off. The average loses about a quarter per quarter-T of error, so a 1-px or "
               "2-px error always costs (T/4 < 1 px for T under 4 px) and only an error beyond T scores 0. "
               "A centre-line version was not chosen: thinning a 3-4 px band adds spurs, and at one tolerance "
               "it is as blind. " + ABSENT + " " + MISSED.format("0"),
               label="Surface F1", digits=3, tolerance="surface_tolerance",
               computed=Computation.BAND, fn=surface_f1_from),
    MetricInfo("mean_dist_pred_to_ref", False, PIXELS, 0.0, math.inf,
               "One-sided mean distance from each predicted foreground pixel to the nearest reference pixel "
               "(pixel centres; false positives far away raise it), in pixels or in mm when the task has a "
               "spacing. " + ABSENT + " " + MISSED.format("the image diagonal"),
               label="Mean dist pred→ref", digits=2, computed=Computation.BAND, fn=mean_pred_to_ref_from),
    MetricInfo("mean_dist_ref_to_pred", False, PIXELS, 0.0, math.inf,
               "One-sided mean distance from each reference foreground pixel to the nearest predicted pixel "
               "(pixel centres; missed parts raise it), in pixels or in mm when the task has a spacing. "
               + ABSENT + " " + MISSED.format("the image diagonal"),
               label="Mean dist ref→pred", digits=2, computed=Computation.BAND, fn=mean_ref_to_pred_from),
    MetricInfo("sensitivity", True, "", 0.0, 1.0,
               "Image-level sensitivity, per class: among test images whose reference has the class, the share "
               "whose prediction overlaps it anywhere; Wilson 95% interval; undefined without such images. A "
               "multi-class task's row shows the mean over the classes where it is defined (each class's rate "
               "and interval are in the result's per-class detail).",
               MetricKind.DETECTION, label="Sensitivity", digits=2, computed=Computation.IMAGES, fn=detected),
    MetricInfo("specificity", True, "", 0.0, 1.0,
               "Image-level specificity, per class: among test images whose reference lacks the class, the "
               "share predicted without any pixel of it; Wilson 95% interval; undefined without such images. "
               "This is where false positives on a class-absent image count (the delineation metrics do not "
               "score those images): for a lesion task, the share of lesion-free images predicted empty, shown "
               "beside the Dice over lesion images. A multi-class task's row shows the mean over the classes "
               "where it is defined (each class's rate and interval are in the result's per-class detail).",
               MetricKind.DETECTION, label="Specificity", digits=2, computed=Computation.IMAGES, fn=clear),
    # 3D reconstruction metrics of tracked sweeps (evaluator/sweeps/metrics.py): one value per sweep
    # from the probe-facing edge of its frames' predicted surfaces placed in world space by the poses.
    MetricInfo("sweep_accuracy", False, MILLIMETRES, 0.0, math.inf,
               "Sweep accuracy: the mean distance (mm) from the reconstructed surface points (per frame and image "
               "column, the shallowest predicted surface pixel, placed in world space by the frame's pose) to the "
               "specimen's ground-truth mesh (exact point-to-triangle distances), each capped at the sweep's worst "
               "reachable value, the largest field diagonal of its frames. A sweep with no predicted surface "
               "scores that worst value, never NaN.",
               MetricKind.SWEEP, label="Sweep accuracy", digits=2, tolerance="sweep_tolerance"),
    MetricInfo("sweep_accuracy_p95", False, MILLIMETRES, 0.0, math.inf,
               "Sweep accuracy, 95th percentile of the same point-to-mesh distances (mm). A sweep with no "
               "predicted surface scores the worst reachable value (the largest field diagonal), never NaN.",
               MetricKind.SWEEP, label="Sweep accuracy p95", digits=2, tolerance="sweep_tolerance"),
    MetricInfo("sweep_completeness", True, "", 0.0, 1.0,
               "Sweep completeness: the share of the mesh surface the sweep sees that lies within the tolerance "
               "τ (mm) of a reconstructed point. Seen: within half the slice thickness (τ/2) of a frame's plane, "
               "inside its field, facing the probe (normal within 80° of the way back along the beam) and not "
               "more than τ below the mesh's own probe-facing edge in that frame (the labels' rule applied to the "
               "mesh). Area-weighted over surface samples τ/4 apart. 0 for a sweep with no predicted surface.",
               MetricKind.SWEEP, label="Sweep completeness", digits=3, tolerance="sweep_tolerance"),
    MetricInfo("sweep_fscore", True, "", 0.0, 1.0,
               "Sweep F-score at τ: the harmonic mean of the reconstruction's precision (the share of reconstructed "
               "points within τ of the mesh) and its completeness; 0 when both are 0 and for a sweep with no "
               "predicted surface.",
               MetricKind.SWEEP, label="Sweep F-score", digits=3, tolerance="sweep_tolerance"),
)


def register_metric(info: MetricInfo) -> MetricInfo:
    """Add `info` to the registry (after the metrics registered so far). Register before the
    modules that list the metrics are imported (the store's queries, the app's columns), as the
    entries above are, and add the store migration that creates its columns."""
    if not isinstance(info, MetricInfo):
        raise InvalidMetricEntry(f"Expected a MetricInfo, but got {type(info).__name__}.")
    METRICS.register(info.name, info)
    _ORDER.append(info)
    return info


for _info in _REGISTERED:
    register_metric(_info)


def entries(computed: Computation | None = None) -> tuple[MetricInfo, ...]:
    """The registered metrics in registration order; only those computed `computed` if given."""
    return tuple(i for i in _ORDER if computed is None or i.computed is computed)


def metric_names() -> tuple[str, ...]:
    """Every registered metric, in registration order (per-case first, then detection rates)."""
    return tuple(i.name for i in _ORDER)


def per_case_metrics() -> tuple[str, ...]:
    """Names of the metrics scored per case and class, in registration order
    (dice, iou, hd95, nsd, assd, then the thin-structure surface metrics): what `score_case`
    returns and `summarize` aggregates."""
    return tuple(i.name for i in _ORDER if i.kind is MetricKind.PER_CASE)


def detection_metrics() -> tuple[str, ...]:
    """Names of the image-level detection rates, in registration order."""
    return tuple(i.name for i in _ORDER if i.kind is MetricKind.DETECTION)


def count_metrics() -> tuple[str, ...]:
    """Per-case metrics computed from the confusion counts alone (dice, iou): `score_overlap`'s."""
    return tuple(i.name for i in _ORDER if i.from_counts)


def always_stored_metrics() -> tuple[str, ...]:
    """Per-case metrics every stored result has (dice, iou, hd95): a row lacking one is invalid."""
    return tuple(i.name for i in _ORDER if i.kind is MetricKind.PER_CASE and i.always_stored)


def distance_metrics() -> tuple[str, ...]:
    """Metrics measured as distances (hd95, assd, the one-sided mean distances): pixels, or mm
    on a task with a spacing."""
    return tuple(i.name for i in _ORDER if i.unit == PIXELS)


def tolerance_columns() -> tuple[str, ...]:
    """The result columns recording a metric's tolerance (nsd_tolerance, surface_tolerance), once each."""
    return tuple(dict.fromkeys(i.tolerance for i in _ORDER if i.tolerance))


def summary_columns(names=None) -> tuple[str, ...]:
    """The result-row columns of `names` (default: every registered metric), in registry order."""
    wanted = None if names is None else set(names)
    return tuple(c for i in _ORDER if wanted is None or i.name in wanted for c in i.columns())


def unit_for_spacing(metric: str, spacing=None) -> str:
    """Unit of `metric` on a task with `spacing`: hd95, assd -> "mm" with a spacing, "px" without."""
    return METRICS.get(metric).unit_for(spacing)
