"""`sonobench baselines`: name errors print `Error: ...` with the valid choices, and
run -> --update-reference -> rerun reproduces the reference exactly on the CPU."""
import json

import pytest
from click.testing import CliRunner

from sonobench.baselines.reference import read_json
from sonobench.cli import cli
from sonobench.evaluator.store import ReadOnlyStore


def _invoke(*args):
    return CliRunner().invoke(cli, ["baselines", *args])


@pytest.mark.parametrize("args,message", [
    (["run", "--task", "toy-lesion", "--models", "unetx"],
     "Error: Unknown architecture 'unetx'. Valid choices: anatosegnet, attunet, cmunet, cmunext"),
    (["run", "--task", "toy-lesion", "--models", "unet,cmunxt"], "Did you mean 'cmunext'?"),
    (["run", "--task", "toy-lesion", "--models", "unet", "cmunxt"], "Did you mean 'cmunext'?"),
    (["run", "--task", "toy-lesion", "--models", "unet", "--profile", "quik"],
     "Error: Unknown training profile 'quik'. Valid choices: anatosegnet-paper, converged, full, paper, pretrain, quick. Did you mean 'quick'?"),
    (["run", "--task", "no-such-task", "--models", "unet"], "Error: Unknown task 'no-such-task'. Valid choices: "),
    (["rerun", "unet", "--task", "toy-lesion"], "Error: No reference result for model 'unet' with profile 'quick'"),
    (["rerun", "unetx", "--task", "toy-lesion"], "Did you mean 'unet'?"),
    (["run", "--task", "toy-lesion", "--models", "unet", "--folds", "2", "--update-reference"], "Error: --update-reference"),
    (["run", "unet", "--task", "toy-lesion", "--tta", "--update-reference"], "drop --folds/--tta"),
    (["run", "unet", "--task", "toy-lesion", "--pretrain", "s", "--update-reference"], "drop --update-reference"),
    (["run", "unet", "--task", "toy-lesion", "--pretrain", "s", "--init", "w.pt"], "pass one of them"),
    (["run", "unet", "--task", "toy-lesion", "--pretrain-profile", "pretrian", "--pretrain", "s"],
     "Did you mean 'pretrain'?"),
])
def test_errors_name_what_to_do(toy_task, args, message):
    result = _invoke(*args)
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_cuda_request_without_gpu_is_an_error(toy_task):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = _invoke("run", "--task", "toy-lesion", "--models", "unext", "--device", "cuda")
    assert result.exit_code == 1 and "Error: --device cuda was asked for but torch sees no CUDA GPU" in result.output


@pytest.mark.slow
def test_list_shows_params_and_references():
    result = _invoke("list", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["unet"]["params_m"] == 34.53 and rows["cmunext"]["params_m"] == 3.15
    assert "Ronneberger" in rows["unet"]["reference"]
    # every required model says which converged row it has, or why none
    for name in ("unet", "unext", "segformer-b0"):
        c = rows[name]["converged"]
        if c["profile"] is None:
            assert c["why"].startswith(("none trained", "converged row not", "paper row not")), c
        else:
            assert c["why"].startswith("converged") and len(c["val_curve"]) == c["epochs_run"], c
    assert rows["cmunet"]["converged"] is None
    # the rows not significantly above the best floor are named, each a committed profile of its model
    marked = {(n, p) for n, r in rows.items() for p in r["not_above_floor"]}
    assert all(p in rows[n]["reference_scores"] for n, p in marked)
    assert ("segformer-b0", "converged") not in marked
    text = _invoke("list").output
    assert "Converged references on sim-breast-lesion" in text and "unet " in text.split("Converged references")[1]
    assert ("* not significantly better than the best no-skill floor" in text) == bool(marked)


@pytest.mark.slow
def test_run_update_reference_then_rerun_is_exact(toy_task, tmp_path):
    db, refs = tmp_path / "results.db", tmp_path / "refs"
    result = _invoke("run", "--task", "toy-lesion", "--models", "unext", "--epochs", "2", "--db", str(db),
                     "--out", str(tmp_path / "out"), "--update-reference", "--reference-dir", str(refs))
    assert result.exit_code == 0, result.output
    assert "unext (quick): #1  Dice" in result.output and "gaps train->test Dice" in result.output
    rows = ReadOnlyStore(db).leaderboard_rows("toy-lesion")
    assert [(r["name"], r["kind"]) for r in rows] == [("unext (quick)", "baseline")]
    saved = read_json(refs / "toy-lesion@1.json.gz")
    assert [(r["model"], r["profile"]) for r in saved["rows"]] == [("unext", "quick")]
    assert saved["rows"][0]["training"]["recipe"]["epochs"] == 2

    again = _invoke("rerun", "unext", "--task", "toy-lesion", "--reference-dir", str(refs), "--out", str(tmp_path / "re"))
    assert again.exit_code == 0, again.output
    assert "delta (rerun - reference): Dice +0.0000  IoU +0.0000  HD95 +0.00" in again.output
    assert "is bit-identical to the reference export" in again.output
    assert "expected: bit-identical (CPU at 1 thread(s), as the reference" in again.output
    assert "within the stated tolerance: bit-identical" in again.output


@pytest.mark.slow
def test_cross_validation_submits_each_fold_and_reports_mean_std(toy_task, tmp_path):
    db = tmp_path / "results.db"
    result = _invoke("run", "--task", "toy-lesion", "--models", "unext", "--epochs", "1", "--folds", "2",
                     "--db", str(db), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "unext (quick), 2-fold CV, test scores mean ± std over folds: Dice" in result.output
    rows = ReadOnlyStore(db).leaderboard_rows("toy-lesion")
    assert sorted(r["name"] for r in rows) == ["unext (quick, fold 1/2)", "unext (quick, fold 2/2)"]
    data = [r["meta"]["training"]["data"] for r in rows]
    dev = len(toy_task.split("train")) + len(toy_task.split("val"))
    assert all(d["train_cases"] + d["val_cases"] == dev and d["test_cases"] == len(toy_task.split("test")) for d in data)


@pytest.mark.slow
def test_flip_tta_is_baked_into_the_exported_model(toy_task, tmp_path):
    db = tmp_path / "results.db"
    result = _invoke("run", "unext", "--task", "toy-lesion", "--epochs", "1", "--tta", "--db", str(db),
                     "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    (row,) = ReadOnlyStore(db).leaderboard_rows("toy-lesion")
    assert row["name"] == "unext (quick, flip TTA)" and row["meta"]["training"]["recipe"]["tta"] is True
    # two passes of the network per image: the evaluator counts about twice the plain model's GFLOPs
    assert row["gflops"] > 1.9 * 0.55 * (64 * 64) / (256 * 256)


@pytest.mark.slow
def test_threads_override_is_recorded_with_the_row(toy_task, tmp_path):
    refs = tmp_path / "refs"
    result = _invoke("run", "unext", "--task", "toy-lesion", "--epochs", "1", "--threads", "2", "--db",
                     str(tmp_path / "r.db"), "--out", str(tmp_path / "out"), "--update-reference", "--reference-dir", str(refs))
    assert result.exit_code == 0, result.output
    recipe = read_json(refs / "toy-lesion@1.json.gz")["rows"][0]["training"]["recipe"]
    assert recipe["threads"] == 2 and recipe["epochs"] == 1
    bad = _invoke("run", "unext", "--task", "toy-lesion", "--threads", "0")
    assert bad.exit_code == 2 and "--threads" in bad.output
