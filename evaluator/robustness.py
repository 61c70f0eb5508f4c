"""Acquisition-shift robustness: tabulate how much each model degrades on a task's shift sets
(the scoring of a submission on them is `follow_ups`; which sets a task has, `task_sets`).

A shift set is a test-only child task (task.json ``"parent": "<id>@<version>"`` and a
``"condition"``; one with ``"reference": true`` is the unshifted re-simulation that the
drops pair against, else the parent's own test images are): the same phantoms as some of the parent's test cases, re-imaged under one
named change of acquisition (frequency, noise, attenuation, assumed sound speed, dynamic
range). Each of its cases names the parent case it re-images (``meta.source_case``), so a
model's score on a shifted image pairs with its score on the unshifted one.

Scoring a shift set is an ordinary evaluation of the same file on the child task, through
the one pipeline, started only after the parent's result is stored (so the main score is
never delayed) and never charged to the team's quota: the team submitted once. The inline
CLI scores the shift sets right after the main result; a queue worker enqueues them as
follow-up jobs.

Definitions (README "Robustness"):

- drop on condition c = mean over the set's cases i of (unshifted_i - shifted_i) of the
  task's primary metric, signed so that a positive drop is a loss (for a lower-is-better
  metric it is shifted - unshifted), with a percentile-bootstrap 95% CI over cases;
- retained skill on c = (shifted - floor_s) / (unshifted - floor_u), the means over the
  set's phantoms, where floor is the task's best no-skill floor (kind "floor") on that set:
  1 = the model keeps all its skill above the floor, 0 = it falls to the floor. Its 95% CI
  resamples the phantoms (the model's and the floor's values paired);
- robustness (one number per model) = the mean skill above the floor over every
  acquisition-shift condition / the same unshifted (higher is better). It is n/a for a
  floor, for a model without a score on every condition, and for a model whose unshifted
  skill above the floor is not positive at 95%: a model that ignores the image has no skill
  to retain, so it can never look robust. The mean drop is kept beside it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from sonobench.kernel.errors import SonoBenchError

from .metrics import METRICS, aggregate
from .predictions import FORMAT as PREDICTIONS_FORMAT
from .store import queries
from .task_sets import shift_sets
from .tasks import Task

Log = Callable[[str], None]


@dataclass
class ConditionScore:
    condition: str
    task: str
    n: int
    shifted: float
    unshifted: float
    drop: float
    drop_ci_low: float
    drop_ci_high: float
    family: str = "shift"  # "shift" (a re-simulated acquisition) or "corruption" (an image corruption)
    floor_shifted: float | None = None    # the best floor's mean on the same cases (shifted, unshifted)
    floor_unshifted: float | None = None
    retained: float | None = None         # (shifted - floor) / (unshifted - floor), oriented; None: no skill
    retained_ci_low: float | None = None
    retained_ci_high: float | None = None


@dataclass
class RobustnessRow:
    submission_id: int
    name: str
    team: str
    kind: str
    unshifted: float | None
    conditions: dict[str, ConditionScore] = field(default_factory=dict)
    robustness: float | None = None       # retained skill over every acquisition-shift condition
    robustness_ci_low: float | None = None
    robustness_ci_high: float | None = None
    corruption_robustness: float | None = None
    primary: float | None = None          # the task's primary metric on its test split (accuracy)
    mean_drop: float | None = None        # mean drop over the shift conditions, in the metric's unit
    why_none: str | None = None           # why robustness is n/a (a floor; no skill above the floor; ...)
    predictions: bool = False             # scored from prediction files: a condition without masks is "not submitted"

    def to_json(self) -> dict:
        keys = ("submission_id", "name", "team", "kind", "primary", "unshifted", "robustness", "robustness_ci_low",
                "robustness_ci_high", "mean_drop", "corruption_robustness", "why_none", "predictions")
        return {**{k: getattr(self, k) for k in keys},
                "conditions": {c: dataclasses.asdict(s) for c, s in self.conditions.items()}}


DEFINITION = ("retained skill on condition c = (shifted - floor) / (unshifted - floor) of the mean primary metric "
              "on the same phantoms, where floor is the task's best no-skill floor on that set (1 = keeps all its skill "
              "above the floor, 0 = falls to the floor), with a 95% bootstrap CI over phantoms (paired); robustness = "
              "mean skill above the floor over every acquisition-shift condition / the same unshifted (none unless "
              "the model has every condition, and n/a for a floor or a model whose unshifted skill above the floor "
              "is not positive at 95%, i.e. one that may ignore the image); drop = unshifted - shifted (positive = "
              "worse). Rows are ordered by the task's primary metric among models with skill, then those without, "
              "then the floors.")

RESAMPLES = 1000


def stored_variants(store, task: Task) -> list[Task]:
    """The corruption variants of `task` that hold at least one stored result."""
    from .corruptions import CORRUPTIONS, SEVERITIES, variant_id, variant_task

    if task.parent:
        return []
    out = []
    for c in CORRUPTIONS.names():
        for sev in SEVERITIES:
            if store.leaderboard_rows(variant_id(task.id, c, sev), task.version):
                out.append(variant_task(task, c, sev))
    return out


def conditions_of(store, task: Task) -> list[Task]:
    """The shift sets of `task` and its corruption variants that hold results."""
    return shift_sets(task) + stored_variants(store, task)


def _is_floor(row) -> bool:
    return row.get("kind") == "floor"


def robustness_rows(store, task: Task, kind: str = "all", sets: list[Task] | None = None
                    ) -> tuple[list[str], list[RobustnessRow]]:
    """(condition names, one row per scored submission to `task` in its latest version), ordered
    by the task's primary metric among rows with a robustness number, then the rows without one
    (no skill above the floor, a condition missing), then the floors. `sets`:
    `conditions_of(store, task)` when the caller has it already."""
    sets = conditions_of(store, task) if sets is None else sets
    metric = task.primary_metric
    sign = 1.0 if METRICS.get(metric).higher_is_better else -1.0
    everyone = store.leaderboard_rows(task.id, task.version)
    parents = [r for r in everyone if kind == "all" or r["kind"] == kind or _is_floor(r)]
    floors = [r for r in everyone if _is_floor(r)]
    parent_values = queries.case_values(store, [r["submission_id"] for r in parents + floors], metric)
    by_child, reference = {}, None
    for child in sets:
        rows = {r["file_sha256"]: r for r in store.leaderboard_rows(child.id, child.version)}
        values = queries.case_values(store, [r["submission_id"] for r in rows.values()], metric)
        source = {c.id: c.id if child.corruption else c.meta["source_case"] for c in child.cases}
        if child.condition.get("reference"):
            reference = (rows, values, source)
        else:
            by_child[child.condition["name"]] = (child, rows, values, source)
    # the phantoms the shift drops are measured on: "unshifted" is their mean, not the whole test split's
    phantoms = {src for child, _, _, source in by_child.values() if not child.corruption for src in source.values()}
    pairs_of = {p["submission_id"]: _pairs(p, parent_values, reference, by_child) for p in parents + floors}
    floor_pairs = {name: _best_floor(floors, pairs_of, name, sign) for name in by_child}
    out = []
    for p in parents:
        base = _baseline(p, parent_values, reference)
        on = [v for c, v in base.items() if c in phantoms] if phantoms else list(base.values())
        row = RobustnessRow(p["submission_id"], p["name"], p["team"], p["kind"],
                            sum(on) / len(on) if on else p.get(f"{metric}_mean"), primary=p.get(f"{metric}_mean"),
                            predictions=p["kind"] == "submission" and p.get("format") == PREDICTIONS_FORMAT)
        for name, pairs in pairs_of[p["submission_id"]].items():
            child = by_child[name][0]
            drops = [sign * (u - s) for u, s in pairs.values()]
            agg = aggregate(drops)
            row.conditions[name] = ConditionScore(
                name, child.ref, len(pairs), sum(s for _, s in pairs.values()) / len(pairs),
                sum(u for u, _ in pairs.values()) / len(pairs), agg["mean"], agg["ci_low"], agg["ci_high"],
                "corruption" if child.corruption else "shift")
        _retained(row, pairs_of[p["submission_id"]], floor_pairs, by_child, sign)
        row.mean_drop = _mean_drop(row, by_child, "shift")
        row.corruption_robustness = _mean_drop(row, by_child, "corruption")
        out.append(row)
    out.sort(key=lambda r: (r.kind == "floor", r.robustness is None, r.primary is None,
                            -sign * r.primary if r.primary is not None else 0.0))
    return list(by_child), out


def _pairs(parent_row: dict, parent_values: dict, reference, by_child: dict) -> dict[str, dict[str, tuple]]:
    """{condition: {phantom (parent case id): (unshifted, shifted)}} of one model."""
    own = parent_values.get(parent_row["submission_id"], {})
    base = _baseline(parent_row, parent_values, reference)
    out = {}
    for name, (child, rows, values, source) in by_child.items():
        against = own if child.corruption else base  # a corruption corrupts the parent's own images
        r = rows.get(parent_row["file_sha256"])
        if r is None and _is_floor(parent_row) and child.corruption:
            shifted = {cid: own[source[cid]] for cid in source if source[cid] in own}  # input-independent
        elif r is None:
            continue
        else:
            shifted = values.get(r["submission_id"], {})
        pairs = {source[cid]: (against[source[cid]], v) for cid, v in shifted.items() if source.get(cid) in against}
        if pairs:
            out[name] = pairs
    return out


def _best_floor(floors: list[dict], pairs_of: dict, condition: str, sign: float) -> dict[str, tuple] | None:
    """The (unshifted, shifted) pairs of the floor with the best mean on `condition`'s shifted set."""
    scored = [pairs_of[f["submission_id"]][condition] for f in floors if condition in pairs_of[f["submission_id"]]]
    return max(scored, key=lambda pairs: sign * sum(s for _, s in pairs.values()) / len(pairs), default=None)


