"""Acquisition-shift robustness: score every submission to a task on its shift sets, and
tabulate how much each model degrades.

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
- robustness (one number per model) = the mean drop over all the task's conditions, in the
  primary metric's unit; lower is better, <= 0 means no loss. A model without a score on
  every condition has none.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from .errors import AlreadyScored, SonoBenchError
from .metrics import METRICS, aggregate
from .private import is_private
from .store import queries
from .tasks import Task, children_of

Log = Callable[[str], None]


def shift_sets(task: Task) -> list[Task]:
    """The acquisition-shift sets of `task` (none for a shift set itself)."""
    return [] if task.parent else children_of(task)


def follow_up_sets(task: Task, request) -> list[Task]:
    """What a test submission to `task` is scored on after its main result: every shift set,
    then the corruption variants the request opted into (none by default)."""
    from .private import split_of

    private = split_of(task)  # the operator's hidden test split: the official ranks (evaluator.private)
    sets = shift_sets(task) + ([private] if private is not None else [])
    if request.corruptions and not task.parent:
        from .corruptions import suite

        sets += suite(task, request.corruptions)
    return sets


def follow_up(request, child: Task, parent_submission_id: int):
    """The parent's `Request`, aimed at `child` and marked as a follow-up (not charged)."""
    meta = {**request.extra_meta, "follow_up_of": int(parent_submission_id),
            "condition": child.condition.get("name")}
    return dataclasses.replace(request, task=child.ref, split="test", follow_up_of=int(parent_submission_id),
                               corruptions=None, extra_meta=meta)


@dataclass
class ShiftOutcome:
    task: str
    condition: str
    submission_id: int | None = None
    primary: float | None = None
    error: str | None = None
    already: bool = False
    state: str | None = None  # of the earlier submission when `already` (queued, running, done, failed)
    hidden: bool = False      # a hidden test split's score, not told to a hosted team


def score_shifts(store, task: Task, sub, request, settings, parent_submission_id: int, *,
                 log: Log | None = None) -> list[ShiftOutcome]:
    """Evaluate `sub` on each follow-up set of `task` (`follow_up_sets`), one after the other,
    after its main result. A failure on one set is recorded on that set's row and does not stop
    the others."""
    from .evaluate import evaluate

    out = []
    for child in follow_up_sets(task, request):
        name = child.condition.get("name") or "private test split"
        o = ShiftOutcome(child.ref, name)
        try:
            done = evaluate(store, child, sub, settings=settings, request=follow_up(request, child, parent_submission_id))
            o.submission_id, o.primary = done.submission_id, done.result.get(f"{child.primary_metric}_mean")
            if settings.require_auth and is_private(child):  # a team cannot probe the hidden split's score
                o.primary, o.hidden = None, True
        except AlreadyScored as e:
            o.submission_id, o.already = e.submission_id, True
            o.state = (store.submission(e.submission_id) or {}).get("status")
        except SonoBenchError as e:
            o.error = str(e)
        out.append(o)
        if log:
            log(_outcome_line(o, child))
    return out


def enqueue_shifts(store, task: Task, sub, request, settings, parent_submission_id: int) -> list[int]:
    """Queue one follow-up job per shift set (for a worker); returns the job ids queued."""
    from .queue import enqueue

    jobs = []
    for child in follow_up_sets(task, request):
        try:
            jobs.append(enqueue(store, child, sub, settings, follow_up(request, child, parent_submission_id)).job_id)
        except AlreadyScored:
            continue
    return jobs


_ALREADY = {"done": "already scored", "queued": "already queued, not scored yet: `sonobench worker` runs it",
            "running": "being scored now", "failed": "failed earlier (`sonobench status` says why)"}


def _outcome_line(o: ShiftOutcome, child: Task) -> str:
    what = f"shift '{o.condition}'" if child.condition else o.condition
    if o.error:
        return f"  {what} ({o.task}): failed - {o.error}"
    if o.already:
        return f"  {what} ({o.task}): {_ALREADY.get(o.state, 'already submitted')} (submission {o.submission_id})"
    if o.hidden:
        return f"  {what}: scored; its score is hidden (the official board ranks on it)"
    return f"  {what} ({o.task}): {child.primary_metric} {o.primary:.4f} (submission {o.submission_id})"


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


