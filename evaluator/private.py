"""Private (hidden) test splits, as the evaluator sees them: where they live, which task
version each belongs to, who may see what, and how small a difference one can resolve.

A private split is a test-only task `<task id>-private@<version>` frozen in the operator's
data dir (`<data dir>/private/<task id>-private/v<version>/`, made by `sonobench private make`
from the task's own generator with a secret seed). It is not on the task search path, so it
is never listed, offered for upload or exported; `tasks.get_task` finds it by its exact
name, which the follow-up jobs of a submission to its task use. Its task.json `source`
names the version it belongs to (`private_of`); a new version of the task needs its own.

Visibility (hosted mode's public/private boards, as on Kaggle): the committed test split is
the public board; the private split's board gives the official ranks. Its per-case rows and
predictions are operator-only: the app shows its aggregate row and rank, never its cases,
and a team cannot submit to it directly (only as the follow-up of a submission to its task).
"""
from __future__ import annotations

import math
from pathlib import Path

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.paths import user_data_dir

SUFFIX = "-private"
FOLDER = "private"


class PrivateSplitRefused(SonoBenchError):
    """A team tried to submit to, or look into, a private split."""


def root() -> Path:
    return user_data_dir() / FOLDER


def private_id(task_id: str) -> str:
    return f"{task_id}{SUFFIX}"


def folder_for(task_id: str, version: int, base: Path | None = None) -> Path:
    return Path(base or root()) / private_id(task_id) / f"v{int(version)}"


def is_private(task) -> bool:
    """Whether `task` (a Task, or a summary / result dict with task_id) is a private split."""
    source = getattr(task, "source", None)
    if isinstance(source, dict) and source.get("private_of"):
        return True
    task_id = getattr(task, "id", None) or (task.get("task_id") if isinstance(task, dict) else None) or ""
    return str(task_id).endswith(SUFFIX) and (root() / str(task_id)).is_dir()


def versions(name: str) -> dict[int, Path]:
    """{version: folder} of the private split called `name` (`<task>-private`), if any."""
    base = root() / name
    if not name.endswith(SUFFIX) or not base.is_dir():
        return {}
    return {int(p.name[1:]): p for p in base.iterdir()
            if p.is_dir() and p.name[1:].isdigit() and (p / "task.json").is_file()}


def refuse_direct(task, request) -> None:
    """A team submits to the public task; the private split is only ever a follow-up."""
    if is_private(task) and getattr(request, "follow_up_of", None) is None:
        raise PrivateSplitRefused(f"{task.ref} is a private test split: submit to "
                                  f"{task.source.get('private_of') or 'its task'} instead; its private score "
                                  "follows automatically. Nothing was stored.")


def detectable_difference(paired_sd: float, n_applicable: int, *, alpha: float = 0.05,
                          power: float = 0.8) -> float:
    """The smallest true mean difference a one-sided paired test at level alpha detects with
    probability `power` on n cases whose paired differences have standard deviation
    `paired_sd` (normal approximation: (z_(1-alpha) + z_power) * sd / sqrt(n))."""
    from statistics import NormalDist

    if n_applicable < 2 or not paired_sd > 0:
        raise ValueError("need at least 2 cases and a positive paired standard deviation")
    z = NormalDist().inv_cdf
    return (z(1 - alpha) + z(power)) * paired_sd / math.sqrt(n_applicable)


def paired_sd_of(values: dict[int, dict[str, float]]) -> tuple[float, int] | None:
    """Median (over pairs of models) standard deviation of the per-case differences, and the
    number of cases they share; `values` as `store.queries.case_values` returns them."""
    from itertools import combinations
    from statistics import median, stdev

    ids = [i for i in values if values[i]]
    if len(ids) < 2:
        return None
    cases = sorted(set.intersection(*(set(values[i]) for i in ids)))
    if len(cases) < 3:
        return None
    sds = [stdev(values[a][c] - values[b][c] for c in cases) for a, b in combinations(ids, 2)]
    return median(sds), len(cases)


def power_statement(values: dict[int, dict[str, float]], n_public_test: int, n_private: int,
                    metric: str, alpha: float = 0.05) -> str:
    """One sentence: the difference in `metric` detectable at n_private cases (paired), from the
    references' per-case results on the public test split."""
    got = paired_sd_of(values)
    if got is None:
        return (f"No detectable difference stated: fewer than two reference results with per-case {metric} on "
                "the public test split (load them with `sonobench demo` or `sonobench baselines`).")
    sd, shared = got
    share = shared / max(1, n_public_test)  # cases the metric applies to (e.g. lesion images for Dice)
    n_app = max(2, round(n_private * share))
    d_private = detectable_difference(sd, n_app, alpha=alpha)
    d_public = detectable_difference(sd, shared, alpha=alpha)
    return (f"At N = {n_private} ({n_app} cases where {metric} applies, {share:.0%} as in the public split), a "
            f"paired one-sided test at alpha = {alpha} detects a true mean {metric} difference of {d_private:.3f} "
            f"with 80% power (public split, {shared} cases: {d_public:.3f}); paired per-case SD {sd:.3f}, the median "
            f"over {len([v for v in values.values() if v])} references' pairs.")
