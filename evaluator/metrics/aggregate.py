"""Aggregates over cases: mean, std and a percentile-bootstrap confidence interval,
per class and as the macro mean over foreground classes, each over the cases it applies to
(a class absent from a case's reference is not scored there; see `case.py`). Where cases share
a phantom or specimen (the task's declared clusters), the bootstrap resamples whole clusters."""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from ._checks import InvalidMetricInput, check_finite_values, check_positive_int
from .case import COUNTS, present
from .info import per_case_metrics

SUMMARIZED = per_case_metrics()  # at import; the functions below read the registry when called
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
    """Aggregate `score_case` results of all cases, over the cases each value applies to.

    `classes`: the task's class names, index 0 = background. Returns
    {"n_cases": n (every case),
     "macro": {metric: aggregate(...)}  -- per case the mean over the foreground classes present in
                                           its reference, then over the cases that have one,
     "per_class": {name: {"index": c, metric: aggregate(...) over the cases whose reference has c,
                          "tp"/"fp"/"fn": totals over every case}}}
    for each metric of `per_case_metrics()`. A class absent from a case's reference (tp + fn == 0)
    is not applicable there (its values are ignored); with no applicable case an aggregate is
    `empty_aggregate()` (mean None, n 0), never a number. Every case must carry every foreground
    class's counts, and a value for each class its reference has. `clusters`: one label per case
    (cases sharing a phantom or specimen), for the bootstrap; a not-applicable case's label is
    dropped with its value."""
    names = _check_classes(classes)
    if isinstance(per_case, (str, bytes, dict)) or not isinstance(per_case, Sequence) or not per_case:
        raise InvalidMetricInput(
            f"Expected argument `per_case` to be a non-empty list of score_case results, but got {per_case!r:.80}.")
    fg = range(1, len(names))
    summarized = per_case_metrics()
    table = {m: np.full((len(per_case), len(fg)), np.nan) for m in summarized}
    totals = {c: dict.fromkeys(COUNTS, 0) for c in fg}
    for i, case in enumerate(per_case):
        _check_case(i, case, fg)
        for j, c in enumerate(fg):
            for k in COUNTS:
                totals[c][k] += int(case[c][k])
            if present(case[c]):
                for m in summarized:
                    table[m][i, j] = case[c][m]
    kw = dict(n_boot=n_boot, seed=seed, ci=ci, clusters=None if clusters is None else list(clusters))
    return {
        "n_cases": len(per_case),
        "macro": {m: _aggregate_present(_case_means(table[m]), **kw) for m in summarized},
        "per_class": {
            names[c]: {"index": c, **{m: _aggregate_present(table[m][:, j], **kw) for m in summarized}, **totals[c]}
            for j, c in enumerate(fg)
        },
    }


def summarize_metric(per_case: Sequence[dict[int, dict]], classes: Sequence[str], metric: str,
                     n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """`summarize` of one metric only: {"macro": aggregate, "per_class": {name: aggregate}}, for
    a result some of whose other metrics cannot be computed (e.g. no stored predictions). Every
    class a case's reference has must have a finite value of `metric`."""
    names = _check_classes(classes)
    fg = range(1, len(names))
    table = np.full((len(per_case), len(fg)), np.nan)
    for i, case in enumerate(per_case):
        for j, c in enumerate(fg):
            if present(case[c]):
                v = case[c].get(metric)
                if v is None or not math.isfinite(float(v)):
                    raise InvalidMetricInput(f"Case {i}, class {c} is in the reference but has no finite {metric}.")
                table[i, j] = v
    kw = dict(n_boot=n_boot, seed=seed, ci=ci)
    return {"macro": _aggregate_present(_case_means(table), **kw),
            "per_class": {names[c]: _aggregate_present(table[:, j], **kw) for j, c in enumerate(fg)}}


def empty_aggregate() -> dict:
    """The aggregate of a metric that applies to no case (e.g. a class absent from every reference)."""
    return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}


def _case_means(values: np.ndarray) -> np.ndarray:
    """Each case's mean over its present classes (NaN = not applicable); NaN for a case with none."""
    applicable = ~np.isnan(values)
    counts = applicable.sum(axis=1)
    sums = np.where(applicable, values, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.full(len(values), np.nan), where=counts > 0)


def _aggregate_present(values: np.ndarray, clusters=None, **kw) -> dict:
    """`aggregate` over the applicable values (NaN marks a not-applicable one), each keeping its
    case's cluster label."""
    keep = ~np.isnan(values)
    if clusters is not None:
        if len(clusters) != values.size:
            raise InvalidMetricInput(f"Expected argument `clusters` to give one label per case ({values.size}), "
                                     f"but got {len(clusters)}.")
        clusters = [label for label, k in zip(clusters, keep) if k]
    kept = values[keep]
    return aggregate(kept, clusters=clusters, **kw) if kept.size else empty_aggregate()


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
            "(a failed case scores as a failure on the classes its reference has: Dice 0, NSD 0, the "
            "diagonal HD95 and ASSD), never drop it.")
    for c in fg:
        absent = [k for k in per_case_metrics() + COUNTS if k not in case[c]]
        if absent:
            raise InvalidMetricInput(f"Case {i}, class {c} of `per_case` lacks {absent}.")
        if present(case[c]):
            unset = [m for m in per_case_metrics() if case[c][m] is None or not math.isfinite(float(case[c][m]))]
            if unset:
                raise InvalidMetricInput(
                    f"Case {i}, class {c} of `per_case` is in the reference (tp + fn > 0) but has no finite {unset}; "
                    "a class the reference has is always scored (a missed one scores as a failure).")
