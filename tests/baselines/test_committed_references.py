"""The committed reference rows of the seeds' zoo on sim-breast-lesion@1 (the default benchmark
until @2, which re-images the same phantoms; @1 is archived but loads, and so do its rows): they
cover the zoo in the reference (`full`) setting, match the frozen split they claim, carry their
provenance, and reach the leaderboard with every column the issue names. The default task's own
rows are checked in test_committed_references_v2.py."""
import json

import pytest
from click.testing import CliRunner

from sonobench.baselines.cli import REFERENCE_MODELS
from sonobench.baselines.recipes import Profile, get_profile
from sonobench.baselines.reference import read_reference
from sonobench.cli import cli
from sonobench.evaluator.tasks import get_task

ZOO_TASK = "sim-breast-lesion@1"
REF = read_reference("sim-breast-lesion", version=1)


def _rows(profile):
    return {r["model"]: r for r in REF["rows"] if r["profile"] == profile}


def test_reference_file_matches_the_frozen_task():
    task = get_task(ZOO_TASK)
    assert (REF["task_version"], REF["manifest_digest"]) == (task.version, task.digest)
    for row in REF["rows"]:
        assert row["provenance"]["manifest_digest"] == task.digest
        assert len(row["cases"]["rows"]) == len(task.split("test"))


@pytest.mark.parametrize("model", REFERENCE_MODELS)
def test_every_zoo_model_has_a_full_reference_with_provenance(model):
    row = _rows("full").get(model)
    assert row is not None, f"no 'full' reference row for {model}"
    # the row was trained with the profile registered as `full` today, so `rerun` repeats it
    assert Profile.from_dict(row["training"]["recipe"]) == get_profile("full")
    prov = row["provenance"]
    assert len(prov["git_commit"]) == 40 and not prov["git_dirty"] and prov["seed"] == 0 and prov["wall_s"] > 0
    assert prov["hardware"]["device"] in ("cpu", "cuda") and prov["hardware"]["torch"]
    history = row["history"]
    assert len(history) == row["training"]["epochs_run"] >= row["training"]["best_epoch"] >= 1
    assert {"train_loss", "val_loss", "train_dice", "val_dice", "train_iou", "val_iou"} <= set(history[0])
    s = row["scores"]
    assert 0 < s["dice_ci_low"] <= s["dice_mean"] <= s["dice_ci_high"] < 1


def test_leaderboard_shows_the_references_with_every_column(tmp_path):
    db = tmp_path / "results.db"
    from sonobench.baselines.reference import load_into_store
    from sonobench.evaluator.store import Store

    n = load_into_store(Store(db), get_task(ZOO_TASK), log=lambda *_: None)
    assert n == len(REF["rows"])
    out = CliRunner().invoke(cli, ["leaderboard", ZOO_TASK, "--kind", "baseline", "--format", "json", "--db", str(db)])
    assert out.exit_code == 0, out.output
    board = json.loads(out.output)
    assert board["ranking"] == "paired" and "Wilcoxon" in board["definition"]
    ranked = board["rows"]
    assert {(r["name"]) for r in ranked} == {r["name"] for r in REF["rows"]}
    for r in ranked:
        for key in ("dice_mean", "dice_ci_low", "dice_ci_high", "iou_mean", "iou_ci_low", "hd95_mean",
                    "hd95_ci_high", "gflops", "params", "latency_ms"):
            assert r[key] is not None and r[key] == r[key], (r["name"], key)
    # the terminal board fits the terminal's width: give it the 120 columns it is laid out for
    table = CliRunner().invoke(cli, ["leaderboard", ZOO_TASK, "--db", str(db)], env={"COLUMNS": "120"}).output
    assert all(name in table for name in ("unet (full)", "cmunext (full)", "segformer-b0 (full)"))


@pytest.mark.parametrize("row", REF["rows"], ids=lambda r: f"{r['model']}@{r['profile']}")
def test_params_are_the_pytorch_modules_count(row):
    """What the papers report: sum(p.numel()) of the registry's module at the task's channels and
    classes; the exported graph's count (batch norm folded) is kept beside it, labelled."""
    from sonobench.zoo import build_from_config

    task = get_task(ZOO_TASK)
    kwargs = row["architecture"]["kwargs"]
    assert (kwargs["in_channels"], kwargs["num_classes"]) == (task.input_channels, 1 if task.num_classes == 2 else task.num_classes)
    model = build_from_config(row["architecture"])
    assert row["complexity"]["params"] == sum(p.numel() for p in model.parameters())
    details = row["complexity"]["complexity"]
    assert details["params"] == row["complexity"]["params"] and "PyTorch module" in details["params_counted_as"]
    assert 0 < details["params_onnx"] <= row["complexity"]["params"] and "ONNX graph" in details["params_onnx_counted_as"]


def test_every_row_carries_its_convergence_verdict_in_words():
    from sonobench.baselines.convergence import verdict

    for row in REF["rows"]:
        t = row["training"]
        v = t["convergence"]
        assert v["reason"].startswith("converged" if v["converged"] else "not converged"), v["reason"]
        assert v == verdict(row["history"], t["recipe"], t["stopped_early"])  # recomputable from the row
