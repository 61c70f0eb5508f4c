"""Scoring and storing a prediction submission: the intake's prediction branch.

`sonobench.evaluator.intake.submit` hands a request with `predictions=True` to `submit` here. The masks
(decoded under the limits of `sonobench.evaluator.predictions`, the main split's and those of any shift
set the submission has a sub-folder for) are scored by the per-case function every model output
goes through and the same aggregation and row builder (`sonobench.evaluator.result_row`), and committed by
the pipeline's `evaluate.commit`: one transaction per result, a row created only once its masks
have been scored, so a refused submission stores nothing.

A shift set is scored only when the submission has masks for it (a complete `<set id>/` folder);
its row is a follow-up of the main one (same content digest, never charged to a quota), which
is how the robustness view pairs it. A set without masks is "not submitted".
"""
from __future__ import annotations

import time

from sonobench.kernel.errors import AlreadyScored, SonoBenchError

from .evaluate import Attempt, commit
from .follow_ups import ShiftOutcome
from .outcome import ALREADY_SCORED, ALREADY_SUBMITTED, SCORED, IntakeOutcome
from .predictions import FORMAT, Masks, PredictionsRefused, load, shift_sets_for
from .result_row import aggregate, result_row, score_masks
from .store import jobs as store_jobs
from .sweeps import task as sweep_task
from .tasks import Task, verify_task


def _score(task: Task, masks: Masks, split: str, labels_root, settings) -> tuple[dict, list[dict]]:
    """The result row and per-case rows, by the functions a model's outputs are scored with."""
    from .scoring import private_cases

    t0 = time.monotonic()
    scored = score_masks(task, task.split(split), masks.masks, labels_root)
    columns = aggregate(task, scored.per_case, scored.case_ids)
    columns.update(sweep_task.result_columns(task, masks.masks))  # a sweep set's 3D scores ({} elsewhere)
    result = result_row(
        task, split=split, n_cases=len(scored.case_ids), columns=columns,
        complexity={"params": None, "gflops": None, "source": "prediction files: no model, no complexity"},
        hardware={"source": "prediction files decoded and scored by the evaluator; no model ran"},
        wall_s=time.monotonic() - t0, private_cases=private_cases(task, split, settings),
        test_predictions=scored.pngs if split == "test" else {})
    return result, scored.rows


def refuse_hidden(task: Task, settings) -> None:
    """A task with a hidden test split takes prediction files only when the operator allows it."""
    from .private_split import split_of

    hidden = task.test_labels_private or split_of(task) is not None
    if hidden and not settings.predictions_on_hidden_split:
        raise PredictionsRefused(f"{task.ref} has a hidden test split, and this leaderboard does not take prediction "
                                 "files on such a task (operator setting predictions_on_hidden_split); submit a "
                                 "model instead. Nothing was stored.")


def _store(store, task: Task, masks: Masks, sha: str, split: str, row: dict, settings, labels_root, *,
           follow_up_of: int | None = None) -> int:
    """Verify, score, then create the row and commit its result (AlreadyScored for a repeat)."""
    store.refuse_duplicate(sha, task, row["filename"], team_id=row["team_id"])
    verify_task(task, splits=(split,), labels_root=labels_root)
    result, rows = _score(task, masks, split, labels_root, settings)
    store_jobs.register_task(store, task)
    meta = {"split": split, "predictions": len(masks.masks)}
    if follow_up_of is not None:
        meta.update(follow_up_of=int(follow_up_of), condition=task.condition.get("name"))
    sid, _ = store_jobs.create_submission(store, settings, charged=follow_up_of is None, file_sha256=sha, fmt=FORMAT,
                                          task=task, meta=meta, **row)
    commit(store, sid, Attempt(result=result, rows=rows))
    return sid


def submit(store, task: Task, req, spec: dict, who, request, settings, *, log=None, on_result=None):
    """Decode, score and store the main masks (a repeat of the same masks is not scored twice),
    then each shift set the submission has masks for."""
    refuse_hidden(task, settings)
    if request.corruptions:
        raise SonoBenchError("--corruptions corrupts the images a model is fed; prediction files have no model to "
                             "feed, so submit them without it. Nothing was stored.")
    sets = shift_sets_for(task, request.split)
    masks, shifted = load(req.path, task, request.split, sets)  # every file checked before anything is stored
    name = (req.name or spec.get("name") or req.path.stem)[:200]
    row = {"filename": req.path.name, "name": name, "team": (who.team or spec.get("team") or "")[:100],
           "kind": request.kind, "team_id": who.team_id}
    try:
        sid = _store(store, task, masks, masks.sha256, request.split, row, settings, request.labels_root)
        outcome = IntakeOutcome(task, name, SCORED, sid, store.result_for(sid), predictions=True)
    except AlreadyScored as e:
        res = store.result_for(e.submission_id)
        outcome = IntakeOutcome(task, name, ALREADY_SCORED if res else ALREADY_SUBMITTED, e.submission_id, res,
                                predictions=True)
    if on_result:
        on_result(outcome)
    if outcome.result and sets:
        outcome.shifts = _shift_outcomes(store, sets, shifted, masks.sha256, row, settings, outcome.submission_id, log)
    return outcome


def _shift_outcomes(store, sets, shifted: dict, sha: str, row: dict, settings, parent: int, log) -> list:
    """Score the shift sets that have masks; the others are 'not submitted'."""
    if log:
        log(f"Acquisition-shift sets ({len(shifted)} of {len(sets)} submitted; "
            "`sonobench leaderboard TASK --view robustness` shows the drops):")
    out = []
    for child in sets:
        o = ShiftOutcome(child.ref, child.condition.get("name") or child.id)
        if child.id not in shifted:
            o.error, line = "not submitted", f"not submitted (no {child.id}/ folder of masks)"
        else:
            try:
                o.submission_id = _store(store, child, shifted[child.id], sha, "test", row, settings, None,
                                         follow_up_of=parent)
                o.primary = store.result_for(o.submission_id)[f"{child.primary_metric}_mean"]
                line = f"{child.primary_metric} {o.primary:.4f} (submission {o.submission_id})"
            except AlreadyScored as e:
                o.submission_id, o.already, line = e.submission_id, True, f"already scored (submission {e.submission_id})"
            except SonoBenchError as e:
                o.error, line = str(e), f"failed - {e}"
        out.append(o)
        if log:
            log(f"  shift '{o.condition}' ({child.ref}): {line}")
    return out
