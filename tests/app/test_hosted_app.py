"""Hosted mode in the app: a withdrawn row is gone from every page, the audit page says who
withdrew it and why, and the Submit page refuses a wrong token without storing anything."""
import json

from sonobench.evaluator.store import ReadOnlyStore, Store
from sonobench.evaluator.teams import withdraw

from .conftest import open_page
from .test_submit import _until_done


def test_withdrawn_row_is_gone_from_the_app_and_the_audit_page_says_why(writable_env):
    sid = writable_env["ids"]["smooth-0.20"]
    withdraw(Store(writable_env["db"]), sid, "trained on the test split", actor="op-alice")
    board = open_page("leaderboard")
    names = list(board.dataframe[0].value["Model"])
    assert "smooth-0.20" not in names and "smooth-0.30" in names
    sub = open_page("submission")
    assert sid not in sub.selectbox(key="sub_pick").options and str(sid) not in sub.selectbox(key="sub_pick").options
    audit = open_page("audit")
    row = audit.dataframe[0].value.iloc[0]
    assert (row["action"], row["target"], row["actor"]) == ("withdraw", f"submission:{sid}", "op-alice")
    assert row["reason"] == "trained on the test split"


def test_submit_page_refuses_a_wrong_token_and_stores_nothing(writable_env, tmp_path, monkeypatch):
    from sonobench.cli.toy import threshold_onnx

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"require_auth": True}))
    monkeypatch.setenv("SONOBENCH_SETTINGS", str(settings))
    before = len(ReadOnlyStore(writable_env["db"]).submissions())
    at = open_page("submit")
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload("m.onnx", threshold_onnx(tmp_path / "m.onnx").read_bytes())
    at.run()
    assert "submit_team" not in [w.key for w in at.text_input]  # no free-text team in hosted mode
    at.text_input(key="submit_token").input("sbt_1_" + "x" * 43)
    at.button(key="submit_go").click()
    at = _until_done(at.run(timeout=60))
    assert at.error and "not valid" in at.error[0].value
    assert len(ReadOnlyStore(writable_env["db"]).submissions()) == before
