"""Bootstrap resamples as case counts, and the paired test-then-rank of every resample without
re-sorting anything.

A resample is described by how many times each case is drawn (`case_counts`): cases are drawn
with replacement, or, where cases share a phantom or specimen, whole clusters are (a case counts
as often as its cluster is drawn). With counts, the Wilcoxon signed-rank statistic of a resample
follows from the pair's |differences| ranked once: the copies of one |d| value share the average
of the positions they occupy, so with the values in ascending order, the g-th tie group (C_g
copies, P_g of them positive) holds ranks cum_g - C_g + 1 ... cum_g (cum_g = copies up to and
including the group) and contributes P_g (cum_g - C_g/2 + 1/2) to R+. Zero differences are left
out (zero_method="wilcox"); the variance is n(n+1)(2n+1)/24 - sum(C^3 - C)/48 over the groups
(n = the non-zero copies), no continuity correction: the numbers scipy.stats.wilcoxon gives with
method="approx" on the resampled cases (checked against `wilcoxon_normal` on the expanded cases).
"""
from __future__ import annotations

import numpy as np

_PAIRS_PER_BLOCK = 16  # pairs whose position x resample blocks are summed at once



def cluster_codes(clusters, n_cases: int) -> tuple[np.ndarray, int]:
    """(code of each case's cluster, number of clusters); codes in order of first appearance, so
    singleton clusters are the cases themselves in their own order. None: every case alone."""
    if clusters is None:
        return np.arange(n_cases), n_cases
    labels = list(clusters)
    if len(labels) != n_cases:
        raise ValueError(f"Expected one cluster label per case ({n_cases}), but got {len(labels)}.")
    seen: dict = {}
    codes = np.array([seen.setdefault(label, len(seen)) for label in labels], dtype=np.int64)
    return codes, len(seen)


def case_counts(n_cases: int, resamples: int, seed: int, clusters=None) -> np.ndarray:
    """resamples x cases: how often each case is in each bootstrap resample. Clusters (or cases)
    are drawn with replacement, as many as there are, by numpy's default_rng(`seed`): the same
    draws `rng.integers(0, n, (resamples, n))` that the plain case bootstrap makes."""
    codes, g = cluster_codes(clusters, n_cases)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, g, size=(resamples, g))
    flat = (idx + g * np.arange(resamples)[:, None]).ravel()
    counts = np.bincount(flat, minlength=resamples * g).reshape(resamples, g)
    return counts[:, codes].astype(np.float64)


