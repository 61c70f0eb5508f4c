"""The Submit page takes a .zip of prediction masks through the same intake as a model: scored at
once, labelled as predictions; a bad zip shows the evaluator's one reason and stores nothing."""
import io
import zipfile

import numpy as np
from PIL import Image

from sonobench.evaluator.store import ReadOnlyStore
from sonobench.evaluator.tasks import get_task
from sonobench.kernel import imageio

from .conftest import open_page
from .test_submit import _upload


def _zip(drop_first=False) -> bytes:
    task = get_task("toy-lesion@1")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for c in task.split("test")[1 if drop_first else 0:]:
            png = io.BytesIO()
            Image.fromarray(imageio.load_label(task.label_path(c)).astype(np.uint8), mode="L").save(png, format="PNG")
            zf.writestr(f"{c.id}.png", png.getvalue())
    return buf.getvalue()


def test_a_zip_of_masks_is_scored_and_labelled_as_predictions(writable_env):
    at = _upload(open_page("submit"), "masks.zip", _zip())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success and "Scored: submission #" in at.success[0].value
    [row] = [r for r in ReadOnlyStore(writable_env["db"]).leaderboard_rows("toy-lesion") if r["name"] == "uploaded-0.25"]
    assert row["format"] == "predictions" and row["team"] == "web" and row["params"] is None


def test_a_zip_missing_a_case_shows_the_reason_and_stores_nothing(writable_env):
    before = len(ReadOnlyStore(writable_env["db"]).submissions())
    at = _upload(open_page("submit"), "masks.zip", _zip(drop_first=True))
    assert at.error and "have no prediction" in at.error[0].value
    assert len(ReadOnlyStore(writable_env["db"]).submissions()) == before


def test_check_first_checks_a_zip_of_masks_and_stores_nothing(writable_env):
    before = len(ReadOnlyStore(writable_env["db"]).submissions())
    at = open_page("submit")
    at.selectbox(key="submit_task").set_value("toy-lesion@1")
    at.file_uploader(key="submit_model").upload("masks.zip", _zip())
    at.run()
    at.button(key="submit_check").click()
    at.run(timeout=60)
    assert not at.error and at.success and "masks.zip meets the contract of toy-lesion@1" in at.success[0].value
    assert any("masks, one per test case" in c.value for c in at.caption)
    assert len(ReadOnlyStore(writable_env["db"]).submissions()) == before
