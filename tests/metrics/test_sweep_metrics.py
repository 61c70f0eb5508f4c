"""Known answers of the 3D sweep metrics on analytic geometry without tracking jitter: a flat plate
and a cylinder shaft swept by a linear probe (tests/metrics/sweep_factory.py)."""
import math

import numpy as np
import pytest

from sonobench.evaluator.sweeps import InvalidSweep, probe_facing_edge, reconstruct, score_sweep
from tests.metrics.sweep_factory import box, cylinder, cylinder_top, linear_sweep, plate_top, render

TAU = 1.0


@pytest.fixture(scope="module")
def plate():
    sweep = linear_sweep(box((-10, -20, -12), (10, 20, -10)), np.arange(-9, 9.01, 0.5))
    return sweep, render(sweep, plate_top())


@pytest.fixture(scope="module")
def shaft():
    sweep = linear_sweep(cylinder(8.0, -15.0, -20, 20), np.arange(-8, 8.01, 0.5))
    return sweep, render(sweep, cylinder_top(8.0, -15.0))


def test_probe_facing_edge_takes_the_shallowest_pixel_of_each_column():
    mask = np.zeros((6, 4), bool)
    mask[2:4, 0] = mask[5, 1] = mask[1, 3] = mask[4, 3] = True
    rows, cols = probe_facing_edge(mask)
    assert cols.tolist() == [0, 1, 3] and rows.tolist() == [2, 5, 1]


def test_perfect_prediction_on_a_plate_reconstructs_its_visible_surface(plate):
    sweep, labels = plate
    r = score_sweep(sweep, labels, labels, tolerance=TAU)
    rec = r["reconstruction"]
    assert rec.sweep_accuracy == pytest.approx(0, abs=1e-9) and rec.sweep_accuracy_p95 == pytest.approx(0, abs=1e-9)
    assert rec.sweep_completeness == 1.0 and rec.sweep_fscore == 1.0
    assert rec.n_points == len(sweep.frames) * 201        # x in [-10, 10] at 0.1 mm
    assert r["labels"] == rec                                 # the labels' own reconstruction is the ceiling
    assert all(s[1]["dice"] == 1.0 for s in r["frames"].values())


def test_perfect_prediction_on_a_shaft_is_exact_up_to_the_pixel(shaft):
    sweep, labels = shaft
    rec = score_sweep(sweep, labels, tolerance=TAU)["reconstruction"]
    # pixel centres lie within half a pixel (0.05 mm) of the exact circle; the facets add < 0.001 mm
    assert rec.sweep_accuracy < 0.03 and rec.sweep_accuracy_p95 < 0.055
    assert rec.sweep_completeness > 0.995 and rec.sweep_fscore > 0.995


def test_a_1mm_pose_offset_along_the_normal_gives_1mm_accuracy(plate):
    sweep, labels = plate
    shifted = linear_sweep(sweep.mesh, np.arange(-9, 9.01, 0.5), dz=1.0)   # the probe 1 mm higher
    rec = score_sweep(shifted, labels, tolerance=TAU)["reconstruction"]
    assert rec.sweep_accuracy == pytest.approx(1.0, abs=1e-9)
    assert rec.sweep_accuracy_p95 == pytest.approx(1.0, abs=1e-9)
    # and 2 mm: twice as far, now beyond τ, so nothing is found
    rec2 = score_sweep(linear_sweep(sweep.mesh, np.arange(-9, 9.01, 0.5), dz=2.0), labels, tolerance=TAU)
    assert rec2["reconstruction"].sweep_accuracy == pytest.approx(2.0, abs=1e-9)
    assert rec2["reconstruction"].sweep_completeness == 0.0 and rec2["reconstruction"].sweep_fscore == 0.0


@pytest.mark.parametrize("geometry", ["plate", "shaft"])
def test_dropping_every_second_frame_halves_completeness_when_frames_are_over_2tau_apart(geometry):
    spacing = 3.0                                              # > 2τ
    if geometry == "plate":
        sweep = linear_sweep(box((-10, -20, -12), (10, 20, -10)), np.arange(-16.5, 16.6, spacing))
        labels = render(sweep, plate_top())
    else:
        sweep = linear_sweep(cylinder(8.0, -15.0, -20, 20), np.arange(-16.5, 16.6, spacing))
        labels = render(sweep, cylinder_top(8.0, -15.0))
    assert len(sweep.frames) % 2 == 0
    full = score_sweep(sweep, labels, tolerance=TAU)["reconstruction"]
    half = {k: v for k, v in list(labels.items())[::2]}
    dropped = score_sweep(sweep, half, tolerance=TAU)["reconstruction"]
    assert full.sweep_completeness > 0.99
    assert dropped.sweep_completeness == pytest.approx(full.sweep_completeness / 2, abs=0.03)
    assert dropped.sweep_accuracy == pytest.approx(full.sweep_accuracy, abs=0.01)   # what is found is as exact


