"""Consensus across tasks (challengeR's rank aggregation): a model scored on several tasks is
ranked by the mean of its per-task ranks, each relative to its board (rank / number of ranked
models on that task, so 1.0 = last everywhere): a board of 12 models and one of 7 weigh the same,
and a model last on every board it is on (a no-skill floor) is last overall even beside models
scored on fewer tasks. A model is identified by (team, name) across tasks;
the newest version of each main task with results is used (acquisition-shift sets and
corruption variants re-image a task's own test phantoms: they are not tasks of their own);
tasks a model lacks are listed, and its mean covers only the tasks it was scored on (so compare
mean ranks together with n_tasks). Rows are ordered by consensus rank: 1 + the number of models
with a strictly lower mean relative rank (more tasks first among equal means); `mean_rank`, the
plain mean of the per-task ranks, is kept beside it."""
from __future__ import annotations

from ..store import queries
from . import DEFAULT_ALPHA, DEFAULT_TOP_N, Scheme


def overall(store, scheme=Scheme.PAIRED, *, kind: str = "all", alpha: float = DEFAULT_ALPHA,
            top_n: int = DEFAULT_TOP_N) -> list[dict]:
    from .board import rank_stored

    latest: dict[str, int] = {}
    for t in queries.main_tasks(queries.scored_tasks(store)):
        latest[t["task_id"]] = max(latest.get(t["task_id"], 0), t["task_version"])
    refs = [f"{tid}@{v}" for tid, v in sorted(latest.items())]
    models: dict[tuple[str, str], dict] = {}
    for tid, v in sorted(latest.items()):
        rows = [r for r in queries.leaderboard_table_rows(store, tid, v) if kind == "all" or r["kind"] == kind]
        if not rows:
            continue
        ranked = rank_stored(store, rows, rows[0]["primary_metric"], scheme, alpha=alpha, top_n=top_n,
                             stability=False)
        size = sum(r["rank"] is not None for r in ranked.rows)
        for r in ranked.rows:
            key = (r.get("team") or "", r.get("name") or "")
            entry = models.setdefault(key, {"team": key[0], "name": key[1], "kind": r.get("kind"), "ranks": {}})
            if r["rank"] is not None:
                prior = entry["ranks"].get(f"{tid}@{v}")
                entry["ranks"][f"{tid}@{v}"] = r["rank"] if prior is None else min(prior, r["rank"])
                entry.setdefault("relative", {})[f"{tid}@{v}"] = entry["ranks"][f"{tid}@{v}"] / size
    out = []
    for entry in models.values():
        ranks = entry["ranks"]
        if not ranks:
            continue
        relative = entry.pop("relative")
        out.append({**entry, "mean_rank": sum(ranks.values()) / len(ranks),
                    "mean_relative_rank": sum(relative.values()) / len(relative), "n_tasks": len(ranks),
                    "missing": [t for t in refs if t not in ranks]})
    out.sort(key=lambda e: (e["mean_relative_rank"], -e["n_tasks"], e["name"]))
    for i, e in enumerate(out):
        e["position"] = i + 1
        e["consensus_rank"] = 1 + sum(o["mean_relative_rank"] < e["mean_relative_rank"] for o in out)
    return out
