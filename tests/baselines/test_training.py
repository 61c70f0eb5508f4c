"""Training end to end on the toy task: the loss goes down, two CPU runs with the
same seed are bit-identical, and the export + submit path stores a baseline row
with its training meta; committed reference rows load idempotently."""

import pytest
import torch

from sonobench.baselines import reference
from sonobench.baselines.recipes import get_profile
from sonobench.baselines.training import TaskData, run_baseline, train_model
from sonobench.cli.toy import build_toy_task
from sonobench.evaluator.store import Store

pytestmark = pytest.mark.slow

# A few seconds of training: whole 64x64 toy images, 3 short epochs.
TINY = get_profile("quick").replace(epochs=3, samples_per_epoch=16, batch_size=4, crop=(32, 32),
                                    train_eval_cases=None, early_stop_patience=5)


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return TaskData.load(build_toy_task(tmp_path_factory.mktemp("toy") / "toy-lesion" / "v1"))


@pytest.fixture(scope="module")
def record(toy_data, tmp_path_factory):
    """One full run (train, export, gaps, sandboxed evaluation) shared by the tests below."""
    store = Store(memory=True)
    rec = run_baseline(toy_data, "unext", TINY, store=store, out_dir=tmp_path_factory.mktemp("out"), log=lambda s: None)
    return rec, store


def test_tiny_training_lowers_the_loss_and_is_bit_identical(toy_data):
    runs = [train_model("unext", toy_data.train, toy_data.val, toy_data.task, TINY) for _ in range(2)]
    history = runs[0].history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    strip = [[{k: v for k, v in row.items() if k != "time_s"} for row in r.history] for r in runs]
    assert strip[0] == strip[1] and runs[0].best_epoch == runs[1].best_epoch
    a, b = runs[0].model.state_dict(), runs[1].model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.are_deterministic_algorithms_enabled()  # settings are restored afterwards


def test_a_step_schedule_adam_and_plain_cross_entropy_run_as_the_profile_says(toy_data):
    # AnatoSegNet's published recipe in miniature: Adam, StepLR(step 2, gamma 0.1), CE only.
    paper = get_profile("anatosegnet-paper")
    assert (paper.optimizer, paper.lr_schedule, paper.step_size, paper.step_gamma, paper.loss, paper.epochs,
            paper.batch_size, paper.lr) == ("adam", "step", 20, 0.1, "ce", 50, 16, 1e-4)
    tiny = TINY.replace(optimizer="adam", lr_schedule="step", step_size=2, step_gamma=0.1, loss="ce", epochs=3)
    run = train_model("unext", toy_data.train, toy_data.val, toy_data.task, tiny)
    lrs = [row["lr"] for row in run.history]
    assert lrs[0] == lrs[1] == pytest.approx(tiny.lr) and lrs[2] == pytest.approx(tiny.lr * 0.1)
    assert all(row["train_loss"] > 0 for row in run.history)


def test_export_and_submit_store_a_baseline_with_training_meta(record, toy_data):
    rec, store = record
    sub = store.submission(rec["submission_id"])
    assert sub["kind"] == "baseline" and sub["status"] == "done" and sub["name"] == "unext (quick)"
    t = sub["meta"]["training"]
    for key in ("history", "best_epoch", "epochs_run", "profile", "seed", "wall_s", "hardware", "git_commit", "gaps"):
        assert key in t, key
    assert set(t["gaps"]) == {"train_test_dice", "val_test_dice", "train_test_iou", "val_test_iou"}
    assert len(t["history"]) == t["epochs_run"] == 3 and 1 <= t["best_epoch"] <= 3
    assert set(t["history"][0]) >= {"train_loss", "val_loss", "train_dice", "val_dice", "train_iou", "val_iou", "lr", "time_s"}
    res = rec["result"]
    # the in-process gap scoring runs the same ONNX file as the sandbox: same test Dice
    assert t["gap_scores"]["test"]["dice"] == pytest.approx(res["dice_mean"], abs=1e-9)
    assert t["gaps"]["val_test_dice"] == pytest.approx(t["gap_scores"]["val"]["dice"] - res["dice_mean"], abs=1e-9)
    assert rec["onnx"]["parity_rel"] <= 1e-4 and res["params"] > 1e6 and res["gflops"] > 0
    assert res["n_cases"] == len(toy_data.test) and len(rec["cases"]) == len(toy_data.test)
    assert sub["meta"]["architecture"]["name"] == "unext"


def test_reference_rows_load_idempotently(record, toy_data, tmp_path):
    rec, _ = record
    task = toy_data.task
    path = reference.write_row(task, reference.row_from_record(rec), folder=tmp_path)
    saved = reference.read_json(path)
    assert saved["manifest_digest"] == task.digest and "CPU smoke-level references" in saved["note"] and "No 'full'" in saved["note"]
    store = Store(tmp_path / "results.db")
    assert reference.load_into_store(store, task, log=print, folder=tmp_path) == 1
    assert reference.load_into_store(store, task, log=print, folder=tmp_path) == 0
    rows = store.leaderboard_rows(task.id)
    assert len(rows) == 1 and rows[0]["kind"] == "baseline"
    for key in ("dice_mean", "dice_ci_low", "iou_mean", "hd95_mean", "gflops", "latency_ms"):
        assert rows[0][key] == rec["result"][key], key
    # a reference row counts parameters as papers do (the PyTorch module); the ONNX graph's count is kept beside
    assert rows[0]["params"] == rec["params_pytorch"] and rows[0]["complexity"]["params_onnx"] == rec["result"]["params"]
    # and carries the evaluator's stored test predictions into the store it is loaded into
    pngs = reference.stored_predictions(store, rows[0]["submission_id"])
    assert pngs == rec["test_predictions"] and len(pngs) == len(toy_data.test)
    assert rows[0]["meta"]["training"]["history"] == rec["training"]["history"]
    cases = store.case_results(rows[0]["submission_id"])
    assert [(c["case_id"], c["dice"]) for c in cases] == [(c["case_id"], c["dice"]) for c in rec["cases"]]


def test_reference_for_another_manifest_is_not_loaded(record, toy_data, tmp_path):
    rec, _ = record
    reference.write_row(toy_data.task, reference.row_from_record(rec), folder=tmp_path)
    other = build_toy_task(tmp_path / "other" / "toy-lesion" / "v1", seed=5)
    messages = []
    assert reference.load_into_store(Store(memory=True), other, log=messages.append, folder=tmp_path) == 0
    assert "not loaded" in messages[0]
