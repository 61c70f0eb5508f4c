"""Re-score stored results without running any model: a metric added (or a definition
corrected) after a result was scored is computed from the result's stored test predictions
and the task's frozen labels.

Two cases:
- a result scored (or last re-scored) by an evaluator older than `POLICY_VERSION` follows an
  older scoring policy (a class absent from both masks scored Dice 1; single-tolerance surface
  metrics): every per-case value and aggregate is recomputed from its stored predictions under
  today's policy (see `sonobench.evaluator.metrics.case`). Its stored TP/FP/FN counts, and every value
  whose definition did not change, must agree with the recomputation (to 1e-9), else the result
  is left untouched and reported. Without stored predictions, the policy is applied from the
  stored counts: values of classes absent from a case's reference become NULL (not applicable),
  the aggregates of the metrics every present class has are recomputed, and the others become
  missing (NULL) instead of keeping a number scored under the old policy.
- a current result lacking a metric (NULL where the class is in the reference: 'missing')
  gets it from its stored predictions; no existing number changes.

Each result is re-scored in one transaction; the evaluator version and time are recorded on it
(`rescored_version`, `rescored_at`). Image-level detection rates need only the stored counts.
Running it twice changes nothing the second time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sonobench.evaluator import __version__
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError

from . import tasks as tasks_mod
from .metrics import (
    METRICS,
    InvalidMetricInput,
    detection_metrics,
    per_case_metrics,
    present,
    summarize_metric,
)
from .scoring import score_prediction
from .store import Store, migrations
from .summary import AGGREGATE_KEYS, detection_columns, summary_columns

_TOLERANCE = 1e-9
_COUNTS = ("tp", "fp", "fn")
# The evaluator version that introduced the class-absent policy and the multi-tolerance surface
# metrics; results scored before it are re-scored in full.
POLICY_VERSION = "0.2.0"
# Metrics whose definition on a class present in the reference changed at POLICY_VERSION (so
# their stored values are not checked against the recomputation, only replaced): the thin-structure
# scores at the surface tolerance, now averaged over four tolerances up to it.
REDEFINED = tuple(m for m in per_case_metrics() if METRICS.get(m).tolerance == "surface_tolerance")


def _version(text) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        return (0,)


def outdated(res: dict) -> bool:
    """True when `res` was scored (or last re-scored) under a policy older than today's."""
    return _version(res.get("rescored_version") or res.get("evaluator_version")) < _version(POLICY_VERSION)


@dataclass
class RescoreReport:
    filled: list[tuple[int, list[str]]] = field(default_factory=list)   # (submission id, metrics filled)
    up_to_date: list[int] = field(default_factory=list)
    policy: list[tuple[int, list[str]]] = field(default_factory=list)   # (id, metrics recomputed) under today's policy
    skipped: list[tuple[int, str]] = field(default_factory=list)        # (submission id, why)


def rescore(store: Store, task_id: str | None = None, labels_root=None) -> RescoreReport:
    report = RescoreReport()
    sql = ("select r.*, s.id as sid from results r join submissions s on s.id = r.submission_id "
           "where s.status = 'done'" + (" and r.task_id = ?" if task_id else "") + " order by r.id")
    results = [dict(r) for r in store.db.query(sql, [task_id] if task_id else [])]
    tasks: dict[tuple[str, int], object] = {}
    for res in results:
        try:
            if outdated(res):
                report.policy.append((res["sid"], _rescore_policy(store, res, tasks, labels_root)))
                continue
            filled = _rescore_one(store, res, tasks, labels_root)
        except _Skip as e:
            report.skipped.append((res["sid"], str(e)))
            continue
        (report.filled.append((res["sid"], filled)) if filled else report.up_to_date.append(res["sid"]))
    return report


class _Skip(Exception):
    pass


def _missing_case_metrics(store: Store, rid: int) -> list[str]:
    """Metrics NULL on a class the case's reference has (missing; NULL elsewhere is 'not applicable')."""
    out = []
    for m in per_case_metrics():
        n = next(iter(store.db.query(f"select count(*) n from case_results where result_id = ? and {m} is null "
                                     "and tp + fn > 0", [rid])))["n"]
        if n:
            out.append(m)
    return out


