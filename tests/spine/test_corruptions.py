"""The image-corruption suite: the same bytes for the same (case, corruption, severity), the
physics each corruption claims, scan regions respected, and opt-in scoring as virtual tasks."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator import corruptions as C
from sonobench.evaluator import robustness
from sonobench.evaluator.tasks import get_task
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError, TaskNotFound


def speckle(seed=0, shape=(64, 80)):
    return np.random.default_rng(seed).rayleigh(50.0, shape).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", C.CORRUPTIONS.names())
@pytest.mark.parametrize("severity", C.SEVERITIES)
def test_same_case_same_bytes_and_the_original_is_untouched(name, severity):
    img = speckle()
    before = img.copy()
    a = C.corrupt(img, "case-1", name, severity)
    b = C.corrupt(img, "case-1", name, severity)
    assert a.dtype == np.uint8 and a.shape == img.shape
    assert a.tobytes() == b.tobytes()
    assert np.array_equal(img, before)
    assert not np.array_equal(a, img)  # every corruption changes something


def test_different_cases_draw_different_parameters():
    img = speckle()
    assert not np.array_equal(C.corrupt(img, "a", "noise", 2), C.corrupt(img, "b", "noise", 2))
    assert not np.array_equal(C.corrupt(img, "a", "shadow", 2), C.corrupt(img, "b", "shadow", 2))


def test_each_corruption_does_what_it_says():
    flat = np.full((100, 60), 120, np.uint8)
    g = C.corrupt(flat, "x", "gain", 2).astype(float)
    assert np.allclose(g, g[0, 0]) and abs(20 * np.log10(g[0, 0] / 120) ) == pytest.approx(6.0, abs=0.1)
    t = C.corrupt(np.full((100, 60), 60, np.uint8), "x", "tgc-error", 3).astype(float)  # +-7 dB: no clipping
    assert abs(20 * np.log10(t[-1].mean() / t[0].mean())) == pytest.approx(14.0, abs=0.3)
    d = C.corrupt(flat, "x", "depth-attenuation", 2).astype(float)
    assert d[-1, 30] < d[50, 30] < d[0, 30]  # darker with depth
    s = C.corrupt(flat, "x", "shadow", 3).astype(float)
    assert s[0].min() > 110 and s[-1].min() < 60  # dark below the occluder, not above the shadow start
    h = C.corrupt(flat, "x", "haze", 3).astype(float)
    assert h[:35].max() > 150 and np.allclose(h[-10:], 120)  # clutter in the near field only
    img = speckle()
    assert C.corrupt(img, "x", "speckle-reduction", 3).std() < 0.8 * img.std()
    n = C.corrupt(flat, "x", "noise", 2).astype(float) - 120
    assert n.std() == pytest.approx(16.0, rel=0.1)


def test_pixels_outside_the_scan_region_are_left_alone():
    img = speckle()
    region = np.zeros(img.shape, bool)
    region[10:50, 20:60] = True
    out = C.corrupt(img, "x", "noise", 3, region=region)
    assert np.array_equal(out[~region], img[~region]) and not np.array_equal(out[region], img[region])


def test_bad_names_and_severities_say_what_exists():
    with pytest.raises(SonoBenchError, match="Valid choices: depth-attenuation"):
        C.corrupt(speckle(), "x", "blur", 1)
    with pytest.raises(C.InvalidCorruption, match="severity must be one of 1, 2, 3"):
        C.corrupt(speckle(), "x", "noise", 4)
    with pytest.raises(TaskNotFound, match="TASK~CORRUPTION-sN"):
        C.parse_variant("toy-lesion~blur-s1")


def test_the_full_suite_costs_at_most_three_times_the_main_inference(toy_task):
    variants = C.suite(toy_task, "all")
    assert len(variants) == 21
    n_test = len(toy_task.split("test"))
    # at least one case per variant: the 3x bound holds once the split has >= 7 cases
    assert sum(len(v.cases) for v in variants) <= max(C.COST_FACTOR * n_test, len(variants))
    assert C.subset_size(100, 21) == 14 and 21 * 14 <= 3 * 100  # the default task: 294 of 300 allowed
    assert len({tuple(c.id for c in v.cases) for v in variants}) == 1  # every variant on the same cases
    assert [v.condition["name"] for v in C.suite(toy_task, "noise-s2,shadow")] == [
        "noise-s2", "shadow-s1", "shadow-s2", "shadow-s3"]


def test_a_variant_is_a_task_that_corrupts_on_read(toy_task):
    v = get_task("toy-lesion~noise-s2@1")
    assert v.parent == toy_task.ref and v.corruption == ("noise", 2) and v.split("val") == []
    case = v.cases[0]
    raw = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(toy_task.image_path(case)))
    assert not np.array_equal(v.load_image(case), raw)
    assert np.array_equal(v.load_image(case), C.corrupt(raw, case.id, "noise", 2))
    assert v.digest != toy_task.digest and get_task(v.ref).digest == v.digest


def test_submit_opts_in_and_the_robustness_view_pairs_against_the_parent(toy_task, toy_onnx, tmp_path):
    db = str(tmp_path / "r.db")
    r = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", db, "--json",
                                 "--corruptions", "noise-s3,gain-s1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert [s["condition"] for s in out["shifts"]] == ["noise-s3", "gain-s1"]
    from sonobench.evaluator.store import Store, queries

    store = Store(db)
    conditions, rows = robustness.robustness_rows(store, toy_task)
    assert sorted(conditions) == ["gain-s1", "noise-s3"]
    main = out["submission_id"]
    base = queries.case_values(store, [main], "dice")[main]
    noisy_id = out["shifts"][0]["submission_id"]
    noisy = queries.case_values(store, [noisy_id], "dice")[noisy_id]
    # The toy's corruption subset is its first test case, which is lesion-free: under the class-absent
    # policy it has no Dice, so there is nothing to pair and the view shows no number for it.
    (variant,) = [c for c in robustness.conditions_of(store, toy_task) if c.corruption == ("noise", 3)]
    assert not any(imageio.load_label(variant.label_path(c)).any() for c in variant.cases)
    assert noisy == {} and base and "noise-s3" not in rows[0].conditions
    assert rows[0].robustness is None and rows[0].corruption_robustness is None
    bad = CliRunner().invoke(cli, ["submit", str(toy_onnx), "--task", "toy-lesion", "--db", str(tmp_path / "x.db"),
                                   "--corruptions", "blur"])
    assert bad.exit_code == 1 and "Valid choices" in bad.output
    assert not (tmp_path / "x.db").exists() or Store(str(tmp_path / "x.db")).counts()["submissions"] == 0
