"""The one builder of a result row (the `results` table's columns), for every way a result is made.

- the sandboxed pipeline (`sonobench.evaluator.scoring.run_model`): masks from a model's outputs;
- prediction submissions (`sonobench.evaluator.predictions_score`): masks uploaded as files;
- device packs (`baselines/device_import.py`): masks a model predicted on another machine;
- committed references (`baselines/reference`): values scored earlier, read back from JSON.

The first three score their masks with `score_masks` (the per-case function every path uses,
`score_prediction` here, and `summary.case_rows`) and aggregate them with `aggregate`; all four
assemble the row with `result_row`, so a column is named and filled in one place. Params, GFLOPs
and latency are None ("n/a") where nothing was measured, never 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from sonobench.evaluator import __version__, summary
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError

from .metrics import score_case
from .tasks import Task


def score_prediction(task: Task, case, pred, labels_root=None, image=None) -> dict[int, dict]:
    """Score one predicted label map of `case` against its label the way the task defines:
    its spacing, NSD and surface tolerances and scan region. `image` (the case's native grey image) is
    read when the task's scan region needs it and it is not given. Every path that scores
    (a submission, a re-score of stored predictions, a GPU pack) calls this, so they agree."""
    gt = imageio.load_label(task.label_path(case, labels_root))
    if gt.shape != pred.shape:
        raise SonoBenchError(f"task {task.ref}: label of case {case.id} is {gt.shape}, prediction is {pred.shape}")
    region = None
    if task.scan_region is not None:
        region = task.region_for(case, imageio.load_gray(task.image_path(case)) if image is None else image)
    return score_case(pred, gt, task.num_classes, spacing=task.spacing_mm, nsd_tolerance=task.nsd_tolerance,
                      region=region, surface_tolerance=task.surface_tolerance)


@dataclass
class ScoredMasks:
    """Per case (in `case_ids` order): the `score_case` dict; the per-case store rows; each mask as PNG."""

    case_ids: list[str] = field(default_factory=list)
    per_case: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    pngs: dict[str, bytes] = field(default_factory=dict)


def score_masks(task: Task, cases, masks: Mapping[str, np.ndarray], labels_root=None) -> ScoredMasks:
    """Score one label map per case of `cases` (`masks[case.id]`, native size) against its label."""
    out = ScoredMasks()
    for case in cases:
        pred = masks[case.id]
        scores = score_prediction(task, case, pred, labels_root)
        out.case_ids.append(case.id)
        out.per_case.append(scores)
        out.rows += summary.case_rows(case.id, scores)
        out.pngs[case.id] = imageio.label_png(pred)  # kept so a new metric re-scores without the model
    return out


def aggregate(task: Task, per_case: list[dict], case_ids: list[str] | None = None) -> dict:
    """The aggregate columns (mean, std, CI per metric; per class; detection rates) of `per_case`."""
    return summary.summary_columns(task, per_case, case_ids)


def result_row(task: Task, *, split: str, n_cases: int, columns: dict, hardware: dict, wall_s: float,
               complexity: dict | None = None, latency_ms: float | None = None,
               peak_memory_mb: float | None = None, evaluator_version: str = __version__,
               manifest_digest: str | None = None, private_cases: int | None = None,
               test_predictions: dict[str, bytes] | None = None, **extra) -> dict:
    """A `results` row for `Store.write_result`. `columns`: the aggregates (`aggregate`), or a
    stored result's own (a reference row's, which may also carry its primary metric, params, ...).
    `complexity` is the counter's dict (its params and GFLOPs fill their columns); None: none."""
    cx = complexity or {}
    row = {"task_id": task.id, "task_version": task.version, "manifest_digest": manifest_digest or task.digest,
           "split": split, "n_cases": n_cases, "n_failed_cases": 0, "primary_metric": task.primary_metric,
           "params": cx.get("params"), "gflops": cx.get("gflops"), "complexity": complexity,
           "latency_ms": latency_ms, "peak_memory_mb": peak_memory_mb, "hardware": hardware,
           "evaluator_version": evaluator_version, "wall_s": wall_s}
    row.update(columns)  # a stored result's own values (its primary metric, paper params, ...) win
    row.update(extra)
    if private_cases is not None:
        row["private_cases"] = int(private_cases)
    if test_predictions is not None:
        row["test_predictions"] = test_predictions  # popped by Store.write_result into the predictions table
    return row