def _rescore_one(store: Store, res: dict, tasks: dict, labels_root) -> list[str]:
    rid = res["id"]
    rows = [dict(r) for r in store.db.query("select * from case_results where result_id = ? order by case_id, "
                                            "class_index", [rid])]
    missing = _missing_case_metrics(store, rid)
    updates: dict = {}
    per_class = json.loads(res["per_class"]) if res.get("per_class") else {}
    if missing:
        predictions = {r["case_id"]: r["png"] for r in
                       store.db.query("select case_id, png from predictions where result_id = ?", [rid])}
        if not predictions:
            why = (f"it has no stored test predictions (scored before they were kept), so {', '.join(missing)} "
                   "cannot be computed; they stay missing until the model is scored again")
            return _fill_detection_only(store, res, rows, per_class, why)
        task = _task(tasks, res, labels_root)
        scores = _recompute(task, rows, predictions, labels_root)
        _check_agrees(rows, scores)
        for r in rows:
            for m in missing:
                if r[m] is None and present(r):
                    r[m] = scores[r["case_id"]][r["class_index"]][m]
        by_case = _by_case(rows)
        cols = summary_columns(task, [by_case[c] for c in sorted(by_case)], sorted(by_case))
        for m in missing:
            for k in AGGREGATE_KEYS:
                if res.get(f"{m}_{k}") is None:
                    updates[f"{m}_{k}"] = cols[f"{m}_{k}"]
            for name, entry in cols["per_class"].items():
                per_class.setdefault(name, {}).setdefault(m, entry[m])
        for m in missing:  # the tolerance a filled metric was scored at (the registry names its column)
            col = METRICS.get(m).tolerance
            if col and res.get(col) is None:
                updates[col] = cols[col]
    filled = list(missing) + _detection_updates(res, rows, per_class, updates)
    if not filled:
        return []
    _write(store, rid, rows, missing, per_class, updates)
    return filled


def _rescore_policy(store: Store, res: dict, tasks: dict, labels_root) -> list[str]:
    """Re-score a result scored under an older policy (see the module docstring); returns the
    metrics recomputed in full."""
    rid = res["id"]
    rows = [dict(r) for r in store.db.query("select * from case_results where result_id = ? order by case_id, "
                                            "class_index", [rid])]
    predictions = {r["case_id"]: r["png"] for r in
                   store.db.query("select case_id, png from predictions where result_id = ?", [rid])}
    task = None
    if predictions:
        try:
            task = _task(tasks, res, labels_root)
        except _Skip:
            task = None  # the labels are not here: the policy from the counts, as without predictions;
            # what stays missing is filled by a later run where the labels are
    if task is None:
        done, per_class, updates = policy_from_counts(res, rows)
    else:
        scores = _recompute(task, rows, predictions, labels_root)
        _check_agrees(rows, scores, skip=REDEFINED)
        for r in rows:
            r.update({m: scores[r["case_id"]][r["class_index"]][m] for m in per_case_metrics()})
        by_case = _by_case(rows)
        updates = summary_columns(task, [by_case[c] for c in sorted(by_case)], sorted(by_case))
        per_class, done = updates.pop("per_class"), list(per_case_metrics())
    _write(store, rid, rows, list(per_case_metrics()), per_class, updates, overwrite=True)
    return done


def policy_from_counts(res: dict, rows: list[dict]) -> tuple[list[str], dict, dict]:
    """Today's policy applied to stored per-case `rows` (edited in place) without predictions:
    (the metrics whose aggregates could be recomputed, the per-class JSON, the result columns).
    A metric some present class lacks, or whose definition changed (`REDEFINED`), gets NULL
    aggregates (missing) instead of old numbers."""
    from .metrics.detection import detection_rates

    for r in rows:
        # absent classes: not applicable; redefined metrics: their stored values follow the old
        # definition, so they become missing (filled later from predictions, where there are some)
        r.update(dict.fromkeys(per_case_metrics() if not present(r) else REDEFINED))
    by_class: dict[int, list[dict]] = {}
    for r in rows:
        by_class.setdefault(r["class_index"], []).append(r)
    old = json.loads(res["per_class"]) if isinstance(res.get("per_class"), str) else (res.get("per_class") or {})
    names = _class_names(res, old, by_class)
    classes = ["background"] + [names.get(c, f"class {c}") for c in range(1, max(by_class) + 1)]
    by_case = _by_case(rows)
    per_case = [by_case[c] for c in sorted(by_case)]
    per_class = {names[c]: {"index": c} for c in sorted(by_class)}
    updates, done = {}, []
    for m in per_case_metrics():
        try:
            s = summarize_metric(per_case, classes, m)
        except InvalidMetricInput:
            s = None  # some present class lacks it (scored before it existed): missing
        updates.update({f"{m}_{k}": (s["macro"][k] if s else None) for k in AGGREGATE_KEYS})
        if s:
            done.append(m)
            for c in by_class:
                per_class[names[c]][m] = s["per_class"][names[c]]
    for c, class_rows in by_class.items():
        per_class[names[c]].update(detection_rates(class_rows))
    updates.update(detection_columns({names[c]: per_class[names[c]] for c in sorted(by_class)}))
    return done, per_class, updates


