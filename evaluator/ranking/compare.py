"""One pair of results compared case by case: what `sonobench compare A B` prints and the
significance map's hover shows."""
from __future__ import annotations

from sonobench.kernel.errors import SonoBenchError

from ..metrics import METRICS
from ..store import queries
from .paired import mean_difference_ci, orient, pairwise_pvalues


class NotComparable(SonoBenchError):
    """Two results that cannot be compared case by case (another task, split or no shared cases)."""


def compare_results(store, a: int, b: int, metric: str | None = None, *, alpha: float = 0.05,
                    resamples: int = 10_000, seed: int = 0) -> dict:
    ra, rb = store.result_for(a), store.result_for(b)
    for sid, r in ((a, ra), (b, rb)):
        if r is None:
            raise NotComparable(f"Submission #{sid} has no result; `sonobench leaderboard TASK` lists scored ones.")
    if (ra["task_id"], ra["task_version"], ra["split"]) != (rb["task_id"], rb["task_version"], rb["split"]):
        raise NotComparable(
            f"#{a} was scored on {ra['task_id']}@{ra['task_version']} ({ra['split']}) and #{b} on "
            f"{rb['task_id']}@{rb['task_version']} ({rb['split']}): only results on the same cases compare.")
    metric = metric or ra["primary_metric"]
    info = METRICS.get(metric)
    values = queries.case_values(store, [a, b], metric)
    cases = sorted(values[a].keys() & values[b].keys())
    if len(cases) < 2:
        raise NotComparable(f"#{a} and #{b} share {len(cases)} case(s) with a {metric} value; a paired test needs 2.")
    va = [values[a][c] for c in cases]
    vb = [values[b][c] for c in cases]
    p = pairwise_pvalues(orient([va, vb], metric))
    diff = mean_difference_ci(va, vb, resamples=resamples, seed=seed)
    if p[0, 1] <= alpha:
        verdict = f"#{a} is significantly better than #{b}"
    elif p[1, 0] <= alpha:
        verdict = f"#{b} is significantly better than #{a}"
    else:
        verdict = "not separable at this level"
    return {
        "a": a, "b": b, "task": f"{ra['task_id']}@{ra['task_version']}", "split": ra["split"], "metric": metric,
        "higher_is_better": info.higher_is_better, "n_cases": len(cases), "alpha": alpha,
        "p_a_better": float(p[0, 1]), "p_b_better": float(p[1, 0]),
        "mean_a": sum(va) / len(va), "mean_b": sum(vb) / len(vb),
        "mean_difference": diff.mean, "ci_low": diff.ci_low, "ci_high": diff.ci_high, "resamples": diff.resamples,
        "seed": diff.seed, "verdict": verdict,
    }
