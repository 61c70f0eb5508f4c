"""UltraBones100k's tracked sweeps read into the sweep structure, on a replica with a known geometry
(a flat CT 'bone' plate) and known poses: the calibration, the tracking schemas, the pose choice, and
that a shifted pose moves the reconstruction by exactly that shift."""
import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from sonobench.adapters.errors import LayoutError
from sonobench.adapters.folders import scan_ultrabones
from sonobench.adapters.ultrabones_sweeps import CalibrationError, PoseSet, load_labels, read_sweeps
from sonobench.evaluator.sweeps import reconstruct, score_sweep, write_stl
from tests.adapters.replicas import make_ultrabones, texture
from tests.metrics.sweep_factory import box

ROW_MM, COL_MM = 0.2, 0.25
SHAPE = (180, 48)
PLATE_TOP = -30.0
# image x -> probe x, image y (depth) -> probe -z, image z -> probe y; the image origin 2 mm above the probe's
IMAGE_TO_PROBE = np.array([[1, 0, 0, -6.0], [0, 0, 1, 0], [0, -1, 0, 2.0], [0, 0, 0, 1]])
ORIGINAL_OFFSET = np.array([0.5, 0.0, 0.0])       # the original poses sit 0.5 mm off the optimised ones
N_FRAMES = 6


