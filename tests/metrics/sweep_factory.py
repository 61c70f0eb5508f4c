"""Analytic sweep geometry for the known-answer tests: closed meshes of a flat plate (a box) and a
cylinder shaft, a linear probe swept across them without tracking jitter, and frame labels drawn
from the exact surfaces (no simulator).

World frame: z up, the probe on the plane z = `top` looking down (-z); frame k is the plane
y = y_k, image columns run along +x and rows along -z."""
from __future__ import annotations

import numpy as np

from sonobench.evaluator.sweeps import Mesh, Sweep, SweepFrame

PIXEL = 0.1            # mm per pixel, both axes
BAND = 4               # label band thickness (pixels), as bone-surface labels are drawn


def box(lo, hi) -> Mesh:
    """A closed box with outward normals (12 triangles)."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]], float)
    f = [[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
         [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7]]
    return Mesh(v, np.array(f))


def cylinder(radius: float, centre_z: float, y0: float, y1: float, segments: int = 512) -> Mesh:
    """A closed cylinder along y (axis at x = 0, z = centre_z), outward normals."""
    a = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([radius * np.cos(a), np.zeros(segments), centre_z + radius * np.sin(a)], 1)
    v = np.concatenate([ring + [0, y0, 0], ring + [0, y1, 0], [[0, y0, centre_z], [0, y1, centre_z]]])
    i, j = np.arange(segments), (np.arange(segments) + 1) % segments
    n = segments
    side = np.concatenate([np.stack([i, n + j, j], 1), np.stack([i, n + i, n + j], 1)])
    caps = np.concatenate([np.stack([np.full(n, 2 * n), i, j], 1), np.stack([np.full(n, 2 * n + 1), n + j, n + i], 1)])
    return Mesh(v, np.concatenate([side, caps]))


def pose(y: float, x0: float = -15.0, top: float = 0.0, dz: float = 0.0) -> np.ndarray:
    """Pixel (col, row) -> world (x0 + col·PIXEL, y, top - row·PIXEL + dz)."""
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 3] = (PIXEL, 0, 0), (0, 0, -PIXEL), (x0, y, top + dz)
    return m


def linear_sweep(mesh: Mesh, ys, shape=(251, 301), dz: float = 0.0, sweep_id: str = "s1") -> Sweep:
    frames = tuple(SweepFrame(f"{sweep_id}_f{k:03d}", pose(y, dz=dz), shape) for k, y in enumerate(ys))
    return Sweep(sweep_id, "phantom", frames, mesh)


def render(sweep: Sweep, surface_z) -> dict:
    """Frame labels: a BAND-pixel band below the exact top surface z = surface_z(x, y) (NaN where there
    is none), drawn from the frame's ideal (unshifted) geometry."""
    labels = {}
    for frame in sweep.frames:
        rows, cols = frame.shape
        x = frame.origin[0] + np.arange(cols) * PIXEL
        z = surface_z(x, frame.origin[1])
        mask = np.zeros(frame.shape, np.uint8)
        for c in np.flatnonzero(np.isfinite(z)):
            r = int(np.rint((0.0 - z[c]) / PIXEL))
            mask[max(r, 0):max(r + BAND, 0), c] = 1
        labels[frame.frame_id] = mask
    return labels


def plate_top(x0=-10.0, x1=10.0, y0=-20.0, y1=20.0, z=-10.0):
    return lambda x, y: np.where((x >= x0) & (x <= x1) & (y0 <= y <= y1), z, np.nan)


def cylinder_top(radius: float, centre_z: float):
    def top(x, y):
        inside = np.abs(x) < radius
        return np.where(inside, centre_z + np.sqrt(np.clip(radius ** 2 - x ** 2, 0, None)), np.nan)
    return top
