"""Formats x isolation, operator settings, quotas, private splits."""
import dataclasses
import json

import pytest

from sonobench.evaluator.evaluate import evaluate, evaluate_path
from sonobench.evaluator.sandbox import bwrap, policy, sandbox_config
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.evaluator.submission import prepare
from sonobench.kernel.errors import InvalidSubmission, SandboxFailure
from sonobench.kernel.settings import QuotaExceeded, Settings, SettingsError, load_settings
from tests.spine import onnx_models


@pytest.mark.parametrize("fmt,iso,allowed", [
    ("onnx", "bwrap", True), ("onnx", "unshare", True), ("onnx", "none", True),
    ("state_dict", "none", True), ("safetensors", "unshare", True),
    ("torchscript", "bwrap", True), ("torchscript", "unshare", False), ("torchscript", "none", False),
    ("export", "bwrap", True), ("export", "none", False),
    ("pickle", "bwrap", False), ("pickle", "none", False),
])
def test_code_formats_need_bubblewrap(fmt, iso, allowed):
    assert (policy.refusal(fmt, iso, allow_pickle=False) is None) is allowed
    assert policy.refusal("pickle", "bwrap", allow_pickle=True) is None
    assert "bubblewrap" in policy.refusal("pickle", "none", allow_pickle=True)


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(bwrap, "probe", lambda as_root=None: (False, "bubblewrap is not installed (test)"))


def test_without_bwrap_onnx_runs_with_a_recorded_warning(no_bwrap, file_store, toy_task, toy_onnx):
    out = evaluate(file_store, toy_task, prepare(toy_onnx), settings=Settings())
    hw = out.result["hardware"]
    assert hw["isolation"] in ("unshare", "none")
    assert "without bubblewrap" in hw["warnings"][0] and "not installed (test)" in hw["warnings"][0]
    assert "without bubblewrap" in file_store.submission(out.submission_id)["meta"]["warnings"][0]


def test_operator_can_require_bubblewrap(no_bwrap, file_store, toy_task, toy_onnx):
    with pytest.raises(SandboxFailure, match="Isolation 'bwrap' is required but not available: bubblewrap is not"):
        evaluate(file_store, toy_task, prepare(toy_onnx), settings=Settings(require_isolation="bwrap"))
    assert file_store.counts()["submissions"] == 0


def test_settings_file_and_environment(tmp_path, monkeypatch):
    f = tmp_path / "settings.json"
    f.write_text(json.dumps({"daily_submissions": 3, "private_test_split": True, "onnx_domains": [""]}))
    monkeypatch.setenv("SONOBENCH_SETTINGS", str(f))
    monkeypatch.setenv("SONOBENCH_DAILY_FAILURES", "2")
    s = load_settings()
    assert (s.daily_submissions, s.daily_failures, s.private_test_split, s.onnx_domains) == (3, 2, True, ("",))
    assert sandbox_config(s).onnx_domains == ("",)
    f.write_text(json.dumps({"daily_submisions": 3}))
    with pytest.raises(SettingsError, match="unknown setting 'daily_submisions'.*Did you mean 'daily_submissions'"):
        load_settings()
    monkeypatch.setenv("SONOBENCH_SETTINGS", str(tmp_path / "absent.json"))
    with pytest.raises(SettingsError, match="Cannot read the settings file"):
        load_settings()
    monkeypatch.delenv("SONOBENCH_SETTINGS")
    monkeypatch.setenv("SONOBENCH_REQUIRE_ISOLATION", "bwarp")
    with pytest.raises(SettingsError, match="require_isolation must be one of auto, bwrap"):
        load_settings()


def test_daily_cap_counts_failures_separately(file_store, toy_task, tmp_path):
    settings = Settings(daily_submissions=1, daily_failures=2)
    ok = [onnx_models.scaled_identity(tmp_path / f"ok{i}.onnx", bias=float(i)) for i in range(2)]
    with pytest.raises(InvalidSubmission, match="non-finite"):
        evaluate_path(file_store, toy_task, onnx_models.nan_output(tmp_path / "nan.onnx"), team="T", settings=settings)
    evaluate_path(file_store, toy_task, ok[0], team="T", settings=settings)  # the failure did not use the cap
    with pytest.raises(QuotaExceeded, match="Team 'T' has used its 1 submissions for today"):
        evaluate_path(file_store, toy_task, ok[1], team="T", settings=settings)
    failures_only = dataclasses.replace(settings, daily_submissions=None)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InvalidSubmission, match="is empty"):  # a refused file counts as a failure too
        evaluate_path(file_store, toy_task, empty, team="T", settings=failures_only)
    with pytest.raises(QuotaExceeded, match="Team 'T' has had 2 failed submissions today"):
        evaluate_path(file_store, toy_task, onnx_models.wrong_channels(tmp_path / "w.onnx"), team="T",
                      settings=failures_only)
    evaluate_path(file_store, toy_task, ok[1], team="other", settings=settings)  # another team has its own cap
    evaluate_path(file_store, toy_task, onnx_models.scaled_identity(tmp_path / "b.onnx", bias=9.0), team="T",
                  kind="baseline", settings=settings)  # baselines are never counted
    statuses = sorted((s["team"], s["kind"], s["status"]) for s in file_store.submissions())
    assert statuses == [("T", "baseline", "done"), ("T", "submission", "done"), ("T", "submission", "failed"),
                        ("T", "submission", "failed"), ("other", "submission", "done")]


def test_private_test_split_is_flagged_and_hidden_from_the_public_view(file_store, toy_task, toy_onnx, tmp_path):
    other = onnx_models.scaled_identity(tmp_path / "other.onnx")
    pub = evaluate(file_store, toy_task, prepare(other), split="val", settings=Settings(private_test_split=True))
    priv = evaluate(file_store, toy_task, prepare(toy_onnx), settings=Settings(private_test_split=True))
    assert pub.result["private_cases"] == 0 and priv.result["private_cases"] == 1
    public = {r["result_id"] for r in file_store.db.query("select result_id from case_results_public")}
    assert public == {pub.result["id"]}
    assert file_store.case_results(priv.submission_id)  # kept for recomputation, only not public


def test_operator_can_hide_model_provided_error_text(file_store, toy_task, tmp_path):
    from onnx import helper

    bad = onnx_models._save([helper.make_node("Reshape", ["image", "image"], ["out"])], {}, tmp_path / "bad.onnx")
    with pytest.raises(SandboxFailure, match=r"could not be loaded: \w+ \(the operator hides model messages; run `sonobench check"):
        evaluate(file_store, toy_task, prepare(bad), settings=Settings(model_error_details=False))
    [row] = file_store.submissions()
    assert "Traceback" in store_jobs.private_log(file_store, row["id"])
