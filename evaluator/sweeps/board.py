"""The sweeps board of a bone task: per scored submission to the task, its 3D reconstruction scores on
the task's sweep set (the follow-up row of the same file) next to its frame score, with a frame rank
and a 3D rank and whether the two orders agree (Kendall's τ).

Ranks here are by the plain mean over the sweeps (rank = 1 + the number of models with a strictly
better mean): a result row keeps the sweep aggregates, not each sweep's score, so no paired test is
made. The frame rank uses the same rule on the task's primary metric over its test split."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..metrics import METRICS
from ..metrics.defaults import DEFAULT_SWEEP_METRIC
from .metrics import sweep_metrics

RANK_METRIC = DEFAULT_SWEEP_METRIC
DEFINITION = ("3D rank: 1 + the number of models with a strictly better mean sweep F-score over the sweeps "
              "(plain means: the rows keep sweep aggregates, so no paired test); frame rank: the same rule on the "
              "task's primary metric over its test split; τ = Kendall's rank correlation of the two orders.")


@dataclass
class SweepRow:
    submission_id: int
    name: str
    team: str
    kind: str
    frame: float | None           # the task's primary metric on its own test split
    sweep_frames: float | None    # the same metric on the sweep set's frames
    scores: dict = field(default_factory=dict)   # sweep metric -> {"mean", "ci_low", "ci_high"}
    sweep_submission_id: int | None = None
    frame_rank: int | None = None
    rank: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _ranks(values: list[float | None], higher: bool) -> list[int | None]:
    sign = 1 if higher else -1
    return [None if v is None else 1 + sum(1 for o in values if o is not None and sign * o > sign * v) for v in values]


def sweep_board(store, task, kind: str = "all") -> tuple[object | None, list[SweepRow], float | None]:
    """(the sweep set of `task` or None, one row per scored submission to `task` ordered by 3D rank then
    frame rank, Kendall's τ of the frame and 3D orders over the rows that have both, or None)."""
    from ..task_sets import sweep_sets

    sets = sweep_sets(task)
    if not sets:
        return None, [], None
    child = sets[0]
    metric = task.primary_metric
    parents = [r for r in store.leaderboard_rows(task.id, task.version)
               if (r.get("split") or "test") == "test" and (kind == "all" or r["kind"] in (kind, "floor"))]
    on_sweeps = {r["file_sha256"]: r for r in store.leaderboard_rows(child.id, child.version)}
    rows = []
    for p in parents:
        s = on_sweeps.get(p["file_sha256"], {})
        rows.append(SweepRow(p["submission_id"], p["name"], p["team"], p["kind"], p.get(f"{metric}_mean"),
                             s.get(f"{metric}_mean"),
                             {m: {k: s.get(f"{m}_{k}") for k in ("mean", "ci_low", "ci_high")} for m in sweep_metrics()},
                             s.get("submission_id")))
    frame_ranks = _ranks([r.frame for r in rows], METRICS.get(metric).higher_is_better)
    ranks = _ranks([r.scores[RANK_METRIC]["mean"] for r in rows], METRICS.get(RANK_METRIC).higher_is_better)
    for r, f, k in zip(rows, frame_ranks, ranks):
        r.frame_rank, r.rank = f, k
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.frame_rank or 0))
    return child, rows, agreement(rows)


def agreement(rows: list[SweepRow]) -> float | None:
    """Kendall's τ between the frame ranks and the 3D ranks (None with fewer than 3 rows that have both)."""
    both = [(r.frame_rank, r.rank) for r in rows if r.frame_rank is not None and r.rank is not None]
    if len(both) < 3:
        return None
    from scipy.stats import kendalltau

    tau = kendalltau([a for a, _ in both], [b for _, b in both]).statistic
    return None if tau != tau else float(tau)


def table(rows: list[SweepRow], metric: str) -> list[dict]:
    """Printable rows: 3D rank, model, frame score and rank, then each sweep metric's mean [95% CI]."""
    def fmt(m, cell):
        d = METRICS.get(m).digits
        if cell["mean"] is None:
            return "n/a"
        ci = f" [{cell['ci_low']:.{d}f}, {cell['ci_high']:.{d}f}]" if cell["ci_low"] is not None else ""
        return f"{cell['mean']:.{d}f}{ci}"

    d = METRICS.get(metric).digits
    out = []
    for r in rows:
        row = {"3D rank": r.rank if r.rank is not None else "-", "name": r.name, "kind": r.kind,
               f"frames {metric}": "n/a" if r.frame is None else f"{r.frame:.{d}f}",
               "frame rank": r.frame_rank if r.frame_rank is not None else "-",
               f"sweep frames {metric}": "n/a" if r.sweep_frames is None else f"{r.sweep_frames:.{d}f}"}
        for m in sweep_metrics():
            unit = f" ({METRICS.get(m).unit})" if METRICS.get(m).unit else ""
            row[f"{METRICS.get(m).title}{unit}"] = fmt(m, r.scores[m])
        out.append(row)
    return out


def scores_text(scores: dict) -> str:
    """'Sweep accuracy 0.17 mm, ...' for one sweep's `SweepScores.as_dict()`: every sweep metric of the
    registry with its label, digits and unit, then τ."""
    parts = []
    for m in sweep_metrics():
        info = METRICS.get(m)
        parts.append(f"{info.title} {scores[m]:.{info.digits}f}{f' {info.unit}' if info.unit else ''}")
    return ", ".join(parts) + f" at τ = {scores['tolerance']} mm"


def test_predictions(store, submission_id: int) -> dict[str, bytes]:
    """case id -> PNG of the stored test prediction of a submission (its result's)."""
    sql = ("select p.case_id, p.png from predictions p join results r on r.id = p.result_id "
           "where r.submission_id = ? order by p.case_id")
    return {r["case_id"]: r["png"] for r in store.db.query(sql, [int(submission_id)])}


def reconstruction(store, sweep_set, submission_id: int, sweep_id: str) -> dict:
    """What the 3D view draws for one submission (a row on `sweep_set`) and one of its sweeps: the
    mesh (vertices, faces), the reconstructed points and each one's distance to the mesh (mm, capped as
    the accuracy counts it), and that sweep's scores."""
    from . import task as sweep_task
    from .metrics import point_errors
    from .structure import InvalidSweep

    sweeps = {s.sweep_id: s for s in sweep_task.task_sweeps(sweep_set)}
    if sweep_id not in sweeps:
        raise InvalidSweep(f"{sweep_set.ref} has no sweep {sweep_id!r}; its sweeps: {', '.join(sweeps)}.")
    stored = test_predictions(store, submission_id)
    if not stored:
        raise InvalidSweep(f"Submission #{submission_id} has no stored test predictions on {sweep_set.ref}: score it "
                           "again to see its reconstruction.")
    sweep = sweeps[sweep_id]
    masks = sweep_task.decode({f: stored[f] for f in sweep.frame_ids if f in stored})
    points, distances = point_errors(sweep, masks)
    scores = sweep_task.per_sweep(sweep_set, masks)[sweep_id]
    return {"vertices": sweep.mesh.vertices, "faces": sweep.mesh.faces, "points": points, "distances": distances,
            "scores": scores.as_dict(), "frames": len(sweep.frames)}


__all__ = ["DEFINITION", "RANK_METRIC", "SweepRow", "agreement", "reconstruction", "scores_text", "sweep_board",
           "table", "test_predictions"]
