"""Paired statistics on per-case scores: every model of a task version is scored on the same
cases, so two models are compared case by case (challengeR's test-then-rank).

- `pairwise_pvalues`: one-sided Wilcoxon signed-rank p-value for "model i is better than model j"
  for every ordered pair, computed by `scipy.stats.wilcoxon` itself, one pair at a time where scipy
  decides per sample (zero differences dropped, `zero_method="wilcox"`, ties and the exact/normal
  choice exactly as scipy does by default for that pair alone).
- `families`: model i's Holm family is its one-sided tests "j better than i" against every model j
  with a strictly better mean. A model with a lower mean is never in i's family, so adding or
  withdrawing a model below every mean changes no other model's rank (independence of
  irrelevant alternatives).
- `holm_rejections` / `holm_in_families`: Holm's step-down over a family, at family-wise level alpha.
- `paired_ranks`: rank = 1 + the number of models significantly better (Holm within the family).
- `mean_difference_ci`: percentile bootstrap CI of the mean paired difference.

Values are oriented first (`orient`) so that larger is always better; a lower-is-better metric
(HD95) is negated, which flips nothing in the test but its direction.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..metrics import METRICS


def orient(values: np.ndarray, metric: str) -> np.ndarray:
    """`values` (models x cases) with the sign flipped for lower-is-better metrics."""
    values = np.asarray(values, dtype=np.float64)
    return values if METRICS.get(metric).higher_is_better else -values


def pairwise_pvalues(better: np.ndarray, *, fast: bool = False) -> np.ndarray:
    """P[i, j] = one-sided Wilcoxon p-value that model i beats model j (diagonal = 1).

    `better`: models x cases, oriented so larger is better. Accepts a leading batch axis
    (B x models x cases, for bootstrap resamples) and returns B x models x models.
    `fast`: use `wilcoxon_normal` (one ranking gives both tails) instead of scipy; the two agree
    wherever scipy takes its normal approximation, which it does for every bootstrap resample
    (resampled cases repeat, so their differences tie)."""
    v = np.asarray(better, dtype=np.float64)
    squeeze = v.ndim == 2
    if squeeze:
        v = v[None]
    b, m, _ = v.shape
    p = np.ones((b, m, m))
    if m < 2:
        return p[0] if squeeze else p
    iu, ju = np.triu_indices(m, 1)
    d = v[:, iu, :] - v[:, ju, :]
    if fast:
        p[:, iu, ju], p[:, ju, iu] = wilcoxon_normal(d)
    else:
        p[:, iu, ju] = _wilcoxon(d, "greater")
        p[:, ju, iu] = _wilcoxon(d, "less")
    return p[0] if squeeze else p


def _wilcoxon(d: np.ndarray, alternative: str) -> np.ndarray:
    """scipy's one-sided p-value along the last axis, each pair as a call with that pair alone
    would give it. Beyond 50 cases scipy always takes the normal approximation; up to 50 it
    chooses from the ties and zeros of the whole array it is given (exact without either, the
    normal approximation with them, a permutation test up to 13 cases), so the pairs are handed
    over in groups that share the choice, and each permutation case on its own."""
    d = np.asarray(d, dtype=np.float64)
    if d.shape[-1] > 50 or d.size == 0:
        return _scipy_wilcoxon(d, alternative)
    flat = d.reshape(-1, d.shape[-1])
    p = np.ones(flat.shape[0])
    a = np.sort(np.abs(flat), axis=-1)
    irregular = (a[:, 0] == 0) | (a[:, 1:] == a[:, :-1]).any(axis=-1)  # a zero, or tied |d|
    live = flat.any(axis=-1)
    for rows in (~irregular & live, irregular & live):
        rows = np.flatnonzero(rows)
        if not len(rows):
            continue
        if flat.shape[-1] <= 13 and irregular[rows[0]]:
            p[rows] = [_scipy_wilcoxon(flat[r], alternative) for r in rows]
        else:
            p[rows] = _scipy_wilcoxon(flat[rows], alternative)
    return p.reshape(d.shape[:-1])


def _scipy_wilcoxon(d: np.ndarray, alternative: str) -> np.ndarray:
    from scipy.stats import wilcoxon

    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # all-zero differences (identical predictions) give 0/0 inside scipy: no evidence, p = 1
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        p = np.asarray(wilcoxon(d, axis=-1, alternative=alternative).pvalue, dtype=np.float64)
    return np.where(np.isfinite(p), p, 1.0)


def wilcoxon_normal(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values (greater, less) of the Wilcoxon signed-rank test along the last axis by
    the normal approximation, as scipy computes it with `method="approx"`: zero differences
    dropped (zero_method="wilcox"), average ranks for ties, the tie-corrected variance
    n(n+1)(2n+1)/24 - sum(t^3 - t)/48, no continuity correction. All-zero rows give p = 1."""
    from scipy.special import ndtr

    a = np.abs(np.asarray(d, dtype=np.float64))
    order = np.argsort(a, axis=-1, kind="stable")
    s = np.take_along_axis(a, order, axis=-1)
    positive = np.take_along_axis(d, order, axis=-1) > 0
    k = s.shape[-1]
    new = np.ones(s.shape, dtype=bool)
    new[..., 1:] = s[..., 1:] != s[..., :-1]
    group = np.cumsum(new, axis=-1) - 1                       # tie group of each sorted position
    flat = group + (np.arange(int(np.prod(s.shape[:-1]))) * k).reshape(s.shape[:-1] + (1,))
    sizes = np.bincount(flat.ravel(), minlength=flat.size).reshape(s.shape)   # per row: size of group g
    starts = np.cumsum(sizes, axis=-1) - sizes                  # 0-based first position of group g
    avg_rank = np.take_along_axis(starts + (sizes + 1) / 2.0, group, axis=-1)
    zeros = (s == 0).sum(axis=-1, keepdims=True)
    ranks = avg_rank - zeros                                    # ranks among the non-zero differences
    n = (k - zeros[..., 0]).astype(np.float64)
    r_plus = np.where(positive, ranks, 0.0).sum(axis=-1)
    nonzero_groups = np.where(np.arange(k) >= _first_nonzero_group(s, group), sizes, 0)
    ties = (nonzero_groups.astype(np.float64) ** 3 - nonzero_groups).sum(axis=-1)
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - ties / 48.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (r_plus - mean) / np.sqrt(var)
    greater, less = ndtr(-z), ndtr(z)
    dead = ~(var > 0)
    return np.where(dead, 1.0, greater), np.where(dead, 1.0, less)


