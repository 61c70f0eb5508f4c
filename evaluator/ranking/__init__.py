"""Leaderboard ranking. Three schemes, each defined where its ranks are shown:

- `paired` (default): for every two results of a task version and split, a one-sided Wilcoxon
  signed-rank test on the per-case values of the ranking metric; model i's rank is 1 + the number
  of models significantly better than it, Holm-corrected over those m - 1 tests at level alpha
  (challengeR's test-then-rank). Only the top `top_n` rows by mean are tested (the pairwise work is
  O(m^2)); rows below them keep the order of their means, ranked after the tested ones.
- `ci-overlap`: rank = 1 + the number of rows whose whole 95% bootstrap interval lies strictly
  better than this row's best interval end (unpaired; rows whose intervals overlap may still get
  different ranks).
- `mean`: rank = 1 + the number of rows with a strictly better mean.

The sort direction always comes from the metric's metadata, never from its name.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from ..errors import SonoBenchError
from ..registry import parse_choice
from ..settings import DEFAULTS
from .overlap import ci_overlap_ranks, mean_ranks, order_by_mean
from .paired import mean_difference_ci, orient, paired_ranks, pairwise_pvalues, significance_matrix
from .stability import rank_stability

# The operator settings' defaults (evaluator/settings.py), not a second copy of the numbers.
DEFAULT_ALPHA = DEFAULTS.ranking_alpha
DEFAULT_TOP_N = DEFAULTS.ranking_top_n
STABILITY_RESAMPLES = 1000
STABILITY_SEED = 0


class Scheme(str, enum.Enum):
    PAIRED = "paired"
    CI_OVERLAP = "ci-overlap"
    MEAN = "mean"

    @classmethod
    def parse(cls, value) -> "Scheme":
        return value if isinstance(value, cls) else parse_choice(cls, value, "ranking scheme", UnknownRanking)


class UnknownRanking(SonoBenchError, ValueError):
    """A ranking scheme name that does not exist."""


DEFINITIONS = {
    Scheme.PAIRED: ("rank = 1 + the number of models significantly better on the same test cases "
                    "(one-sided Wilcoxon signed-rank per pair, Holm-corrected over each model's comparisons, "
                    "alpha = {alpha}); rows beyond the top {top_n} by mean are not tested and follow their means"),
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

    @property
    def definition(self) -> str:
        return definition(self.scheme, self.alpha, self.top_n)


def rank_rows(rows: list[dict], metric: str, scheme=Scheme.CI_OVERLAP, *, case_values=None,
              alpha: float = DEFAULT_ALPHA, top_n: int = DEFAULT_TOP_N, stability: bool = False) -> list[dict]:
    """Rows best first with a `rank`; see `rank` for the paired scheme's extra inputs."""
    return rank(rows, metric, scheme, case_values=case_values, alpha=alpha, top_n=top_n, stability=stability).rows


def rank(rows: list[dict], metric: str, scheme=Scheme.PAIRED, *, case_values=None, alpha: float = DEFAULT_ALPHA,
         top_n: int = DEFAULT_TOP_N, stability: bool = True, resamples: int = STABILITY_RESAMPLES,
         seed: int = STABILITY_SEED) -> Ranked:
    """Rank `rows` (dicts with `<metric>_mean`/`_ci_low`/`_ci_high`, and `submission_id` for the
    paired scheme) by `metric`. `case_values`: {submission_id: {case_id: value}} for the tested rows
    (the paired scheme and every scheme's stability need them). With `stability`, the tested rows
    get `p_rank1`, `rank_median`, `rank_low`, `rank_high` from `resamples` bootstrap rankings."""
    scheme = Scheme.parse(scheme)
    ordered = order_by_mean(rows, metric)
    if scheme is Scheme.CI_OVERLAP and not stability:
        return Ranked(ci_overlap_ranks(rows, metric), scheme, metric, alpha, top_n)
    if scheme is Scheme.MEAN and not stability:
        return Ranked(mean_ranks(rows, metric), scheme, metric, alpha, top_n)
    if case_values is None:
        raise SonoBenchError(f"the {scheme.value} ranking with stability needs the per-case values of the tested rows")
    tested = [r for r in ordered if r.get(f"{metric}_mean") is not None][:top_n]
    ids = [r["submission_id"] for r in tested]
    cases = _common_cases(case_values, ids)
    better = orient(np.array([[case_values[i][c] for c in cases] for i in ids]).reshape(len(ids), len(cases)), metric)
    if scheme is Scheme.PAIRED:
        ranked = _paired_rows(ordered, tested, better, alpha, metric) if cases else mean_ranks(rows, metric)
    else:
        ranked = (ci_overlap_ranks if scheme is Scheme.CI_OVERLAP else mean_ranks)(rows, metric)
    out = Ranked(ranked, scheme, metric, alpha, top_n, n_cases=len(cases), tested=ids)
    if stability and len(cases) > 1 and ids:
        by_id = {r["submission_id"]: r for r in ranked}
        full = np.array([by_id[i]["rank"] for i in ids])
        st = rank_stability(better, full, scheme="paired" if scheme is Scheme.PAIRED else "mean", alpha=alpha,
                            resamples=resamples, seed=seed)
        for k, i in enumerate(ids):
            by_id[i].update(p_rank1=float(st.p_rank1[k]), rank_median=float(st.median_rank[k]),
                            rank_low=int(st.rank_low[k]), rank_high=int(st.rank_high[k]))
        out.kendall_tau = st.kendall_tau
        out.kendall_tau_ci = (st.kendall_tau_low, st.kendall_tau_high)
        out.resamples = resamples
        out.bootstrap_ranks = st.ranks
    return out


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


def _paired_rows(ordered, tested, better, alpha, metric) -> list[dict]:
    ranks = paired_ranks(better, alpha)
    tested_ids = {r["submission_id"] for r in tested}
    out = [dict(r, rank=int(k), rank_tested=True) for r, k in zip(tested, ranks)]
    rest = [r for r in ordered if r["submission_id"] not in tested_ids]
    offset = int(ranks.max()) if len(ranks) else 0
    for r in mean_ranks(rest, metric):
        out.append(dict(r, rank=offset + r["rank"] if r["rank"] is not None else None, rank_tested=False))
    return sorted(out, key=lambda r: (r["rank"] is None, r["rank"] or 0))  # stable: mean order within a rank


__all__ = [
    "Scheme", "UnknownRanking", "Ranked", "rank", "rank_rows", "definition", "DEFINITIONS",
    "orient", "paired_ranks", "pairwise_pvalues", "significance_matrix", "mean_difference_ci",
    "rank_stability", "DEFAULT_ALPHA", "DEFAULT_TOP_N",
]
