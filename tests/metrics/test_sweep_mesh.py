"""The sweep module's mesh tools: exact point-to-triangle and point-to-mesh distances against an
independent reference (dense sampling of each triangle), STL round trips, sweep folders."""
import numpy as np
import pytest

from sonobench.evaluator.sweeps import (
    InvalidMesh,
    InvalidSweep,
    Mesh,
    SweepFrame,
    point_mesh_distance,
    point_triangle_distance,
    read_stl,
    read_sweep,
    write_stl,
    write_sweep,
)
from tests.metrics.sweep_factory import box, cylinder, linear_sweep


def _dense_distance(point, tri, n=301):
    u, v = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    keep = u + v <= 1
    q = tri[0] + np.outer(u[keep], tri[1] - tri[0]) + np.outer(v[keep], tri[2] - tri[0])
    return np.linalg.norm(q - point, axis=1).min()


def test_point_triangle_distance_matches_dense_sampling():
    rng = np.random.default_rng(3)
    tris, pts = rng.normal(size=(150, 3, 3)), rng.normal(size=(150, 3)) * 2
    exact = point_triangle_distance(pts, tris)
    dense = np.array([_dense_distance(p, t) for p, t in zip(pts, tris)])
    assert (dense - exact).min() > -1e-12            # sampling never beats the exact distance
    assert (dense - exact).max() < 2e-3              # and comes within its grid step


def test_point_triangle_distance_known_cases():
    tri = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]]], float)
    for p, d in (((0.2, 0.2, 3), 3), ((-1, -1, 0), np.sqrt(2)), ((2, 0, 0), 1), ((0.5, -2, 0), 2),
                 ((1, 1, 0), np.sqrt(0.5)), ((0.25, 0.25, 0), 0)):
        assert point_triangle_distance(np.array([p], float), tri)[0] == pytest.approx(d)


def test_point_mesh_distance_matches_brute_force_on_a_fine_mesh():
    mesh = cylinder(8.0, -15.0, -20, 20, segments=64)
    rng = np.random.default_rng(4)
    pts = rng.uniform((-12, -22, -27), (12, 22, -3), size=(300, 3))
    brute = np.array([point_triangle_distance(np.repeat(p[None], len(mesh.faces), 0), mesh.triangles).min()
                      for p in pts])
    np.testing.assert_allclose(point_mesh_distance(pts, mesh), brute, rtol=0, atol=1e-12)


@pytest.mark.parametrize("binary", [True, False])
def test_stl_round_trip(tmp_path, binary):
    mesh = box((-1, -2, -3), (4, 5, 6))
    back = read_stl(write_stl(tmp_path / "m.stl", mesh, binary=binary))
    np.testing.assert_allclose(back.triangles, mesh.triangles, atol=1e-5)
    assert back.area() == pytest.approx(mesh.area(), rel=1e-6)


def test_unreadable_stl_says_what_is_wrong(tmp_path):
    bad = tmp_path / "CT_bone_model.stl"
    bad.write_text("solid bone\nendsolid bone\n")
    with pytest.raises(InvalidMesh, match="three 'vertex' lines"):
        read_stl(bad)
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(InvalidMesh, match="neither a binary STL"):
        read_stl(bad)


def test_sweep_folder_round_trip(tmp_path):
    sweep = linear_sweep(box((-10, -20, -12), (10, 20, -10)), [0.0, 1.0, 2.5])
    back = read_sweep(write_sweep(tmp_path / "s", sweep).parent)
    assert back.frame_ids == sweep.frame_ids and back.specimen == sweep.specimen
    for a, b in zip(back.frames, sweep.frames):
        np.testing.assert_allclose(a.pose, b.pose)
        assert a.shape == b.shape
    np.testing.assert_allclose(back.mesh.triangles, sweep.mesh.triangles, atol=1e-5)


def test_bad_poses_and_frames_are_refused():
    with pytest.raises(InvalidSweep, match="4x4"):
        SweepFrame("f", np.eye(3), (4, 4))
    flat = np.eye(4)
    flat[:3, 1] = flat[:3, 0]
    with pytest.raises(InvalidSweep, match="parallel"):
        SweepFrame("f", flat, (4, 4))
    sweep = linear_sweep(box((0, 0, 0), (1, 1, 1)), [0.0])
    with pytest.raises(InvalidSweep, match="unique"):
        type(sweep)("s", "p", sweep.frames * 2, sweep.mesh)
    with pytest.raises(InvalidMesh):
        Mesh(np.zeros((3, 3)), np.zeros((0, 3)))
