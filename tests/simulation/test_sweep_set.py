"""The simulated tracked-sweep set: closed exact meshes, labels that are the mesh's own sections,
stated tracking error, and a resumable test-only child of the bone task scored as a follow-up."""
import json

import numpy as np
import pytest
from PIL import Image

from sonobench.evaluator import task_sets
from sonobench.evaluator.sweeps import Sweep, SweepFrame, read_sweep, reconstruct, score_reconstruction, visible_surface
from sonobench.evaluator.tasks import get_task
from sonobench.simulation import dataset, sweep_geometry, sweeps
from sonobench.simulation.task import freeze_task

from .conftest import small_physics

PHYS = small_physics(rows=216, cols=72)  # 32.4 mm deep, 10.8 mm wide: room for the bone below the fat


def _ray_parity(mesh, points: np.ndarray) -> np.ndarray:
    """Inside test independent of the section code: a ray from each point along +x crosses the
    closed mesh an odd number of times (Moller-Trumbore on every triangle)."""
    t = mesh.triangles
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    d = np.array([1.0, 0.0, 0.0])
    p = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    out = []
    for q in points:
        s = q - t[:, 0]
        u = np.einsum("ij,ij->i", s, p) / np.where(ok, det, 1)
        qv = np.cross(s, e1)
        v = (qv @ d) / np.where(ok, det, 1)
        dist = np.einsum("ij,ij->i", e2, qv) / np.where(ok, det, 1)
        out.append(int(np.sum(ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (dist > 0))) % 2 == 1)
    return np.array(out)


@pytest.mark.parametrize("shape", sweep_geometry.SHAPES.names())
def test_each_shape_is_a_closed_outward_mesh_and_its_sections_are_exact(shape):
    mesh = sweep_geometry.build_mesh(shape, sweep_geometry.draw_params(shape, np.random.default_rng(1)), 0.0, 10.0)
    f = mesh.faces
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    directed = set(map(tuple, edges))
    assert len(directed) == len(edges) and all((b, a) in directed for a, b in directed)  # closed, one winding
    assert sweep_geometry.signed_volume(mesh) > 0                                          # outward normals
    assert mesh.vertices[:, 2].min() == pytest.approx(10.0)
    # a transverse plane (slightly tilted) through the middle: its mask against a 3D ray test
    pose = sweeps.base_frames("along", 3, mesh, 30.0)[1] @ sweeps._rigid(sweeps._rotation((0.05, 0.03, 0.02)), (0, 0, 0))
    mask = sweep_geometry.section_mask(sweep_geometry.section_segments(mesh, np.linalg.inv(pose)), (60, 60), 30.0, 30.0)
    rows, cols = np.meshgrid(np.arange(60), np.arange(60), indexing="ij")
    local = np.stack([(cols.ravel() + 0.5) * 0.5, (rows.ravel() + 0.5) * 0.5, np.zeros(rows.size), np.ones(rows.size)])
    inside = _ray_parity(mesh, (pose @ local)[:3].T).reshape(60, 60)
    assert mask.sum() > 200 and np.array_equal(mask, inside)


def test_tracking_errors_have_the_stated_size():
    planned = [np.eye(4)] * 4000
    true, tracked = sweeps.hand_and_tracker(planned, 30.0, np.random.default_rng(0), sweeps.Freehand(0.0, 0.0))
    rel = np.stack([np.linalg.inv(t) @ r for t, r in zip(true, tracked)])
    angles = np.degrees(np.stack([rel[:, 2, 1], rel[:, 0, 2], rel[:, 1, 0]], 1))  # small-angle rotation about x, y, z
    assert np.std(angles, axis=0) == pytest.approx([0.2] * 3, rel=0.06)
    face = np.array([15.0, 0, 0, 1])
    moved = np.stack([r @ face for r in rel])[:, :3] - face[:3]  # the probe face's centre: translation only
    assert np.std(moved, axis=0) == pytest.approx([0.2] * 3, rel=0.06)