def _retained(row: RobustnessRow, pairs: dict, floor_pairs: dict, by_child: dict, sign: float) -> None:
    """Fill the row's retained skill per condition and overall, with bootstrap CIs over phantoms."""
    import numpy as np

    if row.kind == "floor":
        row.why_none = "a floor (no skill by construction)"
        return
    conds = [n for n in pairs if floor_pairs.get(n) and set(pairs[n]) & set(floor_pairs[n])]
    if not conds:
        row.why_none = "no floor scored on the shift sets (`sonobench baselines floors TASK`)"
        return
    phantoms = sorted({c for n in conds for c in pairs[n] if c in floor_pairs[n]})
    index = {c: i for i, c in enumerate(phantoms)}
    weights = np.vstack([np.ones(len(phantoms)),
                         np.random.default_rng(0).multinomial(len(phantoms), [1 / len(phantoms)] * len(phantoms),
                                                              RESAMPLES)])
    skill_u, skill_s = [], []
    for n in conds:
        common = [c for c in pairs[n] if c in floor_pairs[n]]
        cols = [index[c] for c in common]
        u = sign * np.array([pairs[n][c][0] - floor_pairs[n][c][0] for c in common])
        s = sign * np.array([pairs[n][c][1] - floor_pairs[n][c][1] for c in common])
        w = weights[:, cols]
        total = np.maximum(w.sum(axis=1), 1e-12)
        skill_u.append((w @ u) / total)
        skill_s.append((w @ s) / total)
        ratio = _ratio(skill_s[-1], skill_u[-1])
        score = row.conditions[n]
        score.floor_unshifted = float(np.mean([floor_pairs[n][c][0] for c in common]))
        score.floor_shifted = float(np.mean([floor_pairs[n][c][1] for c in common]))
        if ratio is not None:
            score.retained, score.retained_ci_low, score.retained_ci_high = ratio
    shift_names = [n for n, (child, *_) in by_child.items() if not child.corruption]
    if any(n not in conds for n in shift_names) or not shift_names:
        row.why_none = "not scored on every acquisition-shift condition"
        return
    keep = [i for i, n in enumerate(conds) if n in shift_names]
    overall = _ratio(np.mean([skill_s[i] for i in keep], axis=0), np.mean([skill_u[i] for i in keep], axis=0))
    if overall is None:
        row.why_none = "no skill above the floor on the unshifted images (it may ignore the image)"
        return
    row.robustness, row.robustness_ci_low, row.robustness_ci_high = overall