def _first_nonzero_group(s: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Index of the first tie group holding a non-zero |d| (the zero group, if any, is group 0)."""
    has_zero = s[..., :1] == 0
    return np.where(has_zero, 1, 0)


def holm_rejections(pvalues: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down along the last axis: how many of the hypotheses are rejected at
    family-wise level `alpha`. Sorted p_(1) <= ... <= p_(k): reject H_(1..r) where r is the
    largest index with p_(s) <= alpha / (k - s + 1) for every s <= r."""
    p = np.sort(np.asarray(pvalues, dtype=np.float64), axis=-1)
    k = p.shape[-1]
    if k == 0:
        return np.zeros(p.shape[:-1], dtype=np.int64)
    thresholds = alpha / (k - np.arange(k))
    passed = np.cumprod(p <= thresholds, axis=-1)
    return passed.sum(axis=-1).astype(np.int64)


def families(means: np.ndarray) -> np.ndarray:
    """F[..., i, j] = True when model j's mean is strictly better than model i's: the models whose
    one-sided test "j better than i" is in model i's Holm family. `means` oriented (larger is
    better); a leading batch axis is allowed."""
    means = np.asarray(means, dtype=np.float64)
    return means[..., None, :] > means[..., :, None]


def holm_in_families(against: np.ndarray, family: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down inside each model's family. `against[..., i, j]`: p-value of "j better than
    i"; `family[..., i, j]`: whether that test is in model i's family (its size k_i varies).
    Returns (the number of rejections per model, the rejected tests as a boolean array). Sorted
    p_(1) <= ... <= p_(k): reject H_(1..r), r the largest index with p_(s) <= alpha / (k - s + 1)
    for every s <= r."""
    p = np.where(family, against, np.inf)
    m = p.shape[-1]
    ps = np.sort(p, axis=-1)
    k = family.sum(axis=-1, keepdims=True)
    thresholds = alpha / np.maximum(k - np.arange(m), 1)
    counts = np.cumprod(ps <= thresholds, axis=-1).sum(axis=-1)
    cutoff = np.take_along_axis(ps, np.maximum(counts - 1, 0)[..., None], axis=-1)
    rejected = family & (p <= cutoff) & (counts[..., None] > 0)
    return counts.astype(np.int64), rejected


def family_pvalues(better: np.ndarray, family: np.ndarray) -> np.ndarray:
    """against[i, j] = scipy's one-sided p-value of "j better than i" for the tests in a family
    (each unordered pair is in exactly one family: the worse mean's); 1 elsewhere."""
    m = better.shape[0]
    against = np.ones((m, m))
    ii, jj = np.nonzero(family)
    if len(ii):
        against[ii, jj] = _wilcoxon(better[jj] - better[ii], "greater")
    return against


def paired_ranks(better: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """rank_i = 1 + the number of models j that beat model i significantly. Model i's family: the
    one-sided tests "j better than i" against every model j with a strictly better mean over
    these cases, Holm-corrected at `alpha` (so a worse model never changes i's rank)."""
    better = np.asarray(better, dtype=np.float64)
    family = families(better.mean(axis=-1))
    counts, _ = holm_in_families(family_pvalues(better, family), family, alpha)
    return 1 + counts


def significance_matrix(better: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """S[i, j] = +1 when i is significantly better than j, -1 when significantly worse, 0 when
    not separable (or not tested: a pair is tested once, in the family of the model with the
    lower mean), each family Holm-corrected as in `paired_ranks`."""
    better = np.asarray(better, dtype=np.float64)
    family = families(better.mean(axis=-1))
    _, rejected = holm_in_families(family_pvalues(better, family), family, alpha)
    s = np.zeros(rejected.shape, dtype=np.int64)
    ii, jj = np.nonzero(rejected)  # j significantly better than i
    s[jj, ii], s[ii, jj] = 1, -1
    return s


@dataclass(frozen=True)
class MeanDifference:
    n: int
    mean: float
    ci_low: float
    ci_high: float
    resamples: int
    seed: int


def mean_difference_ci(a, b, *, resamples: int = 10_000, seed: int = 0, ci: float = 0.95) -> MeanDifference:
    """Percentile bootstrap CI of mean(a - b) over paired cases (cases resampled with
    replacement, `resamples` draws from numpy's default_rng(`seed`))."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = d.size
    if n == 0:
        nan = float("nan")
        return MeanDifference(0, nan, nan, nan, resamples, seed)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, 2_000_000 // n)
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        means[start:stop] = d[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = 100.0 * (1.0 - ci) / 2.0
    lo, hi = np.percentile(means, [tail, 100.0 - tail])
    return MeanDifference(n, float(d.mean()), float(lo), float(hi), resamples, seed)
