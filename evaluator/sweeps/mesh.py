"""Triangle meshes for the 3D sweep metrics: STL reading and writing (ASCII and binary), exact
point-to-mesh distances and area-uniform surface samples with their normals.

Distances are exact point-to-triangle distances (the closest point on each candidate triangle,
by the Voronoi regions of its vertices, edges and face), vectorised with NumPy; a k-d tree over
the triangle centroids prunes the candidates without losing exactness: a triangle closer than the
best distance found so far has its centroid within that distance plus the largest centroid-to-vertex
radius of the mesh."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from sonobench.kernel.errors import SonoBenchError


class InvalidMesh(SonoBenchError):
    """A mesh file or array that cannot be used (unreadable STL, no triangles, non-finite vertices)."""


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in world millimetres: `vertices` (V, 3) float64, `faces` (F, 3) int indices.
    Normals follow the right-hand rule over each face's vertex order (outward for a closed mesh
    wound counter-clockwise seen from outside, as STL requires)."""
    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self):
        v = np.asarray(self.vertices, np.float64)
        f = np.asarray(self.faces, np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or not len(f):
            raise InvalidMesh(f"Expected vertices (V, 3) and at least one face (F, 3), got {v.shape} and {f.shape}.")
        if not np.isfinite(v).all():
            raise InvalidMesh("The mesh has non-finite vertex coordinates: repair or re-export it.")
        if f.min() < 0 or f.max() >= len(v):
            raise InvalidMesh(f"Face indices must lie in [0, {len(v) - 1}], got [{f.min()}, {f.max()}].")
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "faces", f)

    @property
    def triangles(self) -> np.ndarray:
        """(F, 3, 3): each face's three vertex positions."""
        return self.vertices[self.faces]

    def areas_normals(self) -> tuple[np.ndarray, np.ndarray]:
        """Each face's area (mm²) and unit normal (zero for a degenerate face)."""
        t = self.triangles
        cross = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        norm = np.linalg.norm(cross, axis=1)
        normals = np.divide(cross, norm[:, None], out=np.zeros_like(cross), where=norm[:, None] > 0)
        return norm / 2, normals

    def area(self) -> float:
        return float(self.areas_normals()[0].sum())

    def moved(self, transform: np.ndarray) -> "Mesh":
        """This mesh under a 4x4 rigid (or affine) transform."""
        m = np.asarray(transform, np.float64)
        return Mesh(self.vertices @ m[:3, :3].T + m[:3, 3], self.faces)


# ---- STL -----------------------------------------------------------------------------------

def read_stl(path) -> Mesh:
    """Read an ASCII or binary STL file (vertices are not merged: each facet has its own three)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidMesh(f"Cannot read the STL file {path}: {e.strerror or e}.") from e
    if len(data) >= 84:
        (count,) = struct.unpack_from("<I", data, 80)
        if len(data) == 84 + 50 * count:
            return _binary_stl(data, count, path)
    if data.lstrip()[:5].lower() == b"solid":
        return _ascii_stl(data, path)
    raise InvalidMesh(f"{path} is neither a binary STL (80-byte header, facet count, 50 bytes a facet) nor an "
                      "ASCII STL ('solid ... facet normal ... vertex x y z ... endsolid'): re-export the model as STL.")


def _binary_stl(data: bytes, count: int, path: Path) -> Mesh:
    if count == 0:
        raise InvalidMesh(f"{path} is a binary STL with no facets.")
    rec = np.frombuffer(data, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")]), count, 84)
    return Mesh(rec["v"].reshape(-1, 3).astype(np.float64), np.arange(3 * count).reshape(-1, 3))


def _ascii_stl(data: bytes, path: Path) -> Mesh:
    coords = []
    for number, line in enumerate(data.decode("ascii", errors="replace").splitlines(), 1):
        words = line.split()
        if words and words[0].lower() == "vertex":
            try:
                coords.append([float(w) for w in words[1:4]])
            except ValueError:
                raise InvalidMesh(f"{path}, line {number}: expected 'vertex x y z', got {line.strip()!r}.") from None
    if not coords or len(coords) % 3:
        raise InvalidMesh(f"{path}: an ASCII STL needs three 'vertex' lines per facet, found {len(coords)} "
                          "vertex lines: re-export the model.")
    return Mesh(np.asarray(coords), np.arange(len(coords)).reshape(-1, 3))


def write_stl(path, mesh: Mesh, binary: bool = True) -> Path:
    """Write `mesh` as a binary (default) or ASCII STL with per-facet normals."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tris, normals = mesh.triangles, mesh.areas_normals()[1]
    if binary:
        rec = np.zeros(len(tris), np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("attr", "<u2")]))
        rec["n"], rec["v"] = normals, tris
        path.write_bytes(b"SonoBench mesh".ljust(80, b" ") + struct.pack("<I", len(tris)) + rec.tobytes())
        return path
    lines = ["solid sonobench"]
    for n, t in zip(normals, tris):
        lines += [f"facet normal {n[0]:.9g} {n[1]:.9g} {n[2]:.9g}", "outer loop"]
        lines += [f"vertex {p[0]:.9g} {p[1]:.9g} {p[2]:.9g}" for p in t]
        lines += ["endloop", "endfacet"]
    path.write_text("\n".join(lines + ["endsolid sonobench", ""]))
    return path


