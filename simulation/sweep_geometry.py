"""3D bone specimens for simulated tracked sweeps: closed triangle meshes (world mm) and their exact
sections by an image plane.

A specimen is a generalised cylinder along the world y axis — a star-shaped cross-section r(θ, t)
around a centre line, t in [0, 1] along the length — closed by flat caps, optionally bent across
(z += k·(x - xc)²). World axes: x lateral, y along the bone, z depth (positive into the body, the
skin at z = 0). Three shapes (`SHAPES`):

* **shaft**: a tibia-like shaft, a rounded triangle whose anterior crest faces the probe, its size
  growing towards one end and its crest turning slowly along the length;
* **condyle**: two rounded lobes facing the probe with a notch between them, flaring towards the end;
* **plate**: a flat plate (a rounded rectangle, superellipse), gently bent, its width varying.

The mesh is the ground truth: a frame's bone mask is the mesh's own section by the frame's plane,
rasterised by the even-odd rule (`section_mask`), so the labels and the mesh agree exactly."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sonobench.evaluator.sweeps import Mesh
from sonobench.kernel.registry import Registry

ANGLES = 48        # vertices per cross-section ring
RING_STEP_MM = 2.0  # axial spacing of the rings


@dataclass(frozen=True)
class Shape:
    name: str
    description: str
    length_mm: float

    def radius(self, theta: np.ndarray, t: float, p: dict) -> np.ndarray:
        raise NotImplementedError


def _wrap(a: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * a))


UP = -math.pi / 2  # the angle (in the x-z plane, z downwards) that points at the probe


class Shaft(Shape):
    def radius(self, theta, t, p):
        size = p["r0"] * (0.85 + p["flare"] * t)
        crest = UP + p["twist"] * (t - 0.5)
        return size * (1 + p["crest"] * np.cos(3 * (theta - crest)))


class Condyle(Shape):
    def radius(self, theta, t, p):
        size = p["r0"] * (0.8 + p["flare"] * t ** 2)
        lobes = sum(np.exp(-(_wrap(theta - (UP + s * p["spread"])) / 0.45) ** 2) for s in (-1, 1))
        return size * (0.62 + p["lobe"] * lobes)


class Plate(Shape):
    def radius(self, theta, t, p):
        a = p["half_width"] * (1 + 0.15 * math.sin(math.pi * t))
        b, n = p["half_thickness"], 4.0
        return (np.abs(np.cos(theta) / a) ** n + np.abs(np.sin(theta) / b) ** n) ** (-1 / n)


SHAPES: Registry[Shape] = Registry("bone shape")
for _s in (Shaft("shaft", "tibia-like shaft: a rounded triangle, crest to the probe, growing and turning", 56.0),
           Condyle("condyle", "two lobes with a notch between them, flaring towards the end", 50.0),
           Plate("plate", "a flat plate (rounded rectangle), gently bent, its width varying", 50.0)):
    SHAPES.register(_s.name, _s)


def draw_params(shape: str, rng: np.random.Generator) -> dict:
    """A specimen's shape parameters (JSON-able), drawn from `rng`."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    if shape == "shaft":
        return {"r0": u(8.0, 10.0), "flare": u(0.2, 0.4), "crest": u(0.12, 0.2), "twist": u(-0.5, 0.5),
                "bend": u(-0.004, 0.004)}
    if shape == "condyle":
        return {"r0": u(8.0, 9.5), "flare": u(0.25, 0.45), "lobe": u(0.45, 0.55), "spread": u(0.7, 0.85),
                "bend": 0.0}
    return {"half_width": u(11.0, 13.0), "half_thickness": u(2.5, 3.5), "bend": u(0.004, 0.01)}


def build_mesh(shape: str, params: dict, centre_x: float, top_z: float) -> Mesh:
    """The closed, outward-wound mesh of one specimen, its axis along y from 0 to the shape's length,
    centred laterally at `centre_x`, its shallowest point at depth `top_z` (mm). The caps are
    concentric rings (no long fan triangles: every face stays small, as the exact distances prefer)."""
    s = SHAPES.get(shape)
    n_rings = int(math.ceil(s.length_mm / RING_STEP_MM)) + 1
    theta = np.linspace(0, 2 * math.pi, ANGLES, endpoint=False)
    tube = []
    for k in range(n_rings):
        t = k / (n_rings - 1)
        r = s.radius(theta, t, params)
        tube.append(np.stack([r * np.cos(theta), np.full(ANGLES, t * s.length_mm), r * np.sin(theta)], 1))
    scales = np.arange(1, CAP_RINGS) / CAP_RINGS
    start = [_scaled(tube[0], f) for f in scales]
    end = [_scaled(tube[-1], f) for f in scales[::-1]]
    rings = start + tube + end       # one surface from the start cap's centre to the end cap's
    v = np.concatenate(rings + [tube[0].mean(axis=0, keepdims=True), tube[-1].mean(axis=0, keepdims=True)])
    v[:, 2] += params.get("bend", 0.0) * v[:, 0] ** 2
    v[:, 0] += centre_x
    v[:, 2] += top_z - v[:, 2].min()
    return _orient(Mesh(v, _faces(len(rings))))


