"""The GPU script end to end on the CPU with a tiny budget: `sonobench.baselines.device train` packs
histories, per-case label maps and the weights that fit into <= 8 files of <= 16 MiB;
`import-device` scores them here through the evaluator's scoring code; the imported Dice
equals the sandboxed evaluator's on the model rebuilt from the returned weights."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from sonobench.baselines.device import MAX_FILE_BYTES, MAX_FILES, PackTooLarge, _pack, check_pack, unpack
from sonobench.cli import cli

pytestmark = pytest.mark.slow


def test_pack_roundtrip_keeps_every_label_and_shape():
    rng = np.random.default_rng(0)
    maps = [rng.integers(0, 2, (5, 7), dtype=np.uint8), rng.integers(0, 2, (3, 4), dtype=np.uint8)]
    assert all(np.array_equal(a, b) for a, b in zip(maps, unpack(_pack(maps, 2), 2)))
    multi = [rng.integers(0, 4, (6, 6), dtype=np.uint8)]
    assert np.array_equal(multi[0], unpack(_pack(multi, 4), 4)[0])


def test_a_pack_over_the_limits_is_refused(tmp_path):
    for i in range(MAX_FILES + 1):
        (tmp_path / f"f{i}").write_bytes(b"x")
    with pytest.raises(PackTooLarge, match=f"at most {MAX_FILES} files"):
        check_pack(tmp_path)


def test_device_script_trains_packs_and_imports_like_the_evaluator(toy_task, tmp_path, monkeypatch):
    from sonobench.baselines.device import main
    from sonobench.baselines.reference import read_reference

    out = tmp_path / "device-out"
    main(["train", "--task", "toy-lesion", "--models", "unext,segformer-b0", "--profile", "paper", "--epochs", "2",
          "--device", "cpu", "--threads", "1", "--concurrent", "2", "--out", str(out)])
    files = sorted(p.name for p in out.iterdir())
    assert files == ["predictions.npz", "segformer-b0.safetensors", "summary.json", "unext.safetensors"]
    assert len(files) <= MAX_FILES and all(p.stat().st_size <= MAX_FILE_BYTES for p in out.iterdir())
    pack = json.loads((out / "summary.json").read_text())
    assert [m["model"] for m in pack["models"]] == ["unext", "segformer-b0"]
    assert all(len(m["history"]) == m["epochs_run"] == 2 and "reason" in m["convergence"] for m in pack["models"])

    db, refs = tmp_path / "r.db", tmp_path / "refs"
    result = CliRunner().invoke(cli, ["baselines", "import-device", str(out), "--task", "toy-lesion", "--db", str(db),
                                      "--update-reference", "--reference-dir", str(refs)])
    assert result.exit_code == 0, result.output
    assert "unext (paper): #1  Dice" in result.output and "not converged: reached the epoch cap" in result.output
    rows = {r["model"]: r for r in read_reference("toy-lesion", refs)["rows"]}
    assert set(rows) == {"unext", "segformer-b0"} and rows["unext"]["onnx"] is None
    assert len(rows["unext"]["predictions"]["cases"]) == len(toy_task.split("test"))

    # independent check: rebuild unext from its returned weights, export, score in the sandbox
    from safetensors.torch import load_file

    from sonobench.baselines.training.export import export_onnx
    from sonobench.evaluator.evaluate import evaluate
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.submission import prepare
    from sonobench.zoo import build_from_config

    model = build_from_config(rows["unext"]["architecture"])
    model.load_state_dict(load_file(str(out / "unext.safetensors")))
    onnx = export_onnx(model.eval(), tmp_path / "unext.onnx", toy_task.input_size, toy_task.input_channels)
    store = Store(memory=True)
    outcome = evaluate(store, toy_task, prepare(onnx, name="rebuilt"))
    sandboxed = store.result_for(outcome.submission_id)
    assert rows["unext"]["scores"]["dice_mean"] == pytest.approx(sandboxed["dice_mean"], abs=1e-9)
    assert rows["unext"]["complexity"]["params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_the_required_nine_train_in_one_run_within_a_time_budget(toy_task, tmp_path):
    """The device run of issue 25: every required reference, AnatoSegNet with its own paper recipe,
    end to end on the CPU with a tiny budget; what comes back fits the device's return limits."""
    from sonobench.baselines.device import REQUIRED_MODELS, main

    out = tmp_path / "nine"
    main(["train", "--task", "toy-lesion", "--models", "required", "--profile", "paper", "--epochs", "3",
          "--device", "cpu", "--threads", "1", "--budget-s", "1", "--out", str(out)])
    pack = json.loads((out / "summary.json").read_text())
    assert [m["model"] for m in pack["models"]] == list(REQUIRED_MODELS) and len(REQUIRED_MODELS) == 9
    # a 1 s budget: every model stops after its first epoch, and says why
    assert all(m["epochs_run"] == 1 and "time budget" in m["time_budget"] for m in pack["models"])
    recipes = {m["model"]: m["recipe"]["name"] for m in pack["models"]}
    assert recipes["anatosegnet"] == "anatosegnet-paper" and recipes["unet"] == "paper"
    files = list(out.iterdir())
    assert len(files) <= MAX_FILES and all(p.stat().st_size <= MAX_FILE_BYTES for p in files)
    # weights come back for the models whose float32 file fits 16 MiB (<= ~4.2M parameters), smallest first
    assert pack["weights"] == ["unext", "cmunext", "segformer-b0"]


def test_a_budget_stops_training_before_an_epoch_that_would_overrun(toy_task):
    import time

    from sonobench.baselines.recipes import get_profile
    from sonobench.baselines.training.data import load_split
    from sonobench.baselines.training.loop import train_model

    data = {s: load_split(toy_task, s) for s in ("train", "val")}
    profile = get_profile("quick").replace(epochs=4, threads=1)
    res = train_model("unext", data["train"], data["val"], toy_task, profile, deadline=time.monotonic() + 0.01)
    assert res.epochs_run == 1 and "another epoch would overrun" in res.extra["time_budget"]
    free = train_model("unext", data["train"], data["val"], toy_task, profile.replace(epochs=2))
    assert free.epochs_run == 2 and "time_budget" not in free.extra