def probe_pose(k: int, shift=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Optimised probe-to-world pose of frame k: turned k degrees about the vertical, moved 2 mm a frame."""
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("z", k, degrees=True).as_matrix()
    m[:3, 3] = np.array([0.0, -10.0 + 2.0 * k, 0.0]) + shift
    return m


def timestamps():
    return [str(1690000000000 + 33 * k) for k in range(N_FRAMES)]


def write_tracking(path, schema="matrix", shift=(0.0, 0.0, 0.0), drop=(), time_format="{}"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if schema == "matrix":
            names = [f"m{i}{j}" for i in range(4) for j in range(4)]
        else:
            names = ["x", "y", "z", "qx", "qy", "qz", "qw"]
        w.writerow(["timestamp"] + names + [n + "_optimized" for n in names])
        for k, ts in enumerate(timestamps()):
            if k in drop:
                continue
            opt = probe_pose(k, shift)
            orig = opt.copy()
            orig[:3, 3] += ORIGINAL_OFFSET
            w.writerow([time_format.format(ts)] + _values(orig, schema) + _values(opt, schema))


def _values(m, schema):
    if schema == "matrix":
        return [f"{v:.12g}" for v in m.ravel()]
    q = Rotation.from_matrix(m[:3, :3]).as_quat()               # scalar last
    return [f"{v:.12g}" for v in list(m[:3, 3]) + list(q)]


def write_calibration(path, **changes):
    doc = {"pixel_spacing_mm": [ROW_MM, COL_MM], "image_to_probe": IMAGE_TO_PROBE.tolist(), **changes}
    path.write_text(json.dumps(doc))
    return path


def make_tracked(root, schema="matrix", stl_binary=True, calibration=True):
    """The whole replica (every specimen), with specimen 2's record01 a tracked sweep over a plate."""
    base = make_ultrabones(root)
    specimen = next(base.glob("cadaver02_*"))
    write_stl(specimen / "CT_bone_model.stl", box((-20, -30, PLATE_TOP - 2), (20, 30, PLATE_TOP)), binary=stl_binary)
    shutil.rmtree(specimen / "record02")                          # one sweep: record01
    record = specimen / "record01"
    for folder in ("UltrasoundImages", "Labels"):
        for old in (record / folder).iterdir():
            old.unlink()
    for k, ts in enumerate(timestamps()):
        Image.fromarray(texture(900 + k, SHAPE)).save(record / "UltrasoundImages" / f"{ts}.png")
        label = np.zeros(SHAPE, np.uint8)
        top = int(round((2.0 - PLATE_TOP) / ROW_MM))            # the plate is 32 mm below the image origin
        label[top:top + 4] = 255
        Image.fromarray(label).save(record / "Labels" / f"{ts}_label.png")
    write_tracking(record / "tracking.csv", schema)
    if calibration:
        write_calibration(record / "calibration.json")
    return base, record


def _sweep(base, **kw):
    (source,) = read_sweeps(base, specimens=[2], **kw)
    assert source.sweep.sweep_id == "s02_record01"
    return source


def test_poses_compose_tracking_calibration_and_spacing(tmp_path):
    base, _ = make_tracked(tmp_path)
    source = _sweep(base)
    assert len(source.sweep.frames) == N_FRAMES and source.sweep.specimen == "specimen 2"
    for k, frame in enumerate(source.sweep.frames):
        expected = probe_pose(k) @ IMAGE_TO_PROBE @ np.diag([COL_MM, ROW_MM, 1, 1])
        np.testing.assert_allclose(frame.pose, expected, atol=1e-9)
        assert frame.shape == SHAPE


def test_the_labels_reconstruct_the_known_plate(tmp_path):
    base, _ = make_tracked(tmp_path)
    source = _sweep(base)
    labels = load_labels(source)
    points = reconstruct(source.sweep, labels)
    assert len(points) == N_FRAMES * SHAPE[1]
    np.testing.assert_allclose(points[:, 2], PLATE_TOP, atol=1e-9)          # every edge point on the plate's top
    scores = score_sweep(source.sweep, labels, tolerance=1.0)["reconstruction"]
    assert scores.sweep_accuracy == pytest.approx(0, abs=1e-9) and scores.sweep_completeness > 0.99


def test_a_shifted_pose_moves_the_reconstruction_by_exactly_that_shift(tmp_path):
    base, record = make_tracked(tmp_path)
    source = _sweep(base)
    labels = load_labels(source)
    before = reconstruct(source.sweep, labels)
    shift = np.array([1.5, -2.0, 0.75])
    write_tracking(record / "tracking.csv", shift=shift)
    after = reconstruct(_sweep(base).sweep, labels)
    np.testing.assert_allclose(after - before, np.broadcast_to(shift, before.shape), atol=1e-9)
    moved = score_sweep(_sweep(base).sweep, labels, tolerance=1.0)["reconstruction"]
    assert moved.sweep_accuracy == pytest.approx(0.75, abs=1e-9)             # the vertical part of the shift


def test_original_or_optimised_poses_as_the_operator_chooses(tmp_path):
    base, _ = make_tracked(tmp_path)
    labels = load_labels(_sweep(base))
    optimised = reconstruct(_sweep(base, poses=PoseSet.OPTIMIZED).sweep, labels)
    original = reconstruct(_sweep(base, poses="original").sweep, labels)
    np.testing.assert_allclose(original - optimised, np.broadcast_to(ORIGINAL_OFFSET, original.shape), atol=1e-9)
    with pytest.raises(ValueError):
        _sweep(base, poses="smoothed")


def test_position_quaternion_tracking_and_ascii_stl_read_the_same(tmp_path):
    a, _ = make_tracked(tmp_path / "a")
    b, _ = make_tracked(tmp_path / "b", schema="quaternion", stl_binary=False)
    sa, sb = _sweep(a), _sweep(b)
    for fa, fb in zip(sa.sweep.frames, sb.sweep.frames):
        np.testing.assert_allclose(fa.pose, fb.pose, atol=1e-9)
    np.testing.assert_allclose(sa.sweep.mesh.triangles, sb.sweep.mesh.triangles, atol=1e-5)


def test_frame_ids_are_the_imported_case_ids(tmp_path):
    base, _ = make_tracked(tmp_path)
    case_ids = {c.case_id for c in scan_ultrabones(base).cases}
    assert set(_sweep(base).sweep.frame_ids) <= case_ids


def test_without_any_calibration_the_error_names_what_to_pass(tmp_path):
    base, record = make_tracked(tmp_path, calibration=False)
    with pytest.raises(CalibrationError, match="calibration.json") as err:
        _sweep(base)
    assert "calibration file passed" in str(err.value) and "record01" in str(err.value)
    with pytest.raises(CalibrationError, match="does not exist"):
        _sweep(base, calibration=tmp_path / "missing.json")
    passed = write_calibration(tmp_path / "my_calibration.json")
    np.testing.assert_allclose(_sweep(base, calibration=passed).sweep.frames[0].pose,
                               probe_pose(0) @ IMAGE_TO_PROBE @ np.diag([COL_MM, ROW_MM, 1, 1]), atol=1e-9)


def test_the_dataset_calibration_wins_and_bad_calibrations_are_refused(tmp_path):
    base, record = make_tracked(tmp_path)
    other = write_calibration(tmp_path / "other.json", pixel_spacing_mm=[1.0, 1.0])
    assert _sweep(base, calibration=other).calibration.source.endswith("record01/calibration.json")
    scaled = IMAGE_TO_PROBE.copy()
    scaled[:3, :3] *= 0.2
    write_calibration(record / "calibration.json", image_to_probe=scaled.tolist(), pixel_spacing_mm=[0.2, -1])
    with pytest.raises(CalibrationError) as err:
        _sweep(base)
    assert "must be rigid" in str(err.value) and "two positive numbers" in str(err.value)
    write_calibration(record / "calibration.json", tracking_unit="inch")
    with pytest.raises(CalibrationError, match="tracking_unit"):
        _sweep(base)


def test_tracking_in_metres_is_scaled_to_mm(tmp_path):
    base, record = make_tracked(tmp_path)
    write_calibration(record / "calibration.json", tracking_unit="m")
    pose = _sweep(base).sweep.frames[1].pose
    expected = probe_pose(1)
    expected[:3, 3] *= 1000
    np.testing.assert_allclose(pose, expected @ IMAGE_TO_PROBE @ np.diag([COL_MM, ROW_MM, 1, 1]), atol=1e-6)


def test_timestamps_match_by_value(tmp_path):
    base, record = make_tracked(tmp_path)
    before = _sweep(base).sweep.frames[3].pose
    write_tracking(record / "tracking.csv", time_format="{}.000")          # written as decimals
    np.testing.assert_allclose(_sweep(base).sweep.frames[3].pose, before)


def test_untracked_frames_and_broken_tracking_are_named(tmp_path):
    base, record = make_tracked(tmp_path)
    write_tracking(record / "tracking.csv", drop=(2,))
    with pytest.raises(LayoutError, match=f"{timestamps()[2]}.png: no optimized pose"):
        _sweep(base)
    (record / "tracking.csv").write_text("timestamp,x,x_optimized\n")
    with pytest.raises(LayoutError, match="expected a 'timestamp' column"):
        _sweep(base)
    (record / "tracking.csv").unlink()
    with pytest.raises(LayoutError, match="no tracking.csv"):
        _sweep(base)


def test_a_missing_or_empty_ct_model_is_named(tmp_path):
    base, record = make_tracked(tmp_path)
    with pytest.raises(LayoutError, match="CT_bone_model.stl"):
        read_sweeps(base, specimens=[3])                                   # the replica's placeholder STL
    (record.parent / "CT_bone_model.stl").unlink()
    with pytest.raises(LayoutError, match="no CT_bone_model.stl"):
        _sweep(base)


def test_cli_writes_the_sweeps_and_checks_the_labels(tmp_path):
    from click.testing import CliRunner

    from sonobench.cli import cli
    from sonobench.evaluator.sweeps import read_sweep

    base, record = make_tracked(tmp_path / "copy")
    out = tmp_path / "sweeps"
    r = CliRunner().invoke(cli, ["datasets", "sweeps", str(base), "--out", str(out), "--specimen", "2",
                                 "--check-labels", "1.0"])
    assert r.exit_code == 0, r.output
    (row,) = [json.loads(line) for line in r.output.splitlines()]
    assert row["sweep"] == "s02_record01" and row["frames"] == N_FRAMES and row["poses"] == "optimized"
    assert row["sweep_accuracy"] == pytest.approx(0, abs=1e-6) and row["sweep_completeness"] > 0.99
    back = read_sweep(out / "s02_record01")
    np.testing.assert_allclose(back.frames[0].pose, _sweep(base).sweep.frames[0].pose, atol=1e-8)
    (record / "calibration.json").unlink()
    r = CliRunner().invoke(cli, ["datasets", "sweeps", str(base), "--out", str(out), "--specimen", "2"])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "calibration" in r.output