def _detection_updates(res: dict, rows: list[dict], per_class: dict, updates: dict) -> list[str]:
    """Detection rates from the stored counts, when the result lacks them: fills `updates` and
    `per_class` in place and returns the metric names filled."""
    if any(res.get(f"{m}_n") is not None for m in detection_metrics()):
        return []
    from .metrics.detection import detection_rates

    by_class: dict[int, list[dict]] = {}
    for r in rows:
        by_class.setdefault(r["class_index"], []).append(r)
    names = _class_names(res, per_class, by_class)
    for c, name in names.items():
        for k, v in detection_rates(by_class[c]).items():
            per_class.setdefault(name, {}).setdefault(k, v)
    updates.update(detection_columns({name: per_class[name] for name in names.values()}))
    return list(detection_metrics())


def _fill_detection_only(store: Store, res: dict, rows: list[dict], per_class: dict, why: str):
    updates: dict = {}
    if _detection_updates(res, rows, per_class, updates):
        _write(store, res["id"], rows, [], per_class, updates)
        raise _Skip(f"filled sensitivity, specificity from the stored counts; {why}")
    raise _Skip(why)


def _write(store: Store, rid: int, rows: list[dict], missing: list[str], per_class: dict, updates: dict,
           overwrite: bool = False) -> None:
    """One transaction: the missing per-case values (only where still NULL; every value with
    `overwrite`), then the result row."""
    updates.update(per_class=json.dumps(per_class), rescored_at=migrations.now(), rescored_version=__version__)
    new = "?" if overwrite else "coalesce({m}, ?)"
    with store.immediate():
        for r in rows:
            if missing:
                sets = {m: r[m] for m in missing}
                store.db.execute(
                    "update case_results set " + ", ".join(f"{m} = " + new.format(m=m) for m in sets)
                    + " where result_id = ? and case_id = ? and class_index = ?",
                    [*sets.values(), rid, r["case_id"], r["class_index"]])
        store.db["results"].update(rid, updates)


def _task(tasks: dict, res: dict, labels_root):
    key = (res["task_id"], res["task_version"])
    if key not in tasks:
        try:
            task = tasks_mod.get_task(f"{key[0]}@{key[1]}")
        except SonoBenchError as e:
            raise _Skip(f"its task {key[0]}@{key[1]} cannot be loaded here ({e})") from None
        if task.digest != res["manifest_digest"]:
            raise _Skip(f"it was scored on manifest {res['manifest_digest'][:12]}… but {task.ref} on disk has "
                        f"{task.digest[:12]}…")
        try:
            tasks_mod.verify_task(task, splits=(res["split"],), labels_root=labels_root)
        except SonoBenchError as e:
            raise _Skip(f"the labels of {task.ref} do not verify: {e}") from None
        tasks[key] = task
    return tasks[key]


def _recompute(task, rows, predictions, labels_root) -> dict[str, dict[int, dict]]:
    cases = {c.id: c for c in task.split("test")} | {c.id: c for c in task.split("val")}
    out = {}
    for case_id in sorted({r["case_id"] for r in rows}):
        if case_id not in predictions or case_id not in cases:
            raise _Skip(f"case {case_id} has no stored prediction or is not in the task")
        pred = imageio.decode_png(predictions[case_id])
        out[case_id] = score_prediction(task, cases[case_id], pred, labels_root)
    return out


def _check_agrees(rows, scores, skip=()) -> None:
    for r in rows:
        new = scores[r["case_id"]][r["class_index"]]
        for k in per_case_metrics() + _COUNTS:
            if k in skip or (k not in _COUNTS and not present(r)):
                continue
            if new[k] is None and r.get(k) is not None:
                raise _Skip(f"re-scoring its stored predictions gives no {k} for case {r['case_id']} (stored: {r[k]!r})")
            if r.get(k) is not None and abs(float(r[k]) - float(new[k])) > _TOLERANCE * max(1.0, abs(float(r[k]))):
                raise _Skip(f"re-scoring its stored predictions gives {k} = {new[k]!r} for case {r['case_id']} "
                            f"(stored: {r[k]!r}); nothing was changed - the stored numbers and today's "
                            "definition disagree, which needs a look before any re-scoring")


def _by_case(rows) -> dict[str, dict[int, dict]]:
    out: dict[str, dict[int, dict]] = {}
    for r in rows:
        out.setdefault(r["case_id"], {})[r["class_index"]] = r
    return out


def _class_names(res: dict, per_class: dict, by_class: dict) -> dict[int, str]:
    """class index -> name, from the per-class JSON (which records each class's index)."""
    names = {}
    for name, entry in per_class.items():
        idx = entry.get("index") if isinstance(entry, dict) else None
        if isinstance(idx, int):
            names[idx] = name
    ordered = list(per_class)
    for k, c in enumerate(sorted(by_class)):
        names.setdefault(c, ordered[k] if k < len(ordered) else f"class {c}")
    return {c: names[c] for c in sorted(by_class)}