@pytest.fixture
def bone_parent(tmp_path, monkeypatch):
    data = tmp_path / "data"
    dataset.generate("bone-surface", 20, data, backend="fast", seed=5, phys=PHYS, progress=False)
    root = tmp_path / "tasks"
    task = freeze_task(data, root / "tiny-bone" / "v1", "tiny-bone")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return get_task(task.ref), root


SPECIMENS = (("shaft-a", "shaft"), ("plate-a", "plate"))


@pytest.mark.slow
def test_sweep_set_is_a_resumable_test_only_child_with_exact_labels(bone_parent):
    parent, root = bone_parent
    folder = sweeps.sweep_folder(root, parent)
    child = sweeps.make_sweep_set(parent, folder, backend="fast", frames=3, specimens=SPECIMENS)
    assert child.parent == parent.ref and {c.split for c in child.cases} == {"test"} and len(child.cases) == 12
    assert {c.meta["specimen"] for c in child.cases} == {"shaft-a", "plate-a"}
    assert child.clusters is not None and child.clusters.key == "specimen" and child.sweeps["tolerance_mm"] == 1.0
    parent_specimens = {str(c.meta.get("specimen")) for c in parent.cases}
    assert not parent_specimens & {c.meta["specimen"] for c in child.cases}  # no specimen shared with the parent
    again = get_task(parent.ref)
    assert [s.ref for s in task_sets.sweep_sets(again)] == [child.ref] and task_sets.shift_sets(again) == []
    before = {p.name: p.stat().st_mtime_ns for p in (folder / "data" / "images").iterdir()}
    assert sweeps.make_sweep_set(parent, folder, backend="fast", frames=3, specimens=SPECIMENS).digest == child.digest
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "data" / "images").iterdir()} == before
    with Image.open(sweeps.contact_sheet(child, folder / "sheet.png", per_sweep=3, tile=64)) as sheet:
        assert sheet.size == (3 * 66, 4 * 66)  # one row per sweep, three frames each (2 px gaps)
    with pytest.raises(sweeps.SweepSetError, match="frames"):
        sweeps.make_sweep_set(parent, folder, backend="fast", frames=4, specimens=SPECIMENS)
    # the labels are the mesh's sections: at the true poses they reconstruct the mesh within a pixel
    for rel in child.sweeps["folders"]:
        sweep = read_sweep(child.data_root / rel)
        labels = {f: np.asarray(Image.open(child.data_root / "labels" / f"{f}.png")) for f in sweep.frame_ids}
        assert all(lab.any() for lab in labels.values())
        true = [SweepFrame(f.frame_id, json.loads((child.data_root / "meta" / f"{f.frame_id}.json").read_text())
                           ["true_pose"], f.shape) for f in sweep.frames]
        exact = Sweep(sweep.sweep_id, sweep.specimen, true, sweep.mesh)
        s = score_reconstruction(exact, reconstruct(exact, labels), visible_surface(exact, 1.0), 1.0)
        assert s.sweep_accuracy < 0.15 and s.sweep_completeness > 0.97  # 0.15 mm = one pixel
        tracked = score_reconstruction(sweep, reconstruct(sweep, labels), visible_surface(sweep, 1.0), 1.0)
        assert s.sweep_accuracy < tracked.sweep_accuracy < 0.6  # the tracking error shows, at its size


def test_a_parent_that_was_not_simulated_as_bone_is_refused(toy_task, tmp_path):
    with pytest.raises(sweeps.SweepSetError, match="bone-surface"):
        sweeps.make_sweep_set(toy_task, tmp_path / "x" / "v1", frames=2)


def test_the_command_refuses_a_task_that_is_not_a_simulated_bone_task(toy_task):
    from click.testing import CliRunner

    from sonobench.cli import cli

    out = CliRunner().invoke(cli, ["sweeps", "make", toy_task.ref, "--backend", "fast"])
    assert out.exit_code == 1 and out.output.startswith("Error: ") and "bone-surface" in out.output
