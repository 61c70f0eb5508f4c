"""Tracked sweeps and their 3D bone-surface reconstruction metrics.

A `Sweep` is an ordered set of frames of one specimen with a 4x4 pose per frame (image pixel ->
world mm) and the specimen's ground-truth surface `Mesh`; `score_sweep` scores its frames like
the bone task's cases and reconstructs the predicted probe-facing surface in 3D (accuracy,
completeness and F-score at a tolerance τ, see `metrics`)."""
from .mesh import (
    InvalidMesh,
    Mesh,
    MeshDistance,
    point_mesh_distance,
    point_triangle_distance,
    read_stl,
    sample_surface,
    write_stl,
)
from .metrics import (
    FACING_ANGLE,
    SweepScores,
    point_errors,
    probe_facing_edge,
    reconstruct,
    score_reconstruction,
    score_sweep,
    sweep_columns,
    sweep_metrics,
    visible_surface,
)
from .structure import InvalidSweep, Sweep, SweepFrame, read_sweep, write_sweep

__all__ = [
    "Mesh", "InvalidMesh", "MeshDistance", "point_mesh_distance", "point_triangle_distance", "read_stl", "write_stl",
    "sample_surface", "Sweep", "SweepFrame", "InvalidSweep", "read_sweep", "write_sweep", "SweepScores",
    "probe_facing_edge", "reconstruct", "score_reconstruction", "score_sweep", "visible_surface", "FACING_ANGLE",
    "sweep_columns", "sweep_metrics", "point_errors",
]
