"""Method metadata on submissions (evaluator/method.py): validated in submission.json and on the
command line, stored in their own columns (migration m009), shown in the board's JSON, and a
board filter by training data; references and floors carry their own."""
import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.method import Method, check_method, link_or_none, reference_method, training_data_text
from sonobench.evaluator.store import ReadOnlyStore, Store
from sonobench.evaluator.submission import prepare, read_spec
from sonobench.kernel.errors import InvalidSubmission

HOSTILE_URLS = [
    "javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "ftp://example.org/x",
    "https://", "https:///no-host", "//example.org/x", "https://user:pw@example.org/", "https://a.org/x y",
    "https://a.org/\u202egpj.exe", "https://a.org/\nx", "vbscript:msgbox(1)", "https://a.org:0/",
    "https://a.org:99999/", "https://" + "a" * 600 + ".org",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_link_that_is_not_plain_http_is_refused_naming_the_field(url):
    with pytest.raises(InvalidSubmission, match="'paper_url'"):
        check_method({"paper_url": url})
    assert link_or_none(url) is None  # a reader never renders it as a link either


def test_plain_links_pass_and_are_kept_exactly():
    m = check_method({"paper_url": "https://arxiv.org/abs/2501.00001", "code_url": "http://example.org/a?b=1#c"})
    assert m.paper_url == "https://arxiv.org/abs/2501.00001" and m.code_url == "http://example.org/a?b=1#c"
    assert link_or_none(m.code_url) == m.code_url


@pytest.mark.parametrize("text, why", [
    ("x" * 1001, "limit is 1000"), ("red \x1b[31mtext", "U\\+001B"), ("right\u202eto left", "U\\+202E"),
    ("nul\x00", "U\\+0000"), ("zero\u200bwidth", "U\\+200B")])
def test_a_description_with_control_characters_or_too_long_is_refused(text, why):
    with pytest.raises(InvalidSubmission, match=f"'description'.*{why}|{why}.*"):
        check_method({"description": text})


def test_markup_in_a_description_is_kept_as_text_and_line_breaks_allowed():
    text = "**bold** <img src=x onerror=alert(1)> [x](javascript:alert(1))\nsecond line"
    assert check_method({"description": text}).description == text


def test_training_data_values_and_the_pretraining_set_name():
    assert check_method({"training_data": "train-only"}).training_data == "train-only"
    m = check_method({"training_data": "pretraining", "pretraining_set": "sim-pre@1"})
    assert (m.training_data, m.pretraining_set) == ("pretraining", "sim-pre@1")
    with pytest.raises(InvalidSubmission, match="Did you mean 'external'"):
        check_method({"training_data": "externl"})
    with pytest.raises(InvalidSubmission, match="name the pretraining set"):
        check_method({"training_data": "pretraining"})
    with pytest.raises(InvalidSubmission, match="'pretraining_set' is given"):
        check_method({"training_data": "external", "pretraining_set": "x"})
    with pytest.raises(InvalidSubmission, match="must be a text"):
        check_method({"training_data": ["external"]})
    assert training_data_text(m.to_json()) == "train split + a named pretraining set (sim-pre@1)"
    assert training_data_text({}) == "not stated"


def test_submission_json_carries_the_method_into_the_prepared_submission(tmp_path, toy_onnx):
    spec = tmp_path / "submission.json"
    spec.write_text(json.dumps({"name": "m", "description": "UNet, 5 folds", "paper_url": "https://a.org/p",
                                "code_url": "https://a.org/c", "training_data": "external"}))
    sub = prepare(toy_onnx, read_spec(spec))
    assert sub.meta["method"] == {"description": "UNet, 5 folds", "paper_url": "https://a.org/p",
                                  "code_url": "https://a.org/c", "training_data": "external",
                                  "pretraining_set": None}
    spec.write_text(json.dumps({"paper_url": "javascript:alert(1)"}))
    with pytest.raises(InvalidSubmission, match="submission.json: 'paper_url'"):
        read_spec(spec)
    spec.write_text(json.dumps({"paper": "https://a.org"}))
    with pytest.raises(InvalidSubmission, match="Did you mean 'paper_url'"):
        read_spec(spec)


def test_references_and_floors_carry_their_own_method(store, toy_task):
    store.register_task(toy_task)
    given = {"method": Method(training_data="external", paper_url="https://a.org").to_json()}
    ids = {kind: store.create_submission(file_sha256=kind[0] * 64, filename="m.onnx", fmt="onnx", task=toy_task,
                                         name=kind, kind=kind, meta=given) for kind in ("baseline", "floor", "submission")}
    rows = {k: store.submission(i) for k, i in ids.items()}
    assert rows["baseline"]["training_data"] == rows["floor"]["training_data"] == "train-only"
    assert rows["baseline"]["paper_url"] is None and "baselines/" in rows["baseline"]["code_url"]
    assert link_or_none(rows["floor"]["code_url"]) is None  # a path in this repository: text, not a link
    assert rows["submission"]["training_data"] == "external" and rows["submission"]["paper_url"] == "https://a.org"
    assert "method" not in rows["submission"]["meta"]  # stored once, in its columns
    pre = reference_method("baseline", {"training": {"pretraining": {"set": "sim-pre@1"}}})
    assert (pre.training_data, pre.pretraining_set) == ("pretraining", "sim-pre@1")


def _store_before_m009(path):
    import sqlite_utils

    from sonobench.evaluator.store import migrations

    db = sqlite_utils.Database(path)
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, fn in migrations.MIGRATIONS:
        if name.startswith("m009"):
            break
        fn(db)
        db["_migrations"].insert({"name": name, "applied_at": migrations.now()})
    return db


def test_m009_moves_old_descriptions_and_marks_old_references(tmp_path, toy_task):
    db = _store_before_m009(tmp_path / "old.db")
    common = {"filename": "m.onnx", "format": "onnx", "name": "m", "task_id": toy_task.id,
              "task_version": toy_task.version, "status": "done"}
    db["submissions"].insert_all([
        dict(common, id=1, file_sha256="a" * 64, kind="submission", meta=json.dumps({"description": "old text"})),
        dict(common, id=2, file_sha256="b" * 64, kind="baseline", meta="{}"),
        dict(common, id=3, file_sha256="c" * 64, kind="submission", meta="not json")])
    db.conn.commit()
    db.conn.close()
    store = Store(tmp_path / "old.db")
    assert store.submission(1)["description"] == "old text" and store.submission(1)["training_data"] is None
    assert store.submission(2)["training_data"] == "train-only"
    assert store.submission(3)["description"] is None


def test_a_read_only_reader_of_a_store_before_m009_still_lists_the_board(tmp_path, toy_task):
    db = _store_before_m009(tmp_path / "old.db")
    db.conn.commit()
    db.conn.close()
    rows = ReadOnlyStore(tmp_path / "old.db").leaderboard_rows(toy_task.id, toy_task.version)
    assert rows == []  # no crash on the missing columns


def _submit(db, model, *extra):
    return CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", db, "--isolation", "none",
                                    *extra])


