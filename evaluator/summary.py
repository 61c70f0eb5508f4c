"""From per-case scores to a result's stored columns: one function that inline evaluation, the
queue worker and `sonobench rescore` share, so an aggregate is computed one way only.

The metric registry decides what is aggregated: every per-case metric (dice, iou, hd95, nsd,
assd, the thin-structure surface metrics) gets mean/std/95% bootstrap CI as the macro mean over the
foreground classes each case's reference has, over the cases that have one, and per class over the
cases whose reference has it (the class-absent policy: `sonobench.evaluator.metrics.case`);
every detection rate (image-level sensitivity/specificity) gets its value, Wilson interval and
the number of images it is a rate over, per class, and as columns for the task's (macro) view.
"""
from __future__ import annotations

import numpy as np

from .metrics import METRICS, SUMMARY_STATS, per_case_metrics, summarize
from .metrics.detection import detection_rates
from .metrics.info import detection_metrics
from .tasks import Task

AGGREGATE_KEYS = SUMMARY_STATS  # the registry names a per-case metric's result columns <name>_<stat>


def distance_unit(task: Task) -> str:
    return METRICS.get("hd95").unit_for(task.spacing_mm)


def summary_columns(task: Task, per_case: list[dict[int, dict]], case_ids: list[str] | None = None) -> dict:
    """The result columns of `per_case` (a `score_case` dict per case, every case scored). With
    `case_ids` (in the order of `per_case`), a task that declares clusters gets clustered CIs."""
    summary = summarize(per_case, task.classes, clusters=case_clusters(task, case_ids))
    out: dict = {}
    for m in per_case_metrics():
        for k in AGGREGATE_KEYS:
            out[f"{m}_{k}"] = summary["macro"][m][k]
    per_class = {}
    for c, name in enumerate(task.classes[1:], start=1):
        entry = {m: summary["per_class"][name][m] for m in per_case_metrics()}
        entry.update(detection_rates([case[c] for case in per_case]))
        per_class[name] = entry
    out["per_class"] = per_class
    out.update(detection_columns(per_class))
    out["hd95_unit"] = distance_unit(task)
    out["nsd_tolerance"] = task.nsd_tolerance
    out["surface_tolerance"] = task.surface_tolerance
    return out


def case_clusters(task: Task, case_ids: list[str] | None) -> list[str] | None:
    """The cluster of each of `case_ids` as the task declares it, or None (no declaration)."""
    labels = task.case_clusters() if case_ids is not None else None
    return None if labels is None else [labels[c] for c in case_ids]


def detection_columns(per_class: dict) -> dict:
    """`<rate>`, `<rate>_ci_low`, `<rate>_ci_high`, `<rate>_n` for the result row. One foreground
    class: that class's rate and Wilson interval. Several: the macro mean of the classes where
    the rate is defined, with no interval (a mean of rates over different image sets has none)."""
    out: dict = {}
    for m in detection_metrics():
        rates = [e[m] for e in per_class.values() if e[m]["value"] is not None]
        if len(per_class) == 1:
            only = next(iter(per_class.values()))[m]
            out.update({m: only["value"], f"{m}_ci_low": only["ci_low"], f"{m}_ci_high": only["ci_high"],
                        f"{m}_n": only["n"]})
        else:
            out.update({m: float(np.mean([r["value"] for r in rates])) if rates else None,
                        f"{m}_ci_low": None, f"{m}_ci_high": None, f"{m}_n": sum(r["n"] for r in rates)})
    return out


def case_rows(case_id: str, scores: dict[int, dict]) -> list[dict]:
    """The per-case store rows of one case: one per foreground class, every per-case metric."""
    keys = per_case_metrics() + ("tp", "fp", "fn")
    return [dict(case_id=case_id, class_index=c, failed=0, **{k: scores[c][k] for k in keys}) for c in sorted(scores)]


def scores_text(res: dict, metrics=None, ci: bool = True) -> str:
    """'Dice 0.8123 [0.8011, 0.8230]  IoU ...  HD95 3.21 px [2.90, 3.55]' for a result row: each
    of `metrics` (default: every per-case metric) that the row has, in registry order, with the
    registry's label and digits; distances carry the row's unit."""
    unit = res.get("hd95_unit") or "px"  # every distance metric shares the row's distance unit
    parts = []
    for m in metrics or per_case_metrics():
        info = METRICS.get(m)
        if res.get(f"{m}_mean") is None:
            continue
        d = info.digits
        text = f"{info.title} {res[f'{m}_mean']:.{d}f}{f' {unit}' if info.unit else ''}"
        if ci:
            text += f" [{res[f'{m}_ci_low']:.{d}f}, {res[f'{m}_ci_high']:.{d}f}]"
        parts.append(text)
    return "  ".join(parts)


def deltas_text(new: dict, ref: dict, metrics) -> tuple[dict, str]:
    """({metric: new mean - ref mean}, 'Dice +0.0000  IoU +0.0000  HD95 +0.00 px') over `metrics`."""
    deltas = {m: new[f"{m}_mean"] - ref[f"{m}_mean"] for m in metrics}
    unit = new.get("hd95_unit") or "px"
    text = "  ".join(f"{METRICS.get(m).title} {deltas[m]:+.{METRICS.get(m).digits}f}"
                     f"{f' {unit}' if METRICS.get(m).unit else ''}" for m in metrics)
    return deltas, text


def headline_text(res: dict, digits: int | None = None) -> str:
    """'Surface F1 0.966 [0.956, 0.975]': the result's primary metric (the one its task ranks
    by) with its 95% CI, as every one-line report states it; 'missing' if the row lacks it."""
    from .metrics.defaults import DEFAULT_PRIMARY_METRIC

    m = res.get("primary_metric") or DEFAULT_PRIMARY_METRIC
    info = METRICS.get(m)
    mean = res.get(f"{m}_mean")
    if mean is None:
        return f"{info.title} missing"
    d = info.digits if digits is None else digits
    unit = f" {res.get('hd95_unit') or 'px'}" if info.unit else ""
    ci = (f" [{res[f'{m}_ci_low']:.{d}f}, {res[f'{m}_ci_high']:.{d}f}]"
          if res.get(f"{m}_ci_low") is not None and res.get(f"{m}_ci_high") is not None else "")
    return f"{info.title} {mean:.{d}f}{unit}{ci}"
