"""Rank stability by bootstrapping the test cases (challengeR's blob plot and its summary).

The cases are resampled with replacement `resamples` times (numpy default_rng(`seed`)); where
cases share a phantom or specimen (the task's declared clusters), whole clusters are resampled,
so a resample holds every case of each cluster it draws. Each resample is ranked with the same
scheme as the full data (for `paired`: the Wilcoxon/Holm test-then-rank on the resampled cases,
by the normal approximation, computed from case counts: `resample`). Per model: the probability
of rank 1, the median rank and the 2.5-97.5 percentile rank interval; per task: Kendall's tau-b
between each bootstrap ranking and the full one (mean over resamples, with its 2.5/97.5
percentiles).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .resample import bootstrap_paired_ranks, case_counts, weighted_means


@dataclass(frozen=True)
class Stability:
    ranks: np.ndarray          # resamples x models: the rank of each model in each resample
    p_rank1: np.ndarray        # per model
    median_rank: np.ndarray
    rank_low: np.ndarray       # 2.5th percentile of the bootstrap ranks
    rank_high: np.ndarray      # 97.5th percentile
    kendall_tau: float         # mean over resamples; nan when undefined (fewer than 2 models)
    kendall_tau_low: float
    kendall_tau_high: float
    resamples: int
    seed: int


def mean_rank_of(better: np.ndarray) -> np.ndarray:
    """rank = 1 + number of models with a strictly larger mean (batch axis allowed)."""
    return _mean_ranks(better.mean(axis=-1))


def _mean_ranks(means: np.ndarray) -> np.ndarray:
    return 1 + (means[..., None, :] > means[..., :, None]).sum(axis=-1)


def bootstrap_ranks(better: np.ndarray, scheme: str, alpha: float, resamples: int, seed: int,
                    clusters=None) -> np.ndarray:
    """resamples x models ranks; `better` is models x cases oriented so larger is better;
    `clusters`: one label per case (cases with the same label are drawn together), or None."""
    counts = case_counts(better.shape[1], resamples, seed, clusters)
    if scheme == "paired":
        return bootstrap_paired_ranks(better, counts, alpha)
    return _mean_ranks(weighted_means(better, counts))


def rank_stability(better: np.ndarray, full_ranks: np.ndarray, *, scheme: str = "paired", alpha: float = 0.05,
                   resamples: int = 1000, seed: int = 0, clusters=None) -> Stability:
    better = np.asarray(better, dtype=np.float64)
    ranks = bootstrap_ranks(better, scheme, alpha, resamples, seed, clusters)
    taus = kendall_tau_b(np.asarray(full_ranks), ranks) if better.shape[0] > 1 else np.array([np.nan])
    finite = taus[np.isfinite(taus)]
    lo_tau, hi_tau = (np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan))
    return Stability(
        ranks=ranks,
        p_rank1=(ranks == 1).mean(axis=0),
        median_rank=np.median(ranks, axis=0),
        rank_low=np.percentile(ranks, 2.5, axis=0, method="lower"),
        rank_high=np.percentile(ranks, 97.5, axis=0, method="higher"),
        kendall_tau=float(finite.mean()) if finite.size else float("nan"),
        kendall_tau_low=float(lo_tau), kendall_tau_high=float(hi_tau),
        resamples=resamples, seed=seed,
    )


def kendall_tau_b(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between ranking `x` and each row of `ys` (what scipy.stats.kendalltau
    computes, vectorised): sum(sx*sy) / sqrt(sum(sx^2) * sum(sy^2)) over all pairs i < j, with
    s = sign of the rank difference. Two rankings that tie everything agree (1); one that ties
    everything against one that does not is undefined (nan)."""
    iu, ju = np.triu_indices(x.shape[-1], 1)
    sx = np.sign(x[iu] - x[ju]).astype(np.float64)
    sy = np.sign(ys[:, iu] - ys[:, ju]).astype(np.float64)
    num = sy @ sx
    den = np.sqrt((sx * sx).sum() * (sy * sy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = num / den
    both_flat = (sx == 0).all() & (sy == 0).all(axis=1)
    return np.where(both_flat, 1.0, np.where(den > 0, tau, np.nan))