def test_cli_options_are_stored_shown_in_json_and_filter_the_board(tmp_path, toy_task, toy_onnx):
    from sonobench.cli.toy import threshold_onnx

    db = str(tmp_path / "r.db")
    r = _submit(db, toy_onnx, "--description", "<b>x</b> [y](javascript:z)", "--paper-url", "https://a.org/p",
                "--training-data", "pretraining", "--pretraining-set", "sim-pre@1")
    assert r.exit_code == 0, r.output
    other = threshold_onnx(tmp_path / "other.onnx", threshold=0.5)
    assert _submit(db, other, "--training-data", "external").exit_code == 0

    def board(*extra):
        r = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", db, "--format", "json", *extra])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    rows = {r["name"]: r for r in board()["rows"]}
    assert rows["toy_threshold"]["description"] == "<b>x</b> [y](javascript:z)"
    assert rows["toy_threshold"]["paper_url"] == "https://a.org/p"
    assert rows["toy_threshold"]["pretraining_set"] == "sim-pre@1"
    assert [r["name"] for r in board("--training-data", "external")["rows"]] == ["other"]
    assert board("--training-data", "pretraining,external")["training_data"] == ["pretraining", "external"]
    assert len(board("--training-data", "pretraining,external")["rows"]) == 2
    r = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", db, "--columns", "name,training,dice"])
    lines = {line.split()[0]: line for line in r.output.splitlines()[2:4]}
    assert "Trained on" in r.output.splitlines()[1]
    assert "pretraining (sim-pre@1)" in lines["toy_threshold"] and "external" in lines["other"]
    r = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", db, "--training-data", "train-only"])
    assert r.exit_code == 0 and "No results for toy-lesion" in r.output and "Drop --training-data" in r.output
    r = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", db, "--training-data", "extrnal"])
    assert r.exit_code == 1 and r.output.startswith("Error: --training-data: unknown value 'extrnal'")


def test_a_bad_option_is_one_error_line_and_stores_nothing(tmp_path, toy_task, toy_onnx):
    db = tmp_path / "r.db"
    r = _submit(str(db), toy_onnx, "--code-url", "javascript:alert(1)")
    assert r.exit_code == 1 and r.output.startswith("Error: command line: 'code_url' must be an http")
    assert len(r.output.strip().splitlines()) == 1
    assert not db.exists() or Store(db).counts()["submissions"] == 0
    r = _submit(str(db), toy_onnx, "--training-data", "pretraining")
    assert r.exit_code == 1 and "name the pretraining set" in r.output


def test_floors_stay_on_a_filtered_board():
    from sonobench.evaluator.board_filter import by_training_data, parse_training_data

    rows = [{"kind": "floor", "training_data": "train-only"}, {"kind": "submission", "training_data": "external"},
            {"kind": "submission", "training_data": None}, {"kind": "baseline", "training_data": "train-only"}]
    assert by_training_data(rows, parse_training_data("external")) == rows[:2]
    assert by_training_data(rows, parse_training_data("not-stated")) == [rows[0], rows[2]]
    assert by_training_data(rows, parse_training_data(None)) == rows