def _ratio(shifted, unshifted) -> tuple[float, float, float] | None:
    """(ratio on the full sample, its 95% percentile interval) of shifted/unshifted skill (row 0 =
    the full sample, the rest bootstrap resamples); None unless the unshifted skill is positive in
    at least 97.5% of the resamples (its lower 95% bound above 0)."""
    import numpy as np

    if not (unshifted[0] > 0 and np.quantile(unshifted[1:], 0.025) > 0):
        return None
    boot = shifted[1:] / unshifted[1:]
    return float(shifted[0] / unshifted[0]), float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def _mean_drop(row: RobustnessRow, by_child: dict, family: str) -> float | None:
    names = [n for n, (child, *_) in by_child.items() if bool(child.corruption) == (family == "corruption")]
    if not names or any(n not in row.conditions for n in names):
        return None
    return sum(row.conditions[n].drop for n in names) / len(names)


def _baseline(parent_row: dict, parent_values: dict, reference) -> dict[str, float]:
    """{parent case id: unshifted value}: from the reference shift set (the same pipeline as the
    shifted sets) when the task has one, else from the parent's own test images."""
    if reference is None:
        return parent_values.get(parent_row["submission_id"], {})
    rows, values, source = reference
    r = rows.get(parent_row["file_sha256"])
    if r is None:
        return {}
    return {source[cid]: v for cid, v in values.get(r["submission_id"], {}).items()}


