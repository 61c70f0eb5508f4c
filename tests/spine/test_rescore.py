"""`sonobench rescore`: new metrics are filled from stored predictions, nothing existing
changes, results that cannot be re-scored are reported with the reason, and a second run
changes nothing; a result scored under the old policy (an absent class scored Dice 1) is
re-scored under today's, from its predictions or, without them, from its counts."""
import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator import __version__
from sonobench.evaluator.evaluate import evaluate
from sonobench.evaluator.metrics import per_case_metrics, summary_columns
from sonobench.evaluator.rescore import REDEFINED, rescore
from sonobench.evaluator.submission import prepare

from . import onnx_models

NEW_CASE = ("nsd", "assd")
NEW_RESULT = tuple(f"{m}_{k}" for m in NEW_CASE for k in ("mean", "std", "ci_low", "ci_high")) + (
    "sensitivity", "sensitivity_ci_low", "sensitivity_ci_high", "sensitivity_n",
    "specificity", "specificity_ci_low", "specificity_ci_high", "specificity_n", "nsd_tolerance")


def _as_before_this_change(store, rid, drop_predictions=False):
    """Make a result look like one scored before NSD/ASSD/detection existed."""
    db = store.db
    db.execute("update case_results set nsd = null, assd = null where result_id = ?", [rid])
    db.execute("update results set " + ", ".join(f"{c} = null" for c in NEW_RESULT) + " where id = ?", [rid])
    pc = json.loads(db["results"].get(rid)["per_class"])
    for entry in pc.values():
        for k in ("nsd", "assd", "sensitivity", "specificity"):
            entry.pop(k, None)
    db["results"].update(rid, {"per_class": json.dumps(pc)})
    if drop_predictions:
        db.execute("delete from predictions where result_id = ?", [rid])
    db.conn.commit()


def _numbers(store, rid):
    res = dict(store.db["results"].get(rid))
    cases = [dict(r) for r in store.db.query("select * from case_results where result_id = ? order by case_id, "
                                             "class_index", [rid])]
    return res, cases


def test_rescore_fills_new_metrics_and_changes_no_existing_number(file_store, toy_task, toy_onnx, tmp_path):
    a = evaluate(file_store, toy_task, prepare(toy_onnx, name="a"))
    b = evaluate(file_store, toy_task, prepare(onnx_models.scaled_identity(tmp_path / "b.onnx"), name="b"))
    rid_a, rid_b = a.result["id"], b.result["id"]
    scored_a, scored_cases_a = _numbers(file_store, rid_a)   # as the evaluator stored them
    assert scored_a["nsd_mean"] is not None
    assert all((c["nsd"] is not None) == (c["tp"] + c["fn"] > 0) for c in scored_cases_a)  # NULL: not applicable
    assert file_store.db["predictions"].count == 2 * len(toy_task.split("test"))
    _as_before_this_change(file_store, rid_a)
    _as_before_this_change(file_store, rid_b, drop_predictions=True)
    before_a, cases_before_a = _numbers(file_store, rid_a)
    before_b, _ = _numbers(file_store, rid_b)

    report = rescore(file_store)
    assert report.filled == [(a.submission_id, ["nsd", "assd", "sensitivity", "specificity"])]
    assert [sid for sid, _ in report.skipped] == [b.submission_id]
    assert "no stored test predictions" in report.skipped[0][1]

    after_a, cases_after_a = _numbers(file_store, rid_a)
    # the filled values are exactly what the evaluator computed when it scored the model
    for col in NEW_RESULT:
        assert after_a[col] == scored_a[col], col
    for got, want in zip(cases_after_a, scored_cases_a):
        assert got["nsd"] == want["nsd"] and got["assd"] == want["assd"]
    # and no number that existed before changed
    for col, value in before_a.items():
        if value is not None and col not in ("per_class", "rescored_at", "rescored_version"):
            assert after_a[col] == value, col
    for got, had in zip(cases_after_a, cases_before_a):
        assert {k: v for k, v in got.items() if k not in NEW_CASE} == {k: v for k, v in had.items() if k not in NEW_CASE}
    assert after_a["rescored_version"] and after_a["rescored_at"]
    # without predictions: detection rates come from the counts, the surface metrics stay missing (never 0)
    after_b, cases_b = _numbers(file_store, rid_b)
    assert after_b["nsd_mean"] is None and all(c["nsd"] is None for c in cases_b)
    assert after_b["sensitivity_n"] is not None and after_b["dice_mean"] == before_b["dice_mean"]

    again = rescore(file_store)  # idempotent
    assert again.filled == [] and again.up_to_date == [a.submission_id]
    assert _numbers(file_store, rid_a) == (after_a, cases_after_a)


