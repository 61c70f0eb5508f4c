"""The Submission page's method section (plain text and safe links only, hostile strings
included) and its strata breakdown; the leaderboard's training-data filter; the upload form's
method fields."""
import re
import sqlite3

from sonobench.evaluator.store import ReadOnlyStore
from sonobench.leaderboard_app import details, ui

from .conftest import open_page
from .test_submit import _until_done

HOSTILE = {
    "description": "**bold** <img src=x onerror=alert(1)> [click](javascript:alert(1))\n# heading\n:red[x]",
    "paper_url": "https://arxiv.org/abs/1)(x)<b>\"'",  # valid http(s); must not break out of the link
    "code_url": "javascript:alert(1)",                   # what a damaged or forged row might hold
    "training_data": "pretraining",
    "pretraining_set": "[evil](http://evil.example) <script>",
}


def _set(db, sid: int, fields: dict) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"update submissions set {', '.join(f'{k} = ?' for k in fields)} where id = ?", [*fields.values(), sid])
    conn.commit()
    conn.close()


def _markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_hostile_method_fields_render_as_text_and_only_http_links(writable_env):
    sid = writable_env["ids"]["smooth-0.30"]
    _set(writable_env["db"], sid, HOSTILE)
    at = open_page("submission")
    at.selectbox(key="sub_pick").set_value(sid).run()
    assert not at.exception
    texts = [t.value for t in at.text]  # st.text: no Markdown, no HTML, no autolinks
    assert HOSTILE["description"] in texts
    assert ("Training data: train split + a named pretraining set ([evil](http://evil.example) <script>)\n"
            "Code: javascript:alert(1)") in texts  # not a link: plain text
    text = _markdown(at)
    assert "evil" not in text and "javascript" not in text and "bold" not in text
    # the only Markdown link is the paper's, percent-encoded so nothing in it can end the target
    assert re.findall(r"(?<!\\)\]\((\S+?)\)(?:\s|$)", text) == ["https://arxiv.org/abs/1%29%28x%29%3Cb%3E%22%27"]
    assert not re.search(r"(?<!\\)<", text)


def test_safe_link_is_none_for_anything_but_http():
    assert details.safe_link("javascript:alert(1)") is None and details.safe_link("repo/path.py") is None
    assert details.safe_link("https://a.org/x y") is None  # refused, never "fixed"
    assert details.safe_link("https://a.org/p").endswith("(https://a.org/p)")


def test_reference_rows_say_train_split_only_and_name_their_code(app_env):
    at = open_page("submission")
    at.selectbox(key="sub_pick").set_value(app_env["ids"]["baseline"]).run()
    assert ("Training data: the task's train split only\n"
            "Code: baselines/training in this repository (sonobench baselines run)") in [t.value for t in at.text]


def test_the_submission_page_breaks_the_metrics_down_by_strata(app_env):
    at = open_page("submission")
    at.selectbox(key="sub_pick").set_value(app_env["ids"]["smooth-0.30"]).run()
    assert any(h.value.startswith("Where it fails") for h in at.subheader)
    table = next(d.value for d in at.dataframe if "Stratum" in d.value.columns)
    assert set(table["Group"]) == {"False", "True"} and set(table["Stratum"]) == {"Normal"}
    lesion = table[table["Group"] == "False"].iloc[0]
    assert lesion["Cases"] == 3 and "[" in lesion["Dice ↑"]
    assert table[table["Group"] == "True"].iloc[0]["Dice ↑"] == "n/a"  # lesion-free: Dice does not apply


def test_the_board_filters_by_training_data_and_keeps_the_floors(writable_env):
    ids = writable_env["ids"]
    _set(writable_env["db"], ids["smooth-0.30"], {"training_data": "external"})
    at = open_page()
    at.multiselect(key="lb_training").set_value(["external"]).run()
    assert list(at.dataframe[0].value["Model"]) == ["smooth-0.30"]
    at.multiselect(key="lb_training").set_value(["train-only"]).run()
    assert list(at.dataframe[0].value["Model"]) == ["unet-baseline"]
    at.multiselect(key="lb_training").set_value(["pretraining"]).run()
    assert any("No model trained on train split + a named pretraining set" in i.value for i in at.info)


def test_the_upload_form_stores_the_method(writable_env, tmp_path):
    from sonobench.cli.toy import threshold_onnx

    model = threshold_onnx(tmp_path / "m.onnx", threshold=0.27)
    at = open_page("submit")
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload("m.onnx", model.read_bytes())
    at.run()
    at.text_area(key="submit_description").input("Thresholding, <no> training")
    at.text_input(key="submit_paper_url").input("https://example.org/paper")
    at.selectbox(key="submit_training_data").set_value("external")
    at.button(key="submit_go").click()
    at = _until_done(at.run(timeout=60))
    assert at.success and not at.error, [e.value for e in at.error]
    row = [r for r in ReadOnlyStore(writable_env["db"]).leaderboard_rows("toy-lesion") if r["name"] == "m"][0]
    assert (row["description"], row["paper_url"], row["training_data"]) == (
        "Thresholding, <no> training", "https://example.org/paper", "external")


def test_a_bad_link_in_the_form_is_one_error_and_queues_nothing(writable_env, tmp_path):
    from sonobench.cli.toy import threshold_onnx

    before = ReadOnlyStore(writable_env["db"]).counts()["submissions"]
    at = open_page("submit")
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload("m.onnx", threshold_onnx(tmp_path / "m.onnx").read_bytes())
    at.run()
    at.text_input(key="submit_code_url").input("javascript:alert(1)")
    at.button(key="submit_go").click().run()
    assert [e.value for e in at.error] == [ui.plain("Method: 'code_url' must be an http:// or https:// link with a "
                                                    "host, such as https://arxiv.org/abs/2501.00001; got "
                                                    "'javascript:alert(1)'")]
    assert ReadOnlyStore(writable_env["db"]).counts()["submissions"] == before