# ---- distances -----------------------------------------------------------------------------

def point_triangle_distance(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Exact distance from each point (N, 3) to its paired triangle (N, 3, 3)."""
    return _TriangleSet(np.asarray(triangles, np.float64)).distance(np.asarray(points, np.float64),
                                                                    np.arange(len(triangles)))


class _TriangleSet:
    """Per-triangle constants for exact point-to-triangle distances: a point whose projection falls
    inside the triangle is at its distance from the plane; any other is nearest to one of the edges."""

    def __init__(self, tris: np.ndarray):
        self.a = tris[:, 0]
        self.edges = np.stack([tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 1], tris[:, 0] - tris[:, 2]], 1)
        self.starts = tris
        ab, ac = self.edges[:, 0], tris[:, 2] - tris[:, 0]
        self.ab, self.ac = ab, ac
        self.d00, self.d01, self.d11 = _dot(ab, ab), _dot(ab, ac), _dot(ac, ac)
        self.denom = self.d00 * self.d11 - self.d01 ** 2
        n = np.cross(ab, ac)
        norm = np.linalg.norm(n, axis=1)
        self.unit = np.divide(n, norm[:, None], out=np.zeros_like(n), where=norm[:, None] > 0)
        self.lengths2 = np.einsum("tij,tij->ti", self.edges, self.edges)

    def distance(self, pts: np.ndarray, tri: np.ndarray) -> np.ndarray:
        ap = pts - self.a[tri]
        d20, d21 = _dot(ap, self.ab[tri]), _dot(ap, self.ac[tri])
        denom = self.denom[tri]
        ok = denom > 0                                         # degenerate faces: edges only
        safe = np.where(ok, denom, 1.0)
        v = (self.d11[tri] * d20 - self.d01[tri] * d21) / safe
        w = (self.d00[tri] * d21 - self.d01[tri] * d20) / safe
        inside = ok & (v >= 0) & (w >= 0) & (v + w <= 1)
        best = np.where(inside, np.abs(_dot(ap, self.unit[tri])), np.inf)
        for e in range(3):
            edge, start, length2 = self.edges[tri, e], self.starts[tri, e], self.lengths2[tri, e]
            rel = pts - start
            t = np.clip(np.divide(_dot(rel, edge), length2, out=np.zeros(len(pts)), where=length2 > 0), 0, 1)
            best = np.minimum(best, np.linalg.norm(rel - edge * t[:, None], axis=1))
        return best


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", u, v)


class MeshDistance:
    """Exact distances from points to one mesh; build once, query many point sets."""

    def __init__(self, mesh: Mesh, chunk: int = 8192):
        self.mesh, self.chunk = mesh, chunk
        tris = mesh.triangles
        self.triangles = _TriangleSet(tris)
        centroids = tris.mean(axis=1)
        self.tree = cKDTree(centroids)
        self.vertices = cKDTree(mesh.vertices)
        self.radius = float(np.linalg.norm(tris - centroids[:, None], axis=2).max())

    def __call__(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        out = np.empty(len(pts))
        for start in range(0, len(pts), self.chunk):
            out[start:start + self.chunk] = self._chunk(pts[start:start + self.chunk])
        return out

    def _chunk(self, pts: np.ndarray) -> np.ndarray:
        # The nearest vertex bounds the distance from above; every triangle closer than that bound
        # has its centroid within bound + radius of the point.
        upper, _ = self.vertices.query(pts)
        candidates = self.tree.query_ball_point(pts, upper + self.radius + 1e-9)
        lengths = np.fromiter((len(c) for c in candidates), np.int64, len(pts))
        owner = np.repeat(np.arange(len(pts)), lengths)
        tri = np.fromiter((i for c in candidates for i in c), np.int64, int(lengths.sum()))
        d = self.triangles.distance(pts[owner], tri)
        best = np.full(len(pts), np.inf)
        np.minimum.at(best, owner, d)
        return np.minimum(best, upper)


def point_mesh_distance(points: np.ndarray, mesh: Mesh) -> np.ndarray:
    """Exact distance (mm) from each point (N, 3) to the nearest point of `mesh`."""
    return MeshDistance(mesh)(points)


# ---- surface samples -----------------------------------------------------------------------

def sample_surface(mesh: Mesh, spacing: float, seed: int = 0, max_samples: int = 4_000_000
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform random points on the mesh, about one per `spacing`² mm² (at most
    `max_samples`), and the normal of the face each lies on. Each sample stands for the same
    area, so a share of samples is a share of surface area."""
    if not spacing > 0:
        raise InvalidMesh(f"Expected a positive sampling spacing in mm, got {spacing!r}.")
    areas, normals = mesh.areas_normals()
    total = areas.sum()
    if total <= 0:
        raise InvalidMesh("The mesh has zero surface area (every face is degenerate).")
    n = int(min(max_samples, max(1, np.ceil(total / spacing ** 2))))
    rng = np.random.default_rng(seed)
    face = rng.choice(len(areas), size=n, p=areas / total)
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = mesh.triangles[face]
    points = t[:, 0] + (t[:, 1] - t[:, 0]) * u[:, None] + (t[:, 2] - t[:, 0]) * v[:, None]
    return points, normals[face]
