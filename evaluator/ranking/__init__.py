"""Leaderboard ranking. Three schemes, each defined where its ranks are shown:

- `paired` (default): for two results of a task version and split, a one-sided Wilcoxon
  signed-rank test on the per-case values of the ranking metric; model i's rank is 1 + the number
  of models significantly better than it (challengeR's test-then-rank). Model i's Holm family is
  its tests "j better than i" against the tested models j with a strictly better mean, at
  family-wise level alpha: a model with a lower mean is never in i's family, so adding or
  withdrawing a model below every mean changes no other rank. The tested rows are the top `top_n`
  by mean plus every row that is always tested (floors and reference baselines, whatever
  `top_n`); any other row is ranked 1 + the number of rows with a strictly better mean.
- `ci-overlap`: rank = 1 + the number of rows whose whole 95% bootstrap interval lies strictly
  better than this row's best interval end (unpaired; rows whose intervals overlap may still get
  different ranks).
- `mean`: rank = 1 + the number of rows with a strictly better mean.

The sort direction always comes from the metric's metadata, never from its name. A board holds
one split: results scored on different splits (a `--split val` run beside the test results) are
never ranked together (`MixedSplits`); `board.rank_stored` picks the split, test by default.
"""
from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field

import numpy as np

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import parse_choice
from sonobench.kernel.settings import DEFAULTS

from ..metrics import METRICS
from .overlap import ci_overlap_ranks, mean_ranks, order_by_mean
from .paired import (
    mean_difference_ci,
    orient,
    paired_ranks,
    pairwise_pvalues,
    significance_matrix,
)
from .stability import rank_stability

# The operator settings' defaults (sonobench/kernel/settings.py), not a second copy of the numbers.
DEFAULT_ALPHA = DEFAULTS.ranking_alpha
DEFAULT_TOP_N = DEFAULTS.ranking_top_n
STABILITY_RESAMPLES = 1000
STABILITY_SEED = 0


class Scheme(str, enum.Enum):
    PAIRED = "paired"
    CI_OVERLAP = "ci-overlap"
    MEAN = "mean"

    @classmethod
    def parse(cls, value) -> Scheme:
        return value if isinstance(value, cls) else parse_choice(cls, value, "ranking scheme", UnknownRanking)


class UnknownRanking(SonoBenchError, ValueError):
    """A ranking scheme name that does not exist."""


class MixedSplits(SonoBenchError, ValueError):
    """Rows scored on different splits handed to one ranking."""


# Rows of these kinds are tested whatever `top_n` is: the reference points every board shows.
ALWAYS_TESTED_KINDS = frozenset({"baseline", "floor"})


DEFINITIONS = {
    Scheme.PAIRED: ("rank = 1 + the number of models significantly better on the same cases: model i's family is "
                    "its one-sided Wilcoxon signed-rank tests 'j better than i' against every tested model j with a "
                    "strictly better mean, Holm-corrected at family-wise alpha = {alpha} (a model with a lower mean "
                    "never changes i's rank); tested: the top {top_n} by mean plus every floor and reference "
                    "baseline; any other row is ranked 1 + the number of rows with a better mean"),
    Scheme.CI_OVERLAP: ("rank = 1 + the number of rows whose whole 95% bootstrap interval lies strictly better than "
                        "this row's best interval end (unpaired)"),
    Scheme.MEAN: "rank = 1 + the number of rows with a strictly better mean",
}


def definition(scheme, alpha: float = DEFAULT_ALPHA, top_n: int = DEFAULT_TOP_N) -> str:
    return DEFINITIONS[Scheme.parse(scheme)].format(alpha=alpha, top_n=top_n)


@dataclass
class Ranked:
    rows: list[dict]
    scheme: Scheme
    metric: str
    alpha: float = DEFAULT_ALPHA
    top_n: int = DEFAULT_TOP_N
    n_cases: int = 0
    tested: list[int] = field(default_factory=list)  # submission ids in the tested set, best mean first
    kendall_tau: float | None = None
    kendall_tau_ci: tuple[float, float] | None = None
    resamples: int = 0
    bootstrap_ranks: np.ndarray | None = None        # resamples x len(tested)
    clustered: bool = False                          # the bootstrap resampled clusters of cases

    @property
    def definition(self) -> str:
        return definition(self.scheme, self.alpha, self.top_n)


def rank_rows(rows: list[dict], metric: str, scheme=Scheme.CI_OVERLAP, *, case_values=None,
              alpha: float = DEFAULT_ALPHA, top_n: int = DEFAULT_TOP_N, stability: bool = False,
              always_tested=None) -> list[dict]:
    """Rows best first with a `rank`; see `rank` for the paired scheme's extra inputs."""
    return rank(rows, metric, scheme, case_values=case_values, alpha=alpha, top_n=top_n, stability=stability,
                always_tested=always_tested).rows