def test_dropping_every_second_frame_costs_nothing_when_frames_are_dense(plate):
    sweep, labels = plate                                      # 0.5 mm apart: every gap stays within τ
    half = {k: v for k, v in list(labels.items())[::2]}
    assert score_sweep(sweep, half, tolerance=TAU)["reconstruction"].sweep_completeness == 1.0


def test_no_prediction_scores_zero_completeness_and_the_worst_accuracy(plate):
    sweep, labels = plate
    empty = {k: np.zeros_like(v) for k, v in labels.items()}
    for predictions in (empty, {}):
        r = score_sweep(sweep, predictions, labels, tolerance=TAU)
        rec = r["reconstruction"]
        worst = math.hypot(250 * 0.1, 300 * 0.1)               # the 251x301 field's diagonal in mm
        assert rec.sweep_completeness == 0.0 and rec.sweep_fscore == 0.0 and rec.n_points == 0
        assert rec.sweep_accuracy == pytest.approx(worst) and rec.sweep_accuracy_p95 == pytest.approx(worst)
        assert all(s[1]["dice"] == 0.0 for s in r["frames"].values())


def test_a_far_false_surface_never_scores_worse_than_predicting_nothing(plate):
    sweep, labels = plate
    wrong = {k: np.zeros_like(v) for k, v in labels.items()}
    for m in wrong.values():
        m[0, :] = 1                                            # the skin line, 10 mm above the bone
    rec = score_sweep(sweep, wrong, tolerance=TAU)["reconstruction"]
    assert rec.sweep_accuracy == pytest.approx(math.hypot(10, 0), abs=0.6)
    assert rec.sweep_accuracy <= rec.worst and rec.sweep_completeness == 0.0


def test_a_hidden_surface_under_the_visible_one_is_not_required():
    plates = [box((-10, -20, -12), (10, 20, -10)), box((-10, -20, -20), (10, 20, -18))]
    from sonobench.evaluator.sweeps import Mesh
    mesh = Mesh(np.concatenate([p.vertices for p in plates]), np.concatenate([plates[0].faces, plates[1].faces + 8]))
    sweep = linear_sweep(mesh, np.arange(-9, 9.01, 0.5))
    rec = score_sweep(sweep, render(sweep, plate_top()), tolerance=TAU)["reconstruction"]
    assert rec.sweep_completeness == 1.0 and rec.sweep_accuracy == pytest.approx(0, abs=1e-9)


def test_a_sweep_that_never_sees_the_mesh_is_refused():
    sweep = linear_sweep(box((-10, -20, -62), (10, 20, -60)), np.arange(-5, 5, 1.0))   # 60 mm deep, field 25 mm
    with pytest.raises(InvalidSweep, match="see none of the mesh"):
        score_sweep(sweep, {}, tolerance=TAU)


def test_masks_must_have_the_frame_shape(plate):
    sweep, labels = plate
    frame = sweep.frames[0].frame_id
    with pytest.raises(InvalidSweep, match="native size"):
        reconstruct(sweep, {frame: labels[frame][:-1]})


def test_the_mesh_section_edge_matches_the_exact_circle(shaft):
    from sonobench.evaluator.sweeps.metrics import section_depths
    sweep, _ = shaft
    frame = sweep.frames[3]
    depth = section_depths(frame, sweep.mesh.triangles)
    x = frame.origin[0] + np.arange(frame.shape[1]) * 0.1
    nearest = np.clip(np.abs(x) - 0.05, 0, None)                    # the column's pixel spans x ± 0.05 mm
    exact = -(-15.0 + np.sqrt(np.clip(64 - nearest ** 2, 0, None)))
    inside = np.abs(x) < 7.95
    assert np.abs(depth[inside] - exact[inside]).max() < 0.01      # 512 facets: chord error < 0.001 mm
    assert np.isinf(depth[np.abs(x) > 8.05]).all()                  # no section beyond the shaft


def test_point_errors_give_each_reconstructed_point_its_distance(plate):
    from sonobench.evaluator.sweeps import point_errors
    sweep, labels = plate
    shifted = linear_sweep(sweep.mesh, np.arange(-9, 9.01, 0.5), dz=1.0)
    points, errors = point_errors(shifted, labels)
    assert len(points) == len(errors) == len(sweep.frames) * 201
    np.testing.assert_allclose(points[:, 2], -9.0, atol=1e-9)
    np.testing.assert_allclose(errors, 1.0, atol=1e-9)
    assert point_errors(sweep, {})[1].shape == (0,)


def test_missing_labels_and_bad_tolerances_are_refused(plate):
    sweep, labels = plate
    partial = dict(list(labels.items())[1:])
    with pytest.raises(InvalidSweep, match="no label for 1 frame"):
        score_sweep(sweep, labels, partial, tolerance=TAU)
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises(InvalidSweep, match="positive tolerance"):
            score_sweep(sweep, labels, tolerance=bad)
