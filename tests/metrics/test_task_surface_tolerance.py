"""A task's "surface_tolerance" (task.json) is parsed and validated, defaults to the NSD
tolerance, reaches every score through `score_prediction`, and is recorded on the result."""
import json

import numpy as np
import pytest

from sonobench.cli.toy import build_toy_task
from sonobench.evaluator import summary
from sonobench.evaluator.metrics import band_scores
from sonobench.evaluator.scoring import score_prediction
from sonobench.evaluator.tasks import load_task_folder
from sonobench.kernel import imageio
from sonobench.kernel.errors import InvalidTaskSpec

THIN = ("surface_precision", "surface_recall", "surface_f1")


def _with_spec(task, **changes):
    spec_path = task.folder / "task.json"
    spec = json.loads(spec_path.read_text())
    spec.update(changes)
    spec_path.write_text(json.dumps(spec))
    return load_task_folder(task.folder)


@pytest.fixture
def toy(tmp_path):
    return build_toy_task(tmp_path / "toy" / "v1", n=8)  # spacing 0.2 mm


def test_default_is_the_nsd_tolerance(toy):
    assert toy.surface_tolerance_declared is None
    assert toy.surface_tolerance == toy.nsd_tolerance == pytest.approx(0.4)  # 2 px of 0.2 mm
    declared_nsd = _with_spec(toy, nsd_tolerance=0.7)
    assert declared_nsd.surface_tolerance == 0.7
    assert toy.summary()["surface_tolerance"] == pytest.approx(0.4)


def test_declared_tolerance_is_used_and_recorded(toy):
    task = _with_spec(toy, surface_tolerance=0.5, nsd_tolerance=1.0)
    assert task.surface_tolerance == 0.5 and task.nsd_tolerance == 1.0
    assert task.summary()["surface_tolerance"] == 0.5
    case = next(c for c in task.split("test") if not c.meta["normal"])
    gt = imageio.load_label(task.label_path(case))
    pred = np.roll(gt, 2, axis=0)  # 2 rows = 0.4 mm off: within 0.5 mm, not within 0.3 mm
    scored = score_prediction(task, case, pred)[1]
    assert {k: scored[k] for k in THIN} == {k: band_scores(pred == 1, gt == 1, 0.5, (0.2, 0.2))[k] for k in THIN}
    tighter = score_prediction(_with_spec(toy, surface_tolerance=0.3), case, pred)[1]
    assert tighter["surface_f1"] < scored["surface_f1"]  # so the declared value really reached the score
    assert tighter["nsd"] == scored["nsd"]  # NSD keeps its own tolerance
    cols = summary.summary_columns(task, [score_prediction(task, c, imageio.load_label(task.label_path(c)))
                                          for c in task.split("test")])
    assert cols["surface_tolerance"] == 0.5 and cols["nsd_tolerance"] == 1.0
    assert cols["surface_f1_mean"] == 1.0  # perfect predictions


@pytest.mark.parametrize("bad", [0, -0.5, "0.5", True, [0.5], 1e999])
def test_a_bad_tolerance_is_a_clear_error(toy, bad):
    with pytest.raises(InvalidTaskSpec, match="'surface_tolerance' must be a positive number"):
        _with_spec(toy, surface_tolerance=bad)