def test_rescore_refuses_when_stored_numbers_disagree(file_store, toy_task, toy_onnx):
    out = evaluate(file_store, toy_task, prepare(toy_onnx))
    rid = out.result["id"]
    _as_before_this_change(file_store, rid)
    file_store.db.execute("update case_results set dice = dice * 0.5 + 0.25 where result_id = ?", [rid])
    file_store.db.conn.commit()
    before = _numbers(file_store, rid)
    report = rescore(file_store)
    assert report.filled == [] and "nothing was changed" in report.skipped[0][1]
    assert _numbers(file_store, rid) == before


def test_rescore_cli_says_what_it_did(file_store, toy_task, toy_onnx):
    evaluate(file_store, toy_task, prepare(toy_onnx))
    r = CliRunner().invoke(cli, ["rescore", "--db", str(file_store.path)])
    assert r.exit_code == 0 and "re-scored 0, up to date 1, could not re-score 0" in r.output


THIN_CASE = ("surface_precision", "surface_recall", "surface_f1", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred")


def test_rescore_fills_the_thin_structure_metrics_and_their_tolerance(file_store, toy_task, toy_onnx):
    """A result scored before m006 (thin-structure metrics NULL, no surface tolerance) gets them
    from its stored predictions, equal to what the evaluator computes when it scores."""
    out = evaluate(file_store, toy_task, prepare(toy_onnx))
    rid = out.result["id"]
    scored, scored_cases = _numbers(file_store, rid)
    assert scored["surface_tolerance"] == toy_task.surface_tolerance and scored["surface_f1_mean"] is not None
    cols = [f"{m}_{k}" for m in THIN_CASE for k in ("mean", "std", "ci_low", "ci_high")] + ["surface_tolerance"]
    db = file_store.db
    db.execute("update case_results set " + ", ".join(f"{m} = null" for m in THIN_CASE) + " where result_id = ?", [rid])
    db.execute("update results set " + ", ".join(f"{c} = null" for c in cols) + " where id = ?", [rid])
    pc = json.loads(db["results"].get(rid)["per_class"])
    for entry in pc.values():
        for m in THIN_CASE:
            entry.pop(m)
    db["results"].update(rid, {"per_class": json.dumps(pc)})
    db.conn.commit()

    report = rescore(file_store)
    assert report.filled == [(out.submission_id, list(THIN_CASE))]
    after, cases_after = _numbers(file_store, rid)
    for c in cols:
        assert after[c] == scored[c], c
    for got, want in zip(cases_after, scored_cases):
        assert {m: got[m] for m in THIN_CASE} == {m: want[m] for m in THIN_CASE}
    assert json.loads(after["per_class"]) == json.loads(scored["per_class"])
    assert rescore(file_store).filled == []


def _as_under_the_old_policy(store, rid, drop_predictions=False):
    """Make a result look like evaluator 0.1.0 scored it: a class absent from both masks scored
    Dice/IoU/NSD/surface 1 and distances 0, one predicted only there the failure values, the
    aggregates over every case, single-tolerance surface metrics (here: perturbed)."""
    db = store.db
    ones = ("dice", "iou", "nsd", "surface_precision", "surface_recall", "surface_f1")
    zeros = ("hd95", "assd", "mean_dist_pred_to_ref", "mean_dist_ref_to_pred")
    db.execute("update case_results set " + ", ".join(f"{m} = case when fp = 0 then 1.0 else 0.0 end" for m in ones)
               + ", " + ", ".join(f"{m} = case when fp = 0 then 0.0 else 99.0 end" for m in zeros)
               + " where result_id = ? and tp + fn = 0", [rid])
    db.execute("update case_results set surface_f1 = surface_f1 * 0.9 where result_id = ? and tp + fn > 0", [rid])
    db.execute("update results set evaluator_version = '0.1.0', dice_mean = 0.123, surface_f1_mean = 0.5 "
               "where id = ?", [rid])
    if drop_predictions:
        db.execute("delete from predictions where result_id = ?", [rid])
    db.conn.commit()


def test_a_result_scored_under_the_old_policy_is_rescored_under_todays(file_store, toy_task, toy_onnx, tmp_path):
    a = evaluate(file_store, toy_task, prepare(toy_onnx, name="a"))
    b = evaluate(file_store, toy_task, prepare(onnx_models.scaled_identity(tmp_path / "b.onnx"), name="b"))
    rid_a, rid_b = a.result["id"], b.result["id"]
    scored_a, scored_cases_a = _numbers(file_store, rid_a)
    scored_b, _ = _numbers(file_store, rid_b)
    assert any(c["tp"] + c["fn"] == 0 for c in scored_cases_a)  # the toy task has lesion-free images
    _as_under_the_old_policy(file_store, rid_a)
    _as_under_the_old_policy(file_store, rid_b, drop_predictions=True)
    report = rescore(file_store)
    assert (a.submission_id, list(per_case_metrics())) in report.policy and len(report.policy) == 2
    after_a, cases_a = _numbers(file_store, rid_a)
    # from its predictions: exactly what today's evaluator computes when it scores
    assert cases_a == scored_cases_a
    for col in summary_columns(per_case_metrics()):
        assert after_a[col] == scored_a[col], col
    assert after_a["evaluator_version"] == "0.1.0" and after_a["rescored_version"] == __version__
    # from its counts: absent classes NULL, every aggregate whose values remain recomputed
    after_b, cases_b = _numbers(file_store, rid_b)
    for got in cases_b:
        if got["tp"] + got["fn"] == 0:
            assert all(got[m] is None for m in per_case_metrics())
    for m in ("dice", "iou", "hd95", "nsd", "assd"):  # unchanged definitions on present classes
        assert after_b[f"{m}_mean"] == pytest.approx(scored_b[f"{m}_mean"], abs=1e-12), m
    # redefined since (single -> four tolerances): its old values are dropped, missing until re-scored
    assert after_b["surface_f1_mean"] is None and all(c["surface_f1"] is None for c in cases_b)
    assert (b.submission_id, [m for m in per_case_metrics() if m not in REDEFINED]) in report.policy
    again = rescore(file_store)
    assert again.policy == [] and again.filled == [] and again.up_to_date == [a.submission_id]
    assert [sid for sid, _ in again.skipped] == [b.submission_id] and "surface_f1" in again.skipped[0][1]


def test_the_old_policy_rescore_refuses_predictions_that_do_not_match_the_counts(file_store, toy_task, toy_onnx):
    out = evaluate(file_store, toy_task, prepare(toy_onnx))
    rid = out.result["id"]
    _as_under_the_old_policy(file_store, rid)
    file_store.db.execute("update case_results set fp = fp + 1 where result_id = ?", [rid])
    file_store.db.conn.commit()
    before = _numbers(file_store, rid)
    report = rescore(file_store)
    assert report.policy == [] and "nothing was changed" in report.skipped[0][1]
    assert _numbers(file_store, rid) == before
