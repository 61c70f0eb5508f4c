"""Pretraining sets: reproducible (same settings, same digest), no test split, verified
against their manifest, outside the benchmark's task list."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.kernel.errors import ManifestMismatch, TaskNotFound
from sonobench.simulation.pretrain import (
    InvalidPretrainSet,
    ReproducesTask,
    UnknownPretrainSet,
    list_sets,
    load_set,
    make_set,
    sets_root,
    verify_set,
)


@pytest.fixture
def tiny(monkeypatch):
    return make_set("tiny", "breast-lesion", 8, backend="fast", seed=0)


def test_a_set_has_train_and_val_only_with_per_case_hashes(tiny):
    splits = {c.split for c in tiny.task.cases}
    assert splits == {"train", "val"} and len(tiny.task.cases) == 8
    assert all(len(c.image_sha256) == 64 and len(c.label_sha256) == 64 for c in tiny.task.cases)
    man = json.loads((tiny.folder / "manifest.json").read_text())
    assert man["digest"] == tiny.digest == tiny.info["digest"]
    assert tiny.task.family == "breast"
    assert tiny.info["command"] == "sonobench pretrain-set make tiny --preset breast-lesion --n 8 --backend fast --seed 0"
    assert tiny.info["cost"]["images"] == 8 and tiny.info["cost"]["wall_s"] > 0


def test_the_same_settings_give_the_same_digest_elsewhere(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SONOBENCH_HOME", str(tmp_path / "other-home"))
    again = make_set("tiny", "breast-lesion", 8, backend="fast", seed=0)
    assert again.folder != tiny.folder and again.digest == tiny.digest
    other_seed = make_set("tiny-seed1", "breast-lesion", 8, backend="fast", seed=1)
    assert other_seed.digest != tiny.digest


def test_verify_catches_a_changed_image(tiny):
    assert verify_set("tiny").digest == tiny.digest
    case = tiny.task.cases[0]
    path = tiny.task.image_path(case)
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ManifestMismatch, match=case.id):
        verify_set("tiny")


def test_a_set_is_not_a_benchmark_task_and_unknown_names_are_explained(tiny):
    from sonobench.evaluator.tasks import get_task, list_tasks

    assert all(not t.id.startswith("pretrain-") for t in list_tasks())
    with pytest.raises(TaskNotFound):
        get_task("pretrain-tiny")
    with pytest.raises(UnknownPretrainSet, match="Did you mean 'tiny'"):
        load_set("tiyn")
    with pytest.raises(InvalidPretrainSet, match="lower-case"):
        make_set("Bad Name", "breast-lesion", 4)
    assert [p.name for p in list_sets()] == ["tiny"]


def test_cli_make_list_verify():
    runner = CliRunner()
    res = runner.invoke(cli, ["pretrain-set", "make", "cli-set", "--n", "6", "--quiet"])
    assert res.exit_code == 0, res.output
    digest = load_set("cli-set").digest
    assert digest in res.output and "s per 100 images" in res.output
    res = runner.invoke(cli, ["pretrain-set", "list", "--json"])
    assert json.loads(res.output)[0]["digest"] == digest
    res = runner.invoke(cli, ["pretrain-set", "verify", "cli-set"])
    assert res.exit_code == 0 and "all 6 cases match" in res.output
    res = runner.invoke(cli, ["pretrain-set", "verify", "nope"])
    assert res.exit_code == 1 and "Error: Unknown pretraining set 'nope'" in res.output


def test_a_set_with_a_tasks_preset_and_seed_is_refused_before_any_simulation(monkeypatch):
    from sonobench.simulation import pretrain

    monkeypatch.setattr(pretrain, "generate", lambda *a, **k: pytest.fail("simulated before refusing"))
    with pytest.raises(ReproducesTask, match=r"seed 2026 regenerates the phantoms of sim-breast-lesion@1, "
                                             r"sim-breast-lesion@2 .*Choose another --seed"):
        make_set("leak", "breast-lesion", 10_000, seed=2026)
    assert not (sets_root() / "leak").exists()
    for preset, task in (("neck-thyroid", "sim-neck-thyroid@1"), ("bone-surface", "sim-bone-surface@1")):
        with pytest.raises(ReproducesTask, match=task):
            make_set("leak", preset, 2, seed=2026)


def test_the_cli_names_the_task_it_would_reproduce():
    res = CliRunner().invoke(cli, ["pretrain-set", "make", "leak", "--preset", "neck-thyroid", "--n", "5000",
                                   "--seed", "2026"])
    assert res.exit_code == 1 and res.output.startswith("Error: preset 'neck-thyroid' with seed 2026 regenerates "
                                                        "the phantoms of sim-neck-thyroid@1")


def test_a_toy_tasks_seed_is_only_refused_for_its_own_preset(toy_task):
    from sonobench.simulation.pretrain import tasks_reproduced

    assert tasks_reproduced("breast-lesion", 0) == []  # the toy task's source names no preset
    assert tasks_reproduced("breast-lesion", 2027) == []