def rank(rows: list[dict], metric: str, scheme=Scheme.PAIRED, *, case_values=None, alpha: float = DEFAULT_ALPHA,
         top_n: int = DEFAULT_TOP_N, stability: bool = True, resamples: int = STABILITY_RESAMPLES,
         seed: int = STABILITY_SEED, always_tested=None, clusters=None) -> Ranked:
    """Rank `rows` (dicts with `<metric>_mean`/`_ci_low`/`_ci_high`, and `submission_id` for the
    paired scheme; all of one split) by `metric`. `case_values`: {submission_id: {case_id: value}}
    for the tested rows (`ids_tested`; the paired scheme and every scheme's stability need them).
    `always_tested`: submission ids tested whatever `top_n` is (default: the rows whose `kind` is in
    ALWAYS_TESTED_KINDS). `clusters`: {case_id: cluster label} where cases share a phantom or
    specimen; the stability bootstrap then resamples whole clusters. With `stability`, the tested
    rows get `p_rank1`, `rank_median`, `rank_low`, `rank_high` from `resamples` bootstrap rankings."""
    scheme = Scheme.parse(scheme)
    check_one_split(rows)
    if scheme is Scheme.CI_OVERLAP and not stability:
        return Ranked(ci_overlap_ranks(rows, metric), scheme, metric, alpha, top_n)
    if scheme is Scheme.MEAN and not stability:
        return Ranked(mean_ranks(rows, metric), scheme, metric, alpha, top_n)
    if case_values is None:
        raise SonoBenchError(f"the {scheme.value} ranking with stability needs the per-case values of the tested rows")
    ids = ids_tested(rows, metric, top_n, always_tested)
    cases = _common_cases(case_values, ids)
    better = orient(np.array([[case_values[i][c] for c in cases] for i in ids]).reshape(len(ids), len(cases)), metric)
    if scheme is Scheme.PAIRED:
        ranked = _paired_rows(rows, ids, better, alpha, metric) if cases else mean_ranks(rows, metric)
    else:
        ranked = (ci_overlap_ranks if scheme is Scheme.CI_OVERLAP else mean_ranks)(rows, metric)
    out = Ranked(ranked, scheme, metric, alpha, top_n, n_cases=len(cases), tested=ids)
    if stability and len(cases) > 1 and ids:
        labels = None if clusters is None else [clusters.get(c, ("case", c)) for c in cases]
        _add_stability(out, better, labels, resamples, seed)
    return out


def check_one_split(rows: list[dict]) -> None:
    splits = sorted({r["split"] for r in rows if r.get("split") is not None})
    if len(splits) > 1:
        raise MixedSplits(f"These rows were scored on different splits ({', '.join(splits)}); a board ranks one "
                          "split only: pass the rows of one split (`sonobench leaderboard TASK --split test`).")


def ids_tested(rows: list[dict], metric: str, top_n: int = DEFAULT_TOP_N, always_tested=None) -> list[int]:
    """Submission ids the paired scheme tests, best mean first: the top `top_n` rows with a mean,
    plus every always-tested row (`always_tested` ids, or rows whose kind is a floor or baseline)."""
    key = f"{metric}_mean"
    scored = [r for r in rows if r.get(key) is not None]
    if always_tested is None:
        always = {r["submission_id"] for r in scored if r.get("kind") in ALWAYS_TESTED_KINDS}
    else:
        always = set(always_tested)
    sign = -1.0 if METRICS.get(metric).higher_is_better else 1.0
    best = {id(r) for r in heapq.nsmallest(top_n, scored, key=lambda r: sign * r[key])}  # = sorted(...)[:top_n]
    picked = [r for r in scored if id(r) in best or r["submission_id"] in always]
    return [r["submission_id"] for r in order_by_mean(picked, metric)]


def _add_stability(out: Ranked, better, labels, resamples: int, seed: int) -> None:
    by_id = {r["submission_id"]: r for r in out.rows}
    full = np.array([by_id[i]["rank"] for i in out.tested])
    st = rank_stability(better, full, scheme="paired" if out.scheme is Scheme.PAIRED else "mean", alpha=out.alpha,
                        resamples=resamples, seed=seed, clusters=labels)
    for k, i in enumerate(out.tested):
        by_id[i].update(p_rank1=float(st.p_rank1[k]), rank_median=float(st.median_rank[k]),
                        rank_low=int(st.rank_low[k]), rank_high=int(st.rank_high[k]))
    out.kendall_tau = st.kendall_tau
    out.kendall_tau_ci = (st.kendall_tau_low, st.kendall_tau_high)
    out.resamples = resamples
    out.bootstrap_ranks = st.ranks
    out.clustered = labels is not None


def _common_cases(case_values, ids) -> list[str]:
    if not ids:
        return []
    missing = [i for i in ids if i not in case_values]
    if missing:
        raise SonoBenchError(f"no per-case values for submission(s) {missing[:5]}; the paired ranking needs them")
    common = set(case_values[ids[0]])
    for i in ids[1:]:
        common &= set(case_values[i])
    return sorted(common)


def _paired_rows(rows, ids, better, alpha, metric) -> list[dict]:
    """Tested rows: their test-then-rank; every other row: 1 + the number of rows (tested or not)
    with a strictly better mean, which no row below it can change."""
    ranks = dict(zip(ids, paired_ranks(better, alpha)))
    out = []
    for r in mean_ranks(rows, metric):
        sid = r["submission_id"]
        out.append(dict(r, rank=int(ranks[sid]), rank_tested=True) if sid in ranks else dict(r, rank_tested=False))
    return sorted(out, key=lambda r: (r["rank"] is None, r["rank"] or 0))  # stable: mean order within a rank


__all__ = [
    "ALWAYS_TESTED_KINDS",
    "DEFAULT_ALPHA",
    "DEFAULT_TOP_N",
    "DEFINITIONS",
    "MixedSplits",
    "Ranked",
    "Scheme",
    "UnknownRanking",
    "check_one_split",
    "definition",
    "ids_tested",
    "mean_difference_ci",
    "orient",
    "paired_ranks",
    "pairwise_pvalues",
    "rank",
    "rank_rows",
    "rank_stability",
    "significance_matrix",
]
