"""Aggregates over cases: mean, std and a percentile-bootstrap confidence interval,
per class and as the macro mean over foreground classes. Where cases share a phantom or
specimen (the task's declared clusters), the bootstrap resamples whole clusters."""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ._checks import InvalidMetricInput, check_finite_values, check_positive_int
from .info import per_case_metrics

SUMMARIZED = per_case_metrics()  # dice, iou, hd95, nsd, assd
COUNTS = ("tp", "fp", "fn")
_CHUNK = 2_000_000  # bootstrap index draws held in memory at once


def aggregate(values, n_boot: int = 1000, seed: int = 0, ci: float = 0.95, clusters=None) -> dict:
    """{"mean", "std" (sample std, ddof=1; 0 for one case), "ci_low", "ci_high", "n"} over
    per-case `values`. The CI is the percentile bootstrap of the mean with `n_boot`
    resamples drawn by numpy's default_rng(`seed`), so it is reproducible. `clusters`: one label
    per value; cases with the same label share a phantom or specimen and are drawn together (a
    resample draws as many clusters as there are, with replacement, and its mean is over every
    case of the drawn clusters). NaN or inf raise: a failed case must be scored, never dropped."""
    arr = check_finite_values("values", values)
    n_boot = check_positive_int("n_boot", n_boot)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidMetricInput(f"Expected argument `seed` to be a non-negative integer, but got {seed!r}.")
    if isinstance(ci, bool) or not isinstance(ci, numbers.Real) or not 0 < ci < 1:
        raise InvalidMetricInput(f"Expected argument `ci` to be a number in (0, 1), but got {ci!r}.")
    n = arr.size
    means = _bootstrap_means(arr, n_boot, int(seed), clusters)
    tail = (1.0 - float(ci)) / 2.0
    low, high = np.percentile(means, [100.0 * tail, 100.0 * (1.0 - tail)])
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if n > 1 else 0.0,
        "ci_low": float(low),
        "ci_high": float(high),
        "n": int(n),
    }


def _bootstrap_means(arr: np.ndarray, n_boot: int, seed: int, clusters=None) -> np.ndarray:
    """Bootstrap means: cases (or whole clusters) drawn with replacement, as many as there are.
    Per cluster its sum and size; a resample's mean is the drawn sums over the drawn sizes, which
    with one case per cluster is the plain case bootstrap, draw for draw."""
    sums, sizes = _cluster_sums(arr, clusters)
    rng = np.random.default_rng(seed)
    g = sums.size
    rows = max(1, _CHUNK // g)
    parts = []
    for start in range(0, n_boot, rows):
        idx = rng.integers(0, g, size=(min(rows, n_boot - start), g))
        parts.append(sums[idx].sum(axis=1) / sizes[idx].sum(axis=1))
    return np.concatenate(parts)


def _cluster_sums(arr: np.ndarray, clusters) -> tuple[np.ndarray, np.ndarray]:
    if clusters is None:
        return arr, np.ones(arr.size)
    labels = list(clusters)
    if len(labels) != arr.size:
        raise InvalidMetricInput(f"Expected argument `clusters` to give one label per case ({arr.size}), "
                                 f"but got {len(labels)}.")
    seen: dict = {}
    codes = np.array([seen.setdefault(label, len(seen)) for label in labels], dtype=np.int64)
    return np.bincount(codes, weights=arr), np.bincount(codes).astype(np.float64)


def summarize(per_case: Sequence[dict[int, dict]], classes: Sequence[str], n_boot: int = 1000, seed: int = 0,
              ci: float = 0.95, clusters=None) -> dict:
    """Aggregate `score_case` results of all cases.

    `classes`: the task's class names, index 0 = background. Returns
    {"n_cases": n,
     "macro": {metric: aggregate(...)}  -- per case the mean over foreground classes, then over cases,
     "per_class": {name: {"index": c, metric: aggregate(...), "tp"/"fp"/"fn": totals}}}
    for each metric of `per_case_metrics()`. Every case must score every foreground class.
    `clusters`: one label per case (cases sharing a phantom or specimen), for the bootstrap."""
    names = _check_classes(classes)
    if isinstance(per_case, (str, bytes, dict)) or not isinstance(per_case, Sequence) or not per_case:
        raise InvalidMetricInput(
            f"Expected argument `per_case` to be a non-empty list of score_case results, but got {per_case!r:.80}.")
    fg = range(1, len(names))
    table = {m: np.empty((len(per_case), len(fg))) for m in SUMMARIZED}
    totals = {c: dict.fromkeys(COUNTS, 0) for c in fg}
    for i, case in enumerate(per_case):
        _check_case(i, case, fg)
        for j, c in enumerate(fg):
            for m in SUMMARIZED:
                table[m][i, j] = case[c][m]
            for k in COUNTS:
                totals[c][k] += int(case[c][k])
    kw = dict(n_boot=n_boot, seed=seed, ci=ci, clusters=clusters)
    return {
        "n_cases": len(per_case),
        "macro": {m: aggregate(table[m].mean(axis=1), **kw) for m in SUMMARIZED},
        "per_class": {
            names[c]: {"index": c, **{m: aggregate(table[m][:, j], **kw) for m in SUMMARIZED}, **totals[c]}
            for j, c in enumerate(fg)
        },
    }


def _check_classes(classes) -> list[str]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or len(classes) < 2:
        raise InvalidMetricInput(
            "Expected argument `classes` to be the task's class names with background first "
            f"(at least 2), but got {classes!r}.")
    return [str(c) for c in classes]


def _check_case(i: int, case, fg: range) -> None:
    if not isinstance(case, dict):
        raise InvalidMetricInput(
            f"Expected case {i} of `per_case` to be a score_case dict, but got {type(case).__name__}.")
    missing = [c for c in fg if c not in case]
    if missing:
        raise InvalidMetricInput(
            f"Case {i} of `per_case` has no scores for class(es) {missing}; score every case and class "
            "(a failed case gets Dice 0, NSD 0 and the diagonal HD95 and ASSD), never drop it.")
    for c in fg:
        absent = [k for k in SUMMARIZED + COUNTS if k not in case[c]]
        if absent:
            raise InvalidMetricInput(f"Case {i}, class {c} of `per_case` lacks {absent}.")