def signed_rank_z(d: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z, defined): the Wilcoxon signed-rank z statistic of every row of `d` (pairs x cases,
    "first better than second" differences) in every resample of `counts` (resamples x cases),
    pairs x resamples; `defined` is False where no non-zero difference is drawn (p = 1 there).

    The terms that do not depend on the order of |d| (the non-zero and positive copies, the sum
    of squared counts) are matrix products over all pairs at once; the one that does is a running
    sum of the counts in the pair's |d| order, one pair at a time on a block that stays in cache."""
    d = np.asarray(d, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    # float32 holds every count, running count, rank sum and tie term exactly below 2**24
    exact = np.float32 if float(counts.sum(axis=1).max(initial=0.0)) ** 3 < 2 ** 23 else np.float64
    c = counts.astype(exact)
    nonzero, positive = (d != 0).astype(exact), (d > 0).astype(exact)
    n_eff = (c @ nonzero.T).astype(np.float64)                    # resamples x pairs
    half = 0.5 * ((c - c * c) @ positive.T).astype(np.float64)    # sum over positive copies of (1 - C)/2
    ties = ((c * c * c - c) @ nonzero.T).astype(np.float64)       # valid where the non-zero |d| are distinct
    wt = np.vstack([c.T, np.zeros((1, c.shape[0]), dtype=exact)])
    cross = np.empty_like(n_eff)
    orders = [_nonzero_order(row) for row in d]
    distinct = [p for p, (order, tied) in enumerate(orders) if not tied]
    for start in range(0, len(distinct), _PAIRS_PER_BLOCK):
        block = distinct[start:start + _PAIRS_PER_BLOCK]
        cross[:, block] = _running_terms(d[block], [orders[p][0] for p in block], wt)
    for p, (order, tied) in enumerate(orders):
        if tied:
            cross[:, p], ties[:, p] = _tied_terms(d[p], order, wt)
    r_plus = (cross + half).T
    n_eff, ties = n_eff.T, ties.T
    mean = n_eff * (n_eff + 1) / 4.0
    var = n_eff * (n_eff + 1) * (2 * n_eff + 1) / 24.0 - ties / 48.0
    ok = var > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(ok, (r_plus - mean) / np.sqrt(np.where(ok, var, 1.0)), 0.0)
    return z, ok


def _nonzero_order(d: np.ndarray) -> tuple[np.ndarray, bool]:
    """The cases with a non-zero difference in ascending |d|, and whether two of them tie."""
    a = np.abs(d)
    order = np.argsort(a, kind="stable")
    order = order[a[order] > 0]
    value = a[order]
    return order, bool(np.any(value[1:] == value[:-1]))


def _running_terms(d: np.ndarray, orders: list[np.ndarray], wt: np.ndarray) -> np.ndarray:
    """Pairs whose non-zero |d| are distinct: sum over positive cases of count x running count
    (in |d| order), resamples x pairs. Laid out position x pair x resample, so the running sum is
    one contiguous vector add per position; shorter pairs are padded with the zero row of `wt`."""
    length = max((len(o) for o in orders), default=0)
    pad = wt.shape[0] - 1
    idx = np.full((length, len(orders)), pad)
    positive = np.zeros((length, len(orders)), dtype=wt.dtype)
    for p, (row, order) in enumerate(zip(d, orders)):
        idx[:len(order), p] = order
        positive[:len(order), p] = row[order] > 0
    copies = wt[idx]                                   # position x pair x resample
    running = np.empty_like(copies)
    if length:
        running[0] = copies[0]
    for k in range(1, length):
        np.add(running[k - 1], copies[k], out=running[k])
    np.multiply(running, copies, out=running)
    return np.einsum("kp,kpr->rp", positive, running)


def _tied_terms(d: np.ndarray, order: np.ndarray, wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pair with tied non-zero |d|: the same sum by tie group (a group's C copies, P of them
    positive, hold ranks cum - C + 1 .. cum: R+ gets P (cum - C/2 + 1/2)), returned less the
    per-case (1 - C)/2 terms the caller adds, and the tie term sum(C^3 - C) of its groups."""
    copies = wt[order].astype(np.float64)
    value, positive = np.abs(d[order]), (d[order] > 0).astype(np.float64)[:, None]
    starts = np.flatnonzero(np.r_[True, value[1:] != value[:-1]])
    group_n = np.add.reduceat(copies, starts, axis=0)
    group_pos = np.add.reduceat(copies * positive, starts, axis=0)
    cum = np.cumsum(group_n, axis=0)
    r_plus = (group_pos * (cum - 0.5 * group_n + 0.5)).sum(axis=0)
    own = (copies * positive * (0.5 - 0.5 * copies)).sum(axis=0)
    return r_plus - own, (group_n ** 3 - group_n).sum(axis=0)


def bootstrap_paired_ranks(better: np.ndarray, counts: np.ndarray, alpha: float) -> np.ndarray:
    """resamples x models: the paired test-then-rank of every resample (families by the resample's
    means, one-sided Wilcoxon by the normal approximation, Holm within each family)."""
    from scipy.special import ndtr

    from .paired import families, holm_in_families

    better = np.asarray(better, dtype=np.float64)
    m = better.shape[0]
    resamples = counts.shape[0]
    if m < 2:
        return np.ones((resamples, m), dtype=np.int64)
    means = weighted_means(better, counts)
    iu, ju = np.triu_indices(m, 1)
    z, ok = signed_rank_z(better[iu] - better[ju], counts)      # "iu better than ju"
    against = np.ones((resamples, m, m))
    against[:, ju, iu] = np.where(ok, ndtr(-z), 1.0).T           # p of "iu better than ju", in ju's family
    against[:, iu, ju] = np.where(ok, ndtr(z), 1.0).T
    ranks, _ = holm_in_families(against, families(means), alpha)
    return 1 + ranks


def weighted_means(better: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """resamples x models: each model's mean over the resampled cases."""
    return (counts @ np.asarray(better, dtype=np.float64).T) / counts.sum(axis=1, keepdims=True)


__all__ = ["bootstrap_paired_ranks", "case_counts", "cluster_codes", "signed_rank_z", "weighted_means"]