CAP_RINGS = 6  # concentric rings of each cap


def _scaled(ring: np.ndarray, f: float) -> np.ndarray:
    c = ring.mean(axis=0)
    return c + (ring - c) * f


def _faces(n_rings: int) -> np.ndarray:
    """Strips between consecutive rings (one winding throughout), fans at both centres."""
    j = np.arange(ANGLES)
    faces = []
    for k in range(n_rings - 1):
        a, b = k * ANGLES + j, k * ANGLES + (j + 1) % ANGLES
        c, d = a + ANGLES, b + ANGLES
        faces += [np.stack([a, b, c], 1), np.stack([b, d, c], 1)]
    first, last = n_rings * ANGLES, n_rings * ANGLES + 1
    outer = (n_rings - 1) * ANGLES
    faces.append(np.stack([np.full(ANGLES, first), (j + 1) % ANGLES, j], 1))
    faces.append(np.stack([outer + j, outer + (j + 1) % ANGLES, np.full(ANGLES, last)], 1))
    return np.concatenate(faces)


def signed_volume(mesh: Mesh) -> float:
    t = mesh.triangles
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6)


def _orient(mesh: Mesh) -> Mesh:
    """Outward normals (positive signed volume), as STL requires."""
    return mesh if signed_volume(mesh) > 0 else Mesh(mesh.vertices, mesh.faces[:, ::-1])


def section_segments(mesh: Mesh, to_local: np.ndarray) -> np.ndarray:
    """The mesh's section by the plane w = 0 of a frame: segments (K, 2, 2) in the frame's (u, v) mm
    (u lateral, v depth), `to_local` the 4x4 world -> frame transform."""
    v = mesh.vertices @ to_local[:3, :3].T + to_local[:3, 3]
    tri = v[mesh.faces]
    w = np.where(tri[:, :, 2] == 0, 1e-12, tri[:, :, 2])
    cut = (w.min(axis=1) < 0) & (w.max(axis=1) > 0)
    tri, w = tri[cut], w[cut]
    ends = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        crosses = w[:, i] * w[:, j] < 0
        frac = np.where(crosses, w[:, i] / np.where(crosses, w[:, i] - w[:, j], 1.0), np.nan)
        ends.append(tri[:, i, :2] + (tri[:, j, :2] - tri[:, i, :2]) * frac[:, None])
    ends = np.stack(ends, 1)
    order = np.argsort(np.isnan(ends[:, :, 0]), axis=1, kind="stable")[:, :2]
    return np.take_along_axis(ends, order[:, :, None], axis=1)


def section_mask(segments: np.ndarray, shape: tuple[int, int], depth_mm: float, width_mm: float) -> np.ndarray:
    """Pixels (rows along v, columns along u; centres at (i + 1/2)·pixel) inside the closed section
    `segments`, by the even-odd rule along each column."""
    rows, cols = shape
    dv, du = depth_mm / rows, width_mm / cols
    inside = np.zeros((rows + 1, cols), np.int64)
    if not len(segments):
        return inside[:rows].astype(bool)
    u0, v0, u1, v1 = segments[:, 0, 0], segments[:, 0, 1], segments[:, 1, 0], segments[:, 1, 1]
    lo, hi = np.minimum(u0, u1), np.maximum(u0, u1)
    centres = (np.arange(cols) + 0.5) * du
    # half-open [lo, hi) so a column through a shared end point is crossed once
    seg, col = np.nonzero((lo[:, None] <= centres[None]) & (centres[None] < hi[:, None]))
    frac = (centres[col] - u0[seg]) / (u1[seg] - u0[seg])
    v = v0[seg] + frac * (v1[seg] - v0[seg])
    first = np.clip(np.ceil(v / dv - 0.5), 0, rows).astype(np.int64)  # first pixel centre below the crossing
    np.add.at(inside, (first, col), 1)
    return (np.cumsum(inside, axis=0)[:rows] % 2).astype(bool)


__all__ = ["SHAPES", "Shape", "build_mesh", "draw_params", "section_mask", "section_segments", "signed_volume"]
