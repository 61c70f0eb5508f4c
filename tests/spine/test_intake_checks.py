"""`submit` (and the app's Evaluate, through the same intake) runs `check`'s contract checks first
and says what `check` says; no "ok" after a failed check; a tuple output is stated."""
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.store import Store

from .test_hosted import _fixed_size_onnx


def _rows(db):
    with Store(db) as store:
        return list(store.db.query("select status, error from submissions order by id"))


def test_submit_gives_checks_actionable_message_for_a_wrong_input_size(toy_task, tmp_path):
    model, db = _fixed_size_onnx(tmp_path / "small.onnx", 32), tmp_path / "r.db"
    out = CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", str(db)])
    assert out.exit_code == 1
    assert "exported for 32 x 32 inputs, but task toy-lesion@1 feeds 64 x 64 images" in out.output
    assert "torch.zeros(1, 1, 64, 64)" in out.output and "sonobench check small.onnx" in out.output
    assert "Got invalid dimensions" not in out.output                    # onnxruntime's raw text
    [row] = _rows(db)                                                     # the team sees it, with its reason
    assert row["status"] == "failed" and "exported for 32 x 32" in row["error"]


def test_a_text_file_named_onnx_gets_the_error_and_no_ok(toy_task, tmp_path):
    fake = tmp_path / "notes.onnx"
    fake.write_text("these are my notes, not a model\n" * 10)
    out = CliRunner().invoke(cli, ["check", str(fake), "--task", "toy-lesion"])
    assert out.exit_code == 1 and "not a readable ONNX model" in out.output
    assert "ok:" not in out.output
    sub = CliRunner().invoke(cli, ["submit", str(fake), "--task", "toy-lesion", "--db", str(tmp_path / "r.db")])
    assert sub.exit_code == 1 and "not a readable ONNX model" in sub.output
    assert [r["status"] for r in _rows(tmp_path / "r.db")] == ["failed"]


def _tuple_torchscript(path):
    import torch

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return (x * 20.0 - 10.0, torch.zeros_like(x))

    torch.jit.save(torch.jit.trace(TwoHeads(), torch.zeros(1, 1, 64, 64)), str(path))
    return path


def test_a_tuple_output_is_scored_with_its_chosen_element_stated(toy_task, tmp_path):
    model, db = _tuple_torchscript(tmp_path / "two_heads.pt"), tmp_path / "r.db"
    check = CliRunner().invoke(cli, ["check", str(model), "--task", "toy-lesion"])
    assert check.exit_code == 0, check.output
    assert "a tuple of 2 outputs; element 0 was scored" in check.output
    out = CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "Note: the model returns a tuple of 2 outputs; element 0 was scored" in out.output
    with Store(db) as store:
        [res] = store.db.query("select hardware from results")
    assert "element 0 was scored" in res["hardware"]


def test_a_forged_output_description_is_refused():
    import pytest

    from sonobench.evaluator.sandbox import reports

    assert reports.output_choice(None) is None
    assert "'logits'" in reports.output_choice({"container": "dict", "length": 2, "key": "logits"})
    for bad in ({"container": "set", "length": 1}, {"container": "tuple", "length": -1},
                {"container": "dict", "length": 1, "key": "<b>x</b>"}, "tuple"):
        with pytest.raises(reports.ChildReportInvalid):
            reports.output_choice(bad)


def test_a_queued_follow_up_is_not_called_already_scored(toy_task, toy_onnx, file_store, tmp_path):
    """The audit: the CLI said "already scored" of shift-set jobs that stayed queued for good."""
    from sonobench.evaluator import follow_ups, task_sets
    from sonobench.evaluator.evaluate import Request
    from sonobench.evaluator.queue import enqueue
    from sonobench.evaluator.submission import prepare
    from sonobench.evaluator.tasks import get_task
    from sonobench.kernel.settings import Settings

    from .test_robustness import brighter, make_shift

    make_shift(toy_task, tmp_path / "tasks", "gain", brighter, n=4)
    task, sub, request = get_task(toy_task.ref), prepare(toy_onnx), Request.for_task(toy_task)
    child = task_sets.shift_sets(task)[0]
    queued = enqueue(file_store, child, sub, Settings(), task_sets.follow_up(request, child, 1))
    lines = []
    [outcome] = follow_ups.score_shifts(file_store, task, sub, request, Settings(), 1, log=lines.append)
    assert outcome.already and outcome.submission_id == queued.submission_id and outcome.state == "queued"
    assert "already queued, not scored yet" in lines[0] and "already scored" not in lines[0]