@dataclass
class RobustnessRow:
    submission_id: int
    name: str
    team: str
    kind: str
    unshifted: float | None
    conditions: dict[str, ConditionScore] = field(default_factory=dict)
    robustness: float | None = None
    corruption_robustness: float | None = None

    def to_json(self) -> dict:
        return {**{k: getattr(self, k) for k in ("submission_id", "name", "team", "kind", "unshifted", "robustness",
                                                 "corruption_robustness")},
                "conditions": {c: dataclasses.asdict(s) for c, s in self.conditions.items()}}


DEFINITION = ("drop = mean over the shift set's cases of (unshifted - shifted) primary metric on the same phantom "
              "(positive = worse), 95% bootstrap CI over cases; robustness = the mean drop over all acquisition-shift "
              "conditions (lower is better; none unless the model has every condition); corruption robustness = the "
              "same over the image corruptions scored for this task (opt-in), none unless the model has them all.")


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


def robustness_rows(store, task: Task, kind: str = "all", sets: list[Task] | None = None
                    ) -> tuple[list[str], list[RobustnessRow]]:
    """(condition names, one row per scored submission to `task` in its latest version), best
    robustness first; rows lacking a condition come last. `sets`: `conditions_of(store, task)`
    when the caller has it already."""
    sets = conditions_of(store, task) if sets is None else sets
    metric = task.primary_metric
    sign = 1.0 if METRICS.get(metric).higher_is_better else -1.0
    parents = [r for r in store.leaderboard_rows(task.id, task.version) if kind == "all" or r["kind"] == kind]
    parent_values = queries.case_values(store, [r["submission_id"] for r in parents], metric)
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
    out = []
    for p in parents:
        own = parent_values.get(p["submission_id"], {})
        base = _baseline(p, parent_values, reference)
        on = [v for c, v in base.items() if c in phantoms] if phantoms else list(base.values())
        row = RobustnessRow(p["submission_id"], p["name"], p["team"], p["kind"],
                            sum(on) / len(on) if on else p.get(f"{metric}_mean"))
        for name, (child, rows, values, source) in by_child.items():
            r = rows.get(p["file_sha256"])
            if r is None:
                continue
            shifted = values.get(r["submission_id"], {})
            against = own if child.corruption else base  # a corruption corrupts the parent's own images
            pairs = [(against[source[cid]], v) for cid, v in shifted.items() if source.get(cid) in against]
            if not pairs:
                continue
            drops = [sign * (u - s) for u, s in pairs]
            agg = aggregate(drops)
            row.conditions[name] = ConditionScore(
                name, child.ref, len(pairs), sum(s for _, s in pairs) / len(pairs),
                sum(u for u, _ in pairs) / len(pairs), agg["mean"], agg["ci_low"], agg["ci_high"],
                "corruption" if child.corruption else "shift")
        row.robustness = _mean_drop(row, by_child, "shift")
        row.corruption_robustness = _mean_drop(row, by_child, "corruption")
        out.append(row)
    out.sort(key=lambda r: (r.robustness is None, r.robustness if r.robustness is not None else 0.0))
    return list(by_child), out


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


def table(conditions: list[str], rows: list[RobustnessRow]) -> list[dict]:
    """Printable rows: per condition 'shifted (drop [CI])', then the robustness number."""
    out = []
    for r in rows:
        line = {"name": r.name, "team": r.team, "kind": r.kind,
                "unshifted": "missing" if r.unshifted is None else f"{r.unshifted:.4f}"}
        for c in conditions:
            s = r.conditions.get(c)
            line[c] = ("not scored" if s is None else
                       f"{s.shifted:.3f} (drop {s.drop:+.3f} [{s.drop_ci_low:+.3f},{s.drop_ci_high:+.3f}])")
        line["robustness"] = "-" if r.robustness is None else f"{r.robustness:+.4f}"
        if any(s.family == "corruption" for row in rows for s in row.conditions.values()):
            line["corruption robustness"] = ("-" if r.corruption_robustness is None
                                             else f"{r.corruption_robustness:+.4f}")
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
