"""The cross-dataset matrix over two tiny tasks of one family: every cell is the one
pipeline's stored result, the in-domain diagonal is marked, families are declared."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.kernel.errors import InvalidTaskSpec, TaskNotFound


@pytest.fixture
def family(tmp_path, monkeypatch):
    from sonobench.cli.toy import build_toy_task

    root = tmp_path / "tasks"
    a = build_toy_task(root / "toy-a" / "v1", task_id="toy-a", seed=0, family="toy")
    b = build_toy_task(root / "toy-b" / "v1", task_id="toy-b", seed=5, n=16, family="toy")
    build_toy_task(root / "toy-c" / "v1", task_id="toy-c", seed=9, n=8)  # no family: never a column
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return a, b


def test_family_is_declared_data_and_checked(family, tmp_path):
    from sonobench.evaluator.tasks import family_tasks, load_task_folder

    assert [t.ref for t in family_tasks("toy")] == ["toy-a@1", "toy-b@1"]
    with pytest.raises(TaskNotFound, match="Families: bone, breast, neck, toy. Did you mean 'toy'"):
        family_tasks("tyo")
    spec_path = family[0].folder / "task.json"
    spec = json.loads(spec_path.read_text())
    spec_path.write_text(json.dumps({**spec, "family": ["breast"]}))
    with pytest.raises(InvalidTaskSpec, match="'family' must be a non-empty name"):
        load_task_folder(family[0].folder)


def test_the_committed_simulated_task_declares_the_breast_family(monkeypatch):
    from sonobench.evaluator.tasks import get_task

    assert get_task("sim-breast-lesion@2").family == "breast"


def test_matrix_cells_are_the_pipelines_results_with_the_diagonal_marked(family, toy_onnx, tmp_path):
    from sonobench.evaluator.crosseval import ModelSource, family_matrix, score_family
    from sonobench.evaluator.evaluate import evaluate
    from sonobench.evaluator.sandbox import SandboxConfig
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.submission import prepare

    a, b = family
    store = Store(tmp_path / "cx.db")
    cells = score_family(store, ModelSource(toy_onnx, "toy-a", "threshold"), "toy", log=lambda m: None)
    assert set(cells) == {"toy-a@1", "toy-b@1"} and all(isinstance(v, int) for v in cells.values())
    matrix = family_matrix(store, "toy")
    assert [c["task"] for c in matrix["columns"]] == ["toy-a@1", "toy-b@1"]
    (row,) = matrix["rows"]
    assert row["trained_on"] == "toy-a@1"
    assert row["cells"]["toy-a@1"]["in_domain"] and not row["cells"]["toy-b@1"]["in_domain"]
    # an independent scoring of the same file in another store gives the same cell values
    other = Store(memory=True)
    for task in (a, b):
        ref = evaluate(other, task, prepare(toy_onnx, {}, name="x"), config=SandboxConfig()).result
        cell = row["cells"][task.ref]
        assert (cell["mean"], cell["ci_low"], cell["ci_high"]) == pytest.approx(
            (ref["dice_mean"], ref["dice_ci_low"], ref["dice_ci_high"]))
        assert cell["n_cases"] == len(task.split("test"))
    # off the diagonal the stored submission says where the model was trained (it is on toy-b's leaderboard)
    assert store.submission(cells["toy-b@1"])["name"] == "threshold [trained on toy-a@1]"
    assert store.submission(cells["toy-a@1"])["name"] == row["model"] == "threshold"
    # scoring again reuses the stored cells (the store's one duplicate rule)
    again = score_family(store, ModelSource(toy_onnx, "toy-a", "threshold"), "toy", log=lambda m: None)
    assert again == cells


def test_cli_json_and_table(family, toy_onnx, tmp_path):
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    res = runner.invoke(cli, ["crosseval", str(toy_onnx), "--family", "toy", "--db", db])
    assert res.exit_code == 1 and "--trained-on TASK" in res.output
    res = runner.invoke(cli, ["crosseval", str(toy_onnx), "--family", "toy", "--trained-on", "toy-b",
                              "--format", "json", "--db", db])
    assert res.exit_code == 0, res.output
    matrix = json.loads(res.stdout)
    (row,) = matrix["rows"]
    assert row["trained_on"] == "toy-b@1"
    assert [t for t, c in row["cells"].items() if c["in_domain"]] == ["toy-b@1"]
    sid = row["cells"]["toy-a@1"]["submission_id"]
    res = runner.invoke(cli, ["crosseval", f"#{sid}", "--family", "toy", "--db", db])
    assert res.exit_code == 0, res.output
    line = [l for l in res.output.splitlines() if l.startswith("toy-b@1")][0]
    assert line.count("*") == 1 and line.rstrip().endswith("*")  # toy-b is the last column: in-domain
    res = runner.invoke(cli, ["crosseval", "#999", "--family", "toy", "--db", db])
    assert res.exit_code == 1 and "No submission #999" in res.output


def test_the_committed_references_give_the_in_domain_column(tmp_path):
    """sim-breast-lesion's committed reference rows (no ONNX committed) are the diagonal of the breast matrix."""
    from sonobench.baselines.reference import read_reference

    res = CliRunner().invoke(cli, ["crosseval", "--family", "breast", "--with-references", "--format", "json",
                                   "--db", str(tmp_path / "ref.db")])
    assert res.exit_code == 0, res.output
    matrix = json.loads(res.stdout)
    assert [c["task"] for c in matrix["columns"]] == ["sim-breast-lesion@2"]
    ref_rows = read_reference("sim-breast-lesion", version=2)["rows"]
    assert len(matrix["rows"]) == len(ref_rows)
    dice = sorted(round(r["cells"]["sim-breast-lesion@2"]["mean"], 9) for r in matrix["rows"])
    assert dice == sorted(round(r["scores"]["dice_mean"], 9) for r in ref_rows)
    assert all(r["cells"]["sim-breast-lesion@2"]["in_domain"] for r in matrix["rows"])


def test_an_imported_breast_dataset_joins_the_simulated_one(tmp_path, toy_onnx):
    """The path for imported data: a BUSI replica imported by its adapter declares family 'breast', so
    the matrix has the simulated and the imported task as columns."""
    from sonobench.adapters import import_dataset
    from sonobench.evaluator.crosseval import ModelSource, family_matrix, score_family
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import family_tasks
    from tests.adapters.replicas import make_busi

    import_dataset("busi", make_busi(tmp_path / "busi-copy"), splits_dir=tmp_path / "pinned")
    assert [t.ref for t in family_tasks("breast")] == ["busi@1", "sim-breast-lesion@2"]
    store = Store(tmp_path / "b.db")
    cells = score_family(store, ModelSource(toy_onnx, "busi", "threshold"), "breast", log=lambda m: None)
    assert all(isinstance(v, int) for v in cells.values()), cells
    (row,) = family_matrix(store, "breast")["rows"]
    assert row["trained_on"] == "busi@1"
    assert {t: c["in_domain"] for t, c in row["cells"].items()} == {"busi@1": True, "sim-breast-lesion@2": False}
