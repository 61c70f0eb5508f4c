"""`sonobench export TASK --split test --images-only`: the test images and each shift set's test
images, each in its own folder, and no label anywhere; what prediction submissions predict."""
import json

from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.task_sets import shift_sets
from sonobench.evaluator.tasks import get_task


def test_images_only_hands_out_the_test_and_shift_set_images_without_labels(tmp_path):
    out = CliRunner().invoke(cli, ["export", "sim-breast-lesion@2", "--split", "test", "--images-only",
                                   "--out", str(tmp_path / "x")])
    assert out.exit_code == 0, out.output
    task = get_task("sim-breast-lesion@2")
    root = tmp_path / "x"
    assert sorted(p.stem for p in (root / "test" / "images").iterdir()) == sorted(c.id for c in task.split("test"))
    sets = shift_sets(task)
    assert sets, "the default task has acquisition-shift sets"
    for child in sets:
        images = root / "shifts" / child.id / "images"
        assert sorted(p.stem for p in images.iterdir()) == sorted(c.id for c in child.split("test"))
        assert f"shifts/{child.id} {len(child.split('test'))} (images only)" in out.output
    assert not [p for p in root.rglob("*") if p.is_dir() and p.name in ("masks", "labels", "labelsTs")]
    manifest = json.loads((root / "sonobench_export.json").read_text())
    assert set(manifest["shift_sets"]) == {c.id for c in sets}
    assert manifest["splits"]["test"]["labels"] is False


def test_without_images_only_the_format_must_be_named(tmp_path):
    out = CliRunner().invoke(cli, ["export", "sim-breast-lesion@2", "--split", "test", "--out", str(tmp_path / "y")])
    assert out.exit_code == 1 and "Error: Name the format: --format nnunet|npz|folders" in out.output
    assert not (tmp_path / "y").exists()