def _skill_cell(value, low, high) -> str:
    return "n/a" if value is None else f"{value:.2f} [{low:.2f},{high:.2f}]"


def table(conditions: list[str], rows: list[RobustnessRow], metric: str = "primary") -> list[dict]:
    """Printable rows: the primary metric (accuracy), per condition 'shifted, retained skill [CI]',
    then the overall robustness (retained skill) and the mean drop."""
    out = []
    corruption = any(s.family == "corruption" for row in rows for s in row.conditions.values())
    for r in rows:
        line = {"name": r.name + (" [floor]" if r.kind == "floor" else ""), "team": r.team, "kind": r.kind,
                metric: "missing" if r.primary is None else f"{r.primary:.4f}",
                "unshifted": "missing" if r.unshifted is None else f"{r.unshifted:.4f}"}
        for c in conditions:
            s = r.conditions.get(c)
            line[c] = (("not submitted" if r.predictions else "not scored") if s is None else
                       f"{s.shifted:.3f} (skill {_skill_cell(s.retained, s.retained_ci_low, s.retained_ci_high)})"
                       if r.kind != "floor" else f"{s.shifted:.3f} (n/a)")
        line["robustness"] = _skill_cell(r.robustness, r.robustness_ci_low, r.robustness_ci_high)
        line["mean drop"] = "-" if r.mean_drop is None else f"{r.mean_drop:+.4f}"
        if corruption:
            line["corruption drop"] = "-" if r.corruption_robustness is None else f"{r.corruption_robustness:+.4f}"
        line["id"] = r.submission_id
        out.append(line)
    return out


def require_conditions(store, task: Task) -> list[Task]:
    """The shift sets and scored corruption variants of `task`, or an error saying how to get some."""
    sets = conditions_of(store, task)
    if not sets:
        raise SonoBenchError(f"task {task.ref} has no acquisition-shift sets (tasks whose task.json names "
                             f"\"parent\": \"{task.ref}\"; `sonobench tasks` lists what exists) and no scored "
                             "image corruptions (`sonobench submit MODEL --task TASK --corruptions all`)")
    return sets
