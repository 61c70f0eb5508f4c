"""What a task shows when its task.json says nothing, and the short names of the metrics.

`DEFAULT_PRIMARY_METRIC` is the one place the default primary metric is written: a task.json
without "primary_metric", the toy task, imported datasets and every page that needs a fallback
read it. `DEFAULT_TASK_METRICS` is the board of a task that declares no "metrics" list: the
delineation metrics every task family reads and the image-level rates (a rate without such
images is undefined and its column hidden), specificity right after the primary metric so a
lesion task's detection failures sit beside its Dice. The thin-structure surface metrics are
shown only where a task declares them (`BOARDS` names the two a generator picks from).
`check_task_metrics` validates a declaration.
"""
from __future__ import annotations

from sonobench.kernel.errors import InvalidTaskSpec
from sonobench.kernel.registry import did_you_mean

from .info import METRICS, InvalidMetricEntry, MetricKind, entries, metric_names

DEFAULT_PRIMARY_METRIC = "dice"  # the one place the default primary metric is written
DEFAULT_SWEEP_METRIC = "sweep_fscore"  # what a sweeps board ranks by (F-score of accuracy and completeness)
# Named boards a task generator declares (task.json "metrics" is written out as the list); a
# registry entry's `boards` appends it to the boards it names (see `_with_entries`).
_BOARDS = {
    # regions (lesions, organs): overlap, boundary distance, and whether absent structures are left empty
    "region": ("dice", "specificity", "hd95", "nsd", "iou", "assd", "sensitivity"),
    # thin structures (a bone surface band): the tolerance-aware surface metrics first
    "thin-structure": ("surface_f1", "specificity", "surface_precision", "surface_recall",
                       "mean_dist_pred_to_ref", "mean_dist_ref_to_pred", "dice", "hd95", "sensitivity"),
}


def _with_entries(boards: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """`boards`, each followed by the registered metrics whose entry names it in `boards`."""
    for info in entries():
        unknown = [b for b in info.boards if b not in boards]
        if unknown:
            raise InvalidMetricEntry(f"metric {info.name!r} names unknown board(s) {unknown}; "
                                     f"valid boards: {', '.join(boards)}")
    return {name: tuple(dict.fromkeys([*metrics, *(i.name for i in entries() if name in i.boards)]))
            for name, metrics in boards.items()}


BOARDS = _with_entries(_BOARDS)
DEFAULT_TASK_METRICS = BOARDS["region"]

# Column names on a terminal board (the full label is in the footer and `--explain`).
SHORT_LABELS = {
    "surface_precision": "S-prec", "surface_recall": "S-rec", "surface_f1": "S-F1",
    "mean_dist_pred_to_ref": "MD p→r", "mean_dist_ref_to_pred": "MD r→p",
    "sensitivity": "Sens", "specificity": "Spec",
}


def short_label(name: str) -> str:
    """'Spec' for specificity, 'HD95' for hd95: the registry's label where it is short."""
    return SHORT_LABELS.get(name, METRICS.get(name).title)


def primary_metrics() -> tuple[str, ...]:
    """The metrics a task may rank by: the per-case ones (paired tests need a value per case)."""
    return tuple(m for m in metric_names() if METRICS.get(m).kind is MetricKind.PER_CASE)


def check_primary_metric(name, where: str = "task.json") -> str:
    """`name` if it is a registered per-case metric, else InvalidTaskSpec naming the valid choices."""
    valid = primary_metrics()
    if name not in valid:
        what = "a detection rate (one value per task, not per case)" if name in METRICS else "not a registered metric"
        raise InvalidTaskSpec(f"{where}: primary_metric {name!r} is {what}; a task ranks by a per-case metric. "
                              f"Valid choices: {', '.join(valid)}.{did_you_mean(str(name), valid)}")
    return name


def check_task_metrics(declared, primary: str, where: str = "task.json") -> tuple[str, ...]:
    """The task's board metrics, primary first: `declared` (task.json "metrics", a list of
    registered metric names) or, when None, DEFAULT_TASK_METRICS with the primary in front."""
    if declared is None:
        declared = DEFAULT_TASK_METRICS
    elif not isinstance(declared, (list, tuple)) or not all(isinstance(m, str) for m in declared):
        raise InvalidTaskSpec(f"{where}: 'metrics' must be a list of metric names, got {declared!r}")
    unknown = [m for m in declared if m not in METRICS]
    if unknown:
        raise InvalidTaskSpec(f"{where}: 'metrics' names unknown metric(s) {', '.join(map(repr, unknown))}. "
                              f"Valid choices: {', '.join(metric_names())}.{did_you_mean(unknown[0], metric_names())}")
    return tuple(dict.fromkeys([primary, *declared]))
