"""Image-level detection rates of one class (lesion tasks with lesion-free images),
from the per-case TP/FP/FN pixel counts that `score_case` stores: one rate per image-level
metric of the registry, each image's outcome decided by the metric's function (`images.py`):

- sensitivity: among cases whose ground truth has the class (tp + fn > 0), the share
  whose prediction overlaps it anywhere (tp > 0);
- specificity: among cases whose ground truth lacks the class (tp + fn == 0), the share
  predicted empty (tp + fp == 0).

Each comes with its Wilson score interval; with no case of its kind the rate is
undefined (None), never 0."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from statistics import NormalDist

from ._checks import InvalidMetricInput
from .info import Computation, entries

_COUNTS = ("tp", "fp", "fn")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion successes / n (n > 0)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(successes: int, n: int, confidence: float = 0.95) -> dict:
    """{"value", "ci_low", "ci_high", "n"}; all None but n when n == 0."""
    if n == 0:
        return {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    low, high = wilson_interval(successes, n, confidence)
    return {"value": successes / n, "ci_low": low, "ci_high": high, "n": n}


def detection_rates(cases: Iterable[Mapping]) -> dict:
    """{metric: rate(...)} (Wilson 95% intervals) for each image-level metric of the registry
    (sensitivity, specificity) over `cases`, each a mapping with the non-negative integer "tp",
    "fp", "fn" of one class (e.g. `score_case(...)[c]`)."""
    if isinstance(cases, (str, bytes, Mapping)) or not isinstance(cases, Iterable):
        raise InvalidMetricInput(
            f"Expected argument `cases` to be an iterable of per-case dicts with tp/fp/fn, but got {cases!r:.80}.")
    counts = [_counts(i, case) for i, case in enumerate(cases)]
    out = {}
    for info in entries(Computation.IMAGES):
        outcomes = [o for o in (info.fn(*c) for c in counts) if o is not None]
        out[info.name] = rate(sum(bool(o) for o in outcomes), len(outcomes))
    return out


def _counts(i: int, case) -> tuple[int, int, int]:
    if not isinstance(case, Mapping):
        raise InvalidMetricInput(
            f"Expected case {i} of `cases` to be a dict with tp/fp/fn, but got {type(case).__name__}.")
    missing = [k for k in _COUNTS if k not in case]
    if missing:
        raise InvalidMetricInput(f"Case {i} of `cases` lacks {missing}; pass one class's score_case dict per case.")
    values = [case[k] for k in _COUNTS]
    for k, v in zip(_COUNTS, values):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise InvalidMetricInput(
                f"Expected `{k}` of case {i} to be a non-negative integer pixel count, but got {v!r}.")
    return int(values[0]), int(values[1]), int(values[2])
