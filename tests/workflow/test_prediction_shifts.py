"""A prediction submission scores the acquisition-shift sets it has masks for (one sub-folder per
set, as `export --images-only` lays out their images), as follow-ups of its main row; the sets it
has none for say "not submitted" in the robustness view."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.cli import cli
from sonobench.evaluator.store import Store
from sonobench.evaluator.task_sets import shift_sets
from sonobench.evaluator.tasks import get_task
from sonobench.kernel import imageio

TASK = "sim-breast-lesion@2"


def _write(folder, task):
    folder.mkdir(parents=True)
    for c in task.split("test"):
        Image.fromarray(imageio.load_label(task.label_path(c)).astype(np.uint8), mode="L").save(folder / f"{c.id}.png")


@pytest.fixture
def submitted(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOBENCH_HOME", str(tmp_path / "home"))
    task = get_task(TASK)
    sets = shift_sets(task)
    root = tmp_path / "preds"
    _write(root, task)
    _write(root / sets[0].id, sets[0])
    db = tmp_path / "r.db"
    out = CliRunner().invoke(cli, ["submit", str(root), "--predictions", "--task", TASK, "--db", str(db),
                                   "--name", "oracle"])
    assert out.exit_code == 0, out.output
    return {"out": out.output, "db": db, "sets": sets, "task": task}


def test_only_the_shift_sets_with_masks_are_scored_as_uncharged_follow_ups(submitted):
    sets, out = submitted["sets"], submitted["out"]
    assert f"shift '{sets[0].condition['name']}' ({sets[0].ref}): " in out
    for child in sets[1:]:
        assert f"({child.ref}): not submitted (no {child.id}/ folder of masks)" in out
    with Store(submitted["db"]) as store:
        rows = [dict(r) for r in store.db.query("select id, task_id, format, charged, file_sha256, meta "
                                                "from submissions order by id")]
    assert [r["task_id"] for r in rows] == ["sim-breast-lesion", sets[0].id]
    main, follow = rows
    assert follow["format"] == "predictions" and follow["charged"] == 0
    assert follow["file_sha256"] == main["file_sha256"]  # how the robustness view pairs them
    assert json.loads(follow["meta"])["follow_up_of"] == main["id"]


def test_the_robustness_view_says_not_submitted_for_the_other_conditions(submitted):
    out = CliRunner().invoke(cli, ["leaderboard", TASK, "--view", "robustness", "--format", "csv",
                                   "--db", str(submitted["db"])])
    assert out.exit_code == 0, out.output
    header, row = out.output.splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(",")))
    first, *others = [c.condition["name"] for c in submitted["sets"] if not c.condition.get("reference")]
    assert cells[first].startswith("1.000")
    assert all(cells[c] == "not submitted" for c in others)


def test_a_shift_folder_missing_a_case_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOBENCH_HOME", str(tmp_path / "home"))
    task = get_task(TASK)
    child = shift_sets(task)[0]
    root = tmp_path / "preds"
    _write(root, task)
    _write(root / child.id, child)
    gone = sorted((root / child.id).iterdir())[0]
    gone.unlink()
    out = CliRunner().invoke(cli, ["submit", str(root), "--predictions", "--task", TASK, "--db", str(tmp_path / "r.db")])
    assert out.exit_code == 1 and gone.stem in out.output and "have no prediction" in out.output
    with Store(tmp_path / "r.db") as store:
        assert store.db["submissions"].count == 0 and store.db["results"].count == 0


def test_a_zip_may_hold_a_shift_sets_folder_but_nothing_deeper(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setenv("SONOBENCH_HOME", str(tmp_path / "home"))
    task = get_task(TASK)
    child = shift_sets(task)[0]
    root = tmp_path / "preds"
    _write(root, task)
    _write(root / child.id, child)
    good, deep = tmp_path / "good.zip", tmp_path / "deep.zip"
    with zipfile.ZipFile(good, "w") as zf, zipfile.ZipFile(deep, "w") as zd:
        for p in sorted(root.rglob("*.png")):
            zf.write(p, p.relative_to(root).as_posix())
            zd.write(p, (p.relative_to(root).as_posix().replace(f"{child.id}/", f"{child.id}/deeper/")))
    db = tmp_path / "r.db"
    refused = CliRunner().invoke(cli, ["submit", str(deep), "--predictions", "--task", TASK, "--db", str(db)])
    assert refused.exit_code == 1 and "no sub-folders but the shift sets' own" in refused.output
    ok = CliRunner().invoke(cli, ["submit", str(good), "--predictions", "--task", TASK, "--db", str(db)])
    assert ok.exit_code == 0, ok.output
    assert f"({child.ref}): {child.primary_metric} 1.0000" in ok.output


def test_masks_of_a_sweep_set_get_its_3d_scores(tmp_path, monkeypatch):
    """The bone task's tracked sweeps are a follow-up set too: a submission with their masks (the
    labels here) gets the sweep set's 3D columns; without that folder the set is 'not submitted'."""
    from sonobench.evaluator.task_sets import sweep_sets

    monkeypatch.setenv("SONOBENCH_HOME", str(tmp_path / "home"))
    task = get_task("sim-bone-surface@1")
    sweeps = sweep_sets(task)
    assert sweeps, "the bone task has a committed sweep set"
    root = tmp_path / "preds"
    _write(root, task)
    _write(root / sweeps[0].id, sweeps[0])
    db = tmp_path / "r.db"
    out = CliRunner().invoke(cli, ["submit", str(root), "--predictions", "--task", task.ref, "--db", str(db),
                                   "--name", "oracle"])
    assert out.exit_code == 0, out.output
    with Store(db) as store:
        rows = [dict(r) for r in store.db.query(
            "select r.task_id, r.sweep_fscore_mean, r.sweep_completeness_mean from results r order by r.id")]
    assert [r["task_id"] for r in rows] == [task.id, sweeps[0].id]
    assert rows[0]["sweep_fscore_mean"] is None
    assert rows[1]["sweep_fscore_mean"] > 0.95 and rows[1]["sweep_completeness_mean"] > 0.95  # the labels' own
