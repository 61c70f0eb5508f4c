"""Pretrain -> fine-tune and --init: the starting weights really are the given ones, a
mismatch is refused with the differences named, and the row records where they came from."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.kernel.paths import sha256_file
from sonobench.zoo import create_model


def _toy_model(seed: int):
    torch.manual_seed(seed)
    return create_model("unext", in_channels=1, num_classes=1)


@pytest.fixture
def weights(tmp_path):
    state = _toy_model(123).state_dict()
    path = tmp_path / "mine.pt"
    torch.save(state, path)
    return path, state


def test_pt_and_safetensors_files_load_the_same_tensors(weights, tmp_path):
    from safetensors.torch import save_file

    from sonobench.baselines.training.transfer import read_weights

    path, state = weights
    st_path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st_path))
    a, b = read_weights(path), read_weights(st_path)
    assert a.keys() == b.keys() == state.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pt")  # a training checkpoint's layout
    assert read_weights(tmp_path / "ckpt.pt").keys() == state.keys()


def test_strict_init_names_missing_unexpected_and_reshaped_keys(weights, tmp_path):
    from sonobench.baselines.training.transfer import WeightsMismatch, fit_weights

    _, state = weights
    broken = dict(state)
    gone = sorted(broken)[0]
    del broken[gone]
    broken["extra.weight"] = torch.zeros(1)
    with pytest.raises(WeightsMismatch, match=rf"1 missing \({gone}\).*1 unexpected \(extra.weight\)"):
        fit_weights(_toy_model(0), broken, strict=True, source="broken.pt")
    three_class = create_model("unext", in_channels=1, num_classes=3)
    with pytest.raises(WeightsMismatch, match="with another shape"):
        fit_weights(three_class, state, strict=True, source="mine.pt")
    # from pretraining (not strict) only the head may differ: it keeps its init and is listed
    report = fit_weights(three_class, state, strict=False, source="pretraining")
    assert report["reinitialised"] and all(three_class.state_dict()[k].shape != state[k].shape
                                           for k in report["reinitialised"])


def test_init_sets_the_starting_weights_of_training(toy_task, weights):
    """With a vanishing learning rate, the trained model is its starting point: the file's
    weights with --init, the seeded initialisation without."""
    from sonobench.baselines.recipes import get_profile
    from sonobench.baselines.training.data import load_split
    from sonobench.baselines.training.loop import train_model
    from sonobench.baselines.training.transfer import from_file

    path, state = weights
    profile = get_profile("quick").replace(epochs=1, lr=1e-12, samples_per_epoch=4)
    train, val = load_split(toy_task, "train"), load_split(toy_task, "val")
    params = [n for n, _ in _toy_model(0).named_parameters()]
    with_init = train_model("unext", train, val, toy_task, profile, init=from_file(path)).model.state_dict()
    scratch = train_model("unext", train, val, toy_task, profile).model.state_dict()
    assert all(torch.allclose(with_init[n], state[n], atol=1e-8) for n in params)
    assert not all(torch.allclose(scratch[n], state[n], atol=1e-3) for n in params)


def test_cli_refuses_init_weights_of_another_shape(toy_task, tmp_path):
    path = tmp_path / "three.pt"
    torch.save(create_model("unext", in_channels=1, num_classes=3).state_dict(), path)
    res = CliRunner().invoke(cli, ["baselines", "run", "unext", "--task", "toy-lesion", "--epochs", "1",
                                   "--init", str(path), "--db", str(tmp_path / "r.db"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1, res.output
    assert "Error: " in res.output and "does not fit" in res.output and "another shape" in res.output
    res = CliRunner().invoke(cli, ["baselines", "run", "unext", "--task", "toy-lesion", "--pretrain", "nothing-here"])
    assert res.exit_code == 1 and "Unknown pretraining set 'nothing-here'" in res.output


@pytest.mark.slow
def test_pretrain_then_finetune_records_the_set_digest_and_both_histories(toy_task, tmp_path):
    from sonobench.evaluator.store import Store
    from sonobench.simulation.pretrain import make_set

    pset = make_set("tiny", "breast-lesion", 8, backend="fast", seed=0)
    db, out = tmp_path / "r.db", tmp_path / "out"
    args = ["baselines", "run", "unext", "--task", "toy-lesion", "--epochs", "1", "--pretrain", "tiny",
            "--pretrain-epochs", "1", "--db", str(db), "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert f"set digest {pset.digest[:12]}" in res.output
    run = json.loads(next(out.glob("toy-lesion/*/run.json")).read_text())
    pt = run["training"]["pretraining"]
    assert pt["set_digest"] == pset.digest and pt["kind"] == "pretrain" and pt["profile"] == "pretrain"
    assert len(pt["history"]) == 1 and len(run["training"]["history"]) == 1  # both phases, one epoch each
    assert pt["fit"]["reinitialised"] == [] and pt["checkpoint_sha256"] == sha256_file(pt["checkpoint"])
    stored = Store(db).submission(run["submission_id"])["meta"]["training"]["pretraining"]
    assert stored["set_digest"] == pset.digest
    # a second fine-tuning from the same set reuses the pretrained checkpoint
    res = CliRunner().invoke(cli, args[:5] + ["--profile", "full"] + args[5:])
    assert res.exit_code == 0, res.output
    assert "cached checkpoint" in res.output


def test_the_style_adapts_the_simulated_phase(tmp_path, weights, monkeypatch):
    """--style-target restyles the pretraining set's batches with --pretrain SET, else the training split's."""
    import numpy as np
    from PIL import Image

    from sonobench.baselines.recipes import get_profile
    from sonobench.baselines.training.pipeline import run_tag
    from sonobench.baselines.training.transfer import Workflow as _Workflow

    target = tmp_path / "target"
    target.mkdir()
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(target / "t.png")
    plain = _Workflow(None, get_profile("pretrain"), None, str(target), "histogram", 0.0)
    start, style = plain.start_for("unext", None, tmp_path, "cpu")
    assert start is None and style is plain.style and style.describe()["method"] == "histogram"
    assert run_tag(start, style).startswith("style-histogram-")  # its own run folder, not the scratch one's
    init = _Workflow(None, get_profile("pretrain"), str(weights[0]), None, "fda", 0.01)
    start, style = init.start_for("unext", None, tmp_path, "cpu")
    assert style is None and start.record["checkpoint_sha256"] == sha256_file(weights[0]) and start.strict
    from sonobench.simulation.pretrain import make_set

    make_set("some-set", "breast-lesion", 4)
    with_set = _Workflow("some-set", get_profile("pretrain"), None, str(target), "fda", 0.01)
    seen = {"calls": 0}

    def fake_pretrain(name, model, task, profile, *, out_dir, device, bar, style):
        seen.update(name=name, style=style, calls=seen["calls"] + 1)
        return "the start"

    monkeypatch.setattr("sonobench.baselines.training.transfer.pretrain_on_set", fake_pretrain)
    assert with_set.start_for("unext", None, tmp_path, "cpu") == ("the start", None)  # not at fine-tuning...
    assert seen == {"name": "some-set", "style": with_set.style, "calls": 1}        # ...but in pretraining
    with_set.start_for("unext", None, tmp_path, "cpu")
    assert seen["calls"] == 1  # one pretraining per model, reused by its folds


def test_each_start_has_its_own_run_folder(tmp_path, weights):
    from sonobench.baselines.recipes import get_profile
    from sonobench.baselines.training.pipeline import run_folder, run_tag
    from sonobench.baselines.training.transfer import Start, from_file
    from sonobench.evaluator.tasks import get_task

    task, quick = get_task("sim-breast-lesion"), get_profile("quick")
    set_start = Start({}, False, {"kind": "pretrain", "set_digest": "a" * 64})
    styled = Start({}, False, {"kind": "pretrain", "set_digest": "a" * 64,
                               "style": {"method": "fda", "targets_sha256": "b" * 64}})
    folders = {run_folder(task, "unext", quick, tmp_path, tag=run_tag(s)) for s in
               (None, set_start, styled, from_file(weights[0]))}
    assert len(folders) == 4
    assert run_tag(styled) == "pretrain-aaaaaaaa-style-fda-bbbbbbbb"
