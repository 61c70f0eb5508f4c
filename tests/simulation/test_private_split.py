"""Private (hidden) test splits: keyed per-case seeds, frozen in the data dir, a follow-up of every
submission to the task, refused to teams, tied to one task version."""
import itertools
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.evaluator.tasks import get_task, list_tasks
from sonobench.simulation import private_split

from .conftest import small_physics


@pytest.fixture
def sim_task(tmp_path, monkeypatch):
    """A tiny fast-backend simulated task (sim-test@1) on the search path."""
    from sonobench.simulation.dataset import generate
    from sonobench.simulation.task import freeze_task

    root = tmp_path / "tasks"
    generate("breast-lesion", 6, tmp_path / "data", backend="fast", seed=3, phys=small_physics(), progress=False)
    freeze_task(tmp_path / "data", root / "sim-test" / "v1", "sim-test", 1)
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return get_task("sim-test@1")


@pytest.fixture
def seed_file(tmp_path):
    return private_split.new_seed_file(tmp_path / "secret" / "seed.hex")


def _make(task, seed_file, n=4, *extra):
    return CliRunner().invoke(cli, ["private", "make", task.ref, "--n", str(n), "--seed-file", str(seed_file),
                                    "--force-small", "--quiet", *extra])


def test_case_seeds_are_keyed_hashes_not_offsets():
    key = bytes(range(32))
    seeds = [private_split.case_seed(key, "t@1", i) for i in range(4)]
    assert len(set(seeds)) == 4 and all(0 <= s < 2 ** 128 for s in seeds)
    assert {b - a for a, b in itertools.pairwise(seeds)} != {1}
    assert private_split.case_seed(bytes(32), "t@1", 0) != seeds[0]              # another key
    assert private_split.case_seed(key, "t@2", 0) != seeds[0]                   # another version


def test_seed_file_is_new_private_and_long_enough(tmp_path, seed_file):
    assert oct(seed_file.stat().st_mode & 0o777) == "0o600"
    assert len(private_split.read_seed_file(seed_file)) == 32
    with pytest.raises(private_split.PrivateSplitError, match="never overwritten"):
        private_split.new_seed_file(seed_file)
    short = tmp_path / "short.hex"
    short.write_text("00" * 8)
    os.chmod(short, 0o600)
    with pytest.raises(private_split.PrivateSplitError, match="at least 128 random bits"):
        private_split.read_seed_file(short)
    os.chmod(seed_file, 0o644)
    with pytest.raises(private_split.PrivateSplitError, match="chmod 600"):
        private_split.read_seed_file(seed_file)


def test_fewer_than_300_cases_are_refused_unless_forced(sim_task, seed_file):
    r = CliRunner().invoke(cli, ["private", "make", sim_task.ref, "--n", "20", "--seed-file", str(seed_file)])
    assert r.exit_code == 1 and "below 300" in r.output


def test_make_freezes_a_hidden_test_split_from_the_tasks_generator(sim_task, seed_file):
    r = _make(sim_task, seed_file)
    assert r.exit_code == 0, r.output
    split = get_task("sim-test-private@1")
    assert [c.split for c in split.cases] == ["test"] * 4 and split.test_labels_private
    assert split.source["private_of"] == "sim-test@1" and split.source["preset"] == "breast-lesion"
    assert split.source["physics"] == sim_task.source["physics"] and "seed" not in split.source
    assert str(split.folder).startswith(os.environ["SONOBENCH_HOME"])          # the data dir, not splits/
    assert "sim-test-private" not in {t.id for t in list_tasks()}                # never listed or offered
    img = np.asarray(Image.open(split.image_path(split.cases[0])))
    assert img.shape == tuple(sim_task.native_size)
    public = {c.image_sha256 for c in sim_task.cases}
    assert not public & {c.image_sha256 for c in split.cases}                    # new phantoms
    meta = json.loads((split.data_root / "meta" / "private-00001.json").read_text())
    key = private_split.read_seed_file(seed_file)
    assert meta["seed"] == private_split.case_seed(key, "sim-test@1", 1) and meta["index"] == 0
    again = _make(sim_task, seed_file)                                           # resumable, same digest
    assert again.exit_code == 0 and get_task("sim-test-private@1").digest == split.digest


