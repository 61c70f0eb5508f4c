import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.evaluate import evaluate
from sonobench.evaluator.sandbox import SandboxConfig
from sonobench.evaluator.submission import prepare
from sonobench.kernel.errors import AlreadyScored, InvalidSubmission, ManifestMismatch, SandboxFailure

from . import onnx_models


def _snapshot(store):
    return store.counts(), [(s["id"], s["status"]) for s in store.submissions()]


def test_onnx_submission_is_scored_and_stored(file_store, toy_task, toy_onnx):
    out = evaluate(file_store, toy_task, prepare(toy_onnx, name="thr"))
    r = out.result
    assert r["n_cases"] == len(toy_task.split("test")) == 6
    assert 0.0 <= r["dice_ci_low"] <= r["dice_mean"] <= r["dice_ci_high"] <= 1.0
    assert r["hd95_unit"] == "mm" and r["manifest_digest"] == toy_task.digest
    assert r["latency_ms"] > 0 and r["hardware"]["cores"] >= 1
    cases = file_store.case_results(out.submission_id)
    assert sorted({c["case_id"] for c in cases}) == sorted(c.id for c in toy_task.split("test"))
    # the stored aggregate is recomputable from the per-case rows: the mean over the lesion images
    # (a lesion-free image has no Dice under the class-absent policy: NULL, not 1)
    scored = [c for c in cases if c["tp"] + c["fn"] > 0]
    assert 0 < len(scored) < len(cases) and all(c["dice"] is None for c in cases if c not in scored)
    assert abs(sum(c["dice"] for c in scored) / len(scored) - r["dice_mean"]) < 1e-12
    assert file_store.submission(out.submission_id)["status"] == "done"


def test_resubmission_is_not_scored_twice(file_store, toy_task, toy_onnx):
    first = evaluate(file_store, toy_task, prepare(toy_onnx))
    with pytest.raises(AlreadyScored) as e:
        evaluate(file_store, toy_task, prepare(toy_onnx, name="again"))
    assert e.value.submission_id == first.submission_id
    assert file_store.counts()["results"] == 1 and file_store.counts()["submissions"] == 1


def test_tampered_test_label_refuses_and_store_is_unchanged(file_store, toy_task, toy_onnx, tmp_path):
    evaluate(file_store, toy_task, prepare(toy_onnx))
    before = _snapshot(file_store)
    case = toy_task.split("test")[1]
    p = toy_task.label_path(case)
    b = bytearray(p.read_bytes()); b[40] ^= 1; p.write_bytes(bytes(b))
    other = onnx_models.scaled_identity(tmp_path / "other.onnx")
    with pytest.raises(ManifestMismatch, match=case.id):
        evaluate(file_store, toy_task, prepare(other))
    assert _snapshot(file_store) == before


@pytest.mark.parametrize("builder,error,reason", [
    (onnx_models.wrong_channels, InvalidSubmission, r"returned shape 1x3x64x64 but this task needs 1x1x64x64 or 1x2x64x64"),
    (onnx_models.nan_output, InvalidSubmission, r"non-finite values \(NaN or Inf\)"),
    (onnx_models.endless_loop, SandboxFailure, r"exceeded the wall-clock limit \(3 s\) and was killed"),
])
def test_bad_models_fail_with_reason_and_no_result(file_store, toy_task, tmp_path, builder, error, reason):
    model = builder(tmp_path / "bad.onnx")
    config = SandboxConfig()
    # only the endless loop needs the short limit; the others must not race it on a busy machine
    config.limits.wall_seconds = 3 if builder is onnx_models.endless_loop else 120
    with pytest.raises(error, match=reason):
        evaluate(file_store, toy_task, prepare(model), config=config)
    [sub] = file_store.submissions()
    assert sub["status"] == "failed"
    assert pytest.importorskip("re").search(reason, sub["error"])
    assert file_store.counts()["results"] == 0 and file_store.counts()["case_results"] == 0


def test_cli_submit_and_leaderboard(toy_task, toy_onnx, tmp_path):
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    r = runner.invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db, "--team", "A"])
    assert r.exit_code == 0, r.output
    assert "Scored: submission #1" in r.output and "Dice " in r.output and "(primary metric)" in r.output
    r = runner.invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db])
    assert r.exit_code == 0 and "Already scored (not scored twice): submission #1" in r.output
    other = onnx_models.scaled_identity(tmp_path / "dark.onnx")
    assert runner.invoke(cli, ["submit", str(other), "--task", "toy-lesion", "--db", db]).exit_code == 0
    r = runner.invoke(cli, ["leaderboard", "toy-lesion", "--db", db, "--format", "csv"])
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("rank,rank_low,rank_high,p_rank1,submission_id,name,team,kind,dice_mean") and len(lines) == 3
    r = runner.invoke(cli, ["submit", str(tmp_path / "missing.onnx"), "--task", "toy-lesion", "--db", db])
    assert r.exit_code == 1 and r.output.startswith("Error: No model file at")
    r = runner.invoke(cli, ["submit", str(toy_onnx), "--task", "nope", "--db", db])
    assert r.exit_code == 1 and r.output.startswith("Error: Unknown task 'nope'. Valid choices: ")
    assert "toy-lesion" in r.output


def test_validation_previews_are_kept_and_test_predictions_never(file_store, toy_task, toy_onnx):
    from sonobench.evaluator.scoring import PREVIEW_CASES
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.kernel import imageio

    out = evaluate(file_store, toy_task, prepare(toy_onnx))
    previews = ReadOnlyStore(file_store.path).val_predictions(out.submission_id)
    val_ids = [c.id for c in toy_task.split("val")]
    assert list(previews) == val_ids[:PREVIEW_CASES]
    assert not set(previews) & {c.id for c in toy_task.split("test")}
    mask = imageio.decode_png(previews[val_ids[0]])
    assert mask.shape == (64, 64) and set(mask.ravel()) <= {0, 1}