def test_another_key_cannot_finish_a_split(sim_task, seed_file, tmp_path):
    assert _make(sim_task, seed_file, 2).exit_code == 0
    other = private_split.new_seed_file(tmp_path / "other.hex")
    r = _make(sim_task, other, 2)
    assert r.exit_code == 1 and "key" in r.output


def test_submissions_follow_up_on_the_private_split_and_teams_cannot_submit_to_it(
        sim_task, seed_file, tmp_path, monkeypatch):
    from sonobench.evaluator import private
    from sonobench.evaluator.evaluate import Request
    from sonobench.evaluator.task_sets import follow_up_sets

    assert _make(sim_task, seed_file).exit_code == 0
    sets = follow_up_sets(sim_task, Request.for_task(sim_task))
    assert [s.ref for s in sets] == ["sim-test-private@1"]
    split = sets[0]
    with pytest.raises(private.PrivateSplitRefused, match="submit to sim-test@1"):
        private.refuse_direct(split, None)
    private.refuse_direct(split, Request.for_task(split, follow_up_of=7))      # the follow-up is allowed


def test_a_private_split_of_another_version_is_refused(sim_task, seed_file):
    from sonobench.evaluator import private, private_split

    assert _make(sim_task, seed_file).exit_code == 0
    spec_path = private.folder_for("sim-test", 1) / "task.json"
    spec = json.loads(spec_path.read_text())
    spec["source"]["private_of"] = "sim-test@0"
    spec_path.write_text(json.dumps(spec))
    with pytest.raises(Exception, match="belongs to sim-test@0"):
        private_split.split_of(sim_task)


def test_detectable_difference_shrinks_with_n():
    from sonobench.evaluator.private import detectable_difference, power_statement

    assert detectable_difference(0.3, 300) == pytest.approx(2.486 * 0.3 / 300 ** 0.5, rel=1e-3)
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 100)
    values = {1: {f"c{i}": v for i, v in enumerate(base)},
              2: {f"c{i}": v + rng.normal(0, 0.2) for i, v in enumerate(base) if i < 75}}
    text = power_statement(values, 100, 300, "dice")
    assert "At N = 300 (225 cases where dice applies, 75%" in text


def test_a_hosted_team_is_not_told_its_hidden_split_score(sim_task, seed_file, tmp_path):
    import dataclasses

    from sonobench.cli.toy import threshold_onnx
    from sonobench.evaluator import follow_ups
    from sonobench.evaluator.evaluate import Request
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.submission import prepare
    from sonobench.kernel.settings import Settings

    assert _make(sim_task, seed_file, 3).exit_code == 0
    sub = prepare(threshold_onnx(tmp_path / "m.onnx"))
    lines = []
    for hosted in (False, True):
        settings = dataclasses.replace(Settings(), require_auth=hosted)
        store = Store(tmp_path / f"r{int(hosted)}.db")
        [o] = follow_ups.score_shifts(store, sim_task, sub, Request.for_task(sim_task), settings, 1,
                                      log=lines.append)
        assert o.error is None and o.submission_id is not None
        assert (o.primary is None) == hosted and o.hidden == hosted
    assert "private test split (sim-test-private@1): dice" in lines[0]
    assert "its score is hidden" in lines[1] and "dice" not in lines[1]
    with Store(tmp_path / "r1.db") as s:
        [row] = s.db.query("select private_cases from results")
    assert row["private_cases"] == 1                       # its per-case rows are the operator's only


def test_resuming_with_other_settings_is_refused_and_the_record_kept(tmp_path):
    from sonobench.simulation.private_split import PrivateSplitError, _check_run

    out = tmp_path / "private"
    _check_run(out, {"n": 300, "task": "t@1"})
    record = (out / "run.json").read_text()
    _check_run(out, {"n": 300, "task": "t@1"})  # the same settings resume
    with pytest.raises(PrivateSplitError, match=r"other settings \(n differ\)"):
        _check_run(out, {"n": 400, "task": "t@1"})
    assert (out / "run.json").read_text() == record
