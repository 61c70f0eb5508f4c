"""Re-score committed reference files under the evaluator's current policy, from the test
predictions each row stores (no model runs): `sonobench baselines rescore-references`.

A row with stored predictions is scored again case by case (`sonobench.evaluator.scoring.score_prediction`,
the path every submission takes); its stored TP/FP/FN counts must come out identical, else the
file is left unchanged and the row named. A row or acquisition-shift block without predictions
gets the policy applied from its stored counts (`sonobench.evaluator.rescore.policy_from_counts`): values of
classes absent from a case's reference become null, its aggregates are recomputed over the
applicable cases. Each row keeps its store identity (`identity`, the SHA-256 it had before its
first re-scoring), so a store that loaded it earlier does not load it twice; `sonobench rescore`
brings such a store's copy to the same numbers.
"""
from __future__ import annotations

from pathlib import Path

from sonobench.evaluator import __version__
from sonobench.evaluator.metrics import always_stored_metrics, summary_columns
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError

from . import (
    CASE_COLUMNS,
    ReferenceMismatch,
    _parse,
    _task_and_version,
    decode_predictions,
    reference_files,
    row_sha256,
    write_json,
)

_KEPT = summary_columns(always_stored_metrics())  # the aggregate columns a reference row holds


def rescore_file(path: Path, labels_root=None, log=print) -> dict:
    """Re-score every row (and shift block) of one reference file in place; returns
    {"rows": n, "from_predictions": n, "from_counts": n}."""
    from sonobench.evaluator import tasks as tasks_mod

    task_id = _task_and_version(path)[0]
    ref = _parse(path, task_id)
    task = tasks_mod.get_task(f"{task_id}@{int(ref['task_version'])}")
    if task.digest != ref["manifest_digest"]:
        raise ReferenceMismatch(f"{path.name} is for manifest {ref['manifest_digest'][:12]}…, {task.ref} on disk has "
                                f"{task.digest[:12]}…; not re-scored")
    counts = {"rows": 0, "from_predictions": 0, "from_counts": 0}
    for row in ref["rows"]:
        row.setdefault("identity", row_sha256(row))  # before anything changes: the store's key
        if row.get("predictions"):
            _from_predictions(task, row, labels_root)
            counts["from_predictions"] += 1
        else:
            _from_counts(row["scores"], row["cases"])
            counts["from_counts"] += 1
        row["provenance"]["rescored_version"] = __version__
        for block in (row.get("shifts") or {}).values():
            _from_counts(block["scores"], block["cases"])
            block["evaluation"]["rescored_version"] = __version__
        counts["rows"] += 1
        log(f"{path.name}: {row['model']} ({row['profile']}): {row['scores']['primary_metric']} "
            f"{_mean(row['scores'], row['scores']['primary_metric'])}")
    write_json(path, ref)
    return counts


def _mean(scores: dict, metric: str) -> str:
    if f"{metric}_mean" in scores:
        return f"{scores[f'{metric}_mean']:.4f}"
    entry = [e.get(metric) for e in scores["per_class"].values() if isinstance(e.get(metric), dict)]
    return ", ".join(f"{e['mean']:.4f}" for e in entry if e.get("mean") is not None) or "n/a"


def _cases(block: dict) -> list[dict]:
    return [dict(zip(block["columns"], values)) for values in block["rows"]]


def _store(block: dict, cases: list[dict]) -> None:
    block["columns"] = list(CASE_COLUMNS)
    block["rows"] = [[c[k] for k in CASE_COLUMNS] for c in cases]


def _from_predictions(task, row: dict, labels_root) -> None:
    from sonobench.evaluator.scoring import score_prediction
    from sonobench.evaluator.summary import summary_columns as result_columns

    cases = _cases(row["cases"])
    preds = decode_predictions(row["predictions"])
    by_id = {c.id: c for c in task.split(row["scores"]["split"])}
    per_case: dict[str, dict[int, dict]] = {}
    for cid in sorted({c["case_id"] for c in cases}):
        if cid not in preds or cid not in by_id:
            raise SonoBenchError(f"{row['model']} ({row['profile']}): case {cid} has no stored prediction or is not "
                                 f"in {task.ref}'s {row['scores']['split']} split; nothing was re-scored")
        per_case[cid] = score_prediction(task, by_id[cid], imageio.decode_png(preds[cid]), labels_root)
    for c in cases:
        new = per_case[c["case_id"]][c["class_index"]]
        if any(int(c[k]) != int(new[k]) for k in ("tp", "fp", "fn")):
            raise SonoBenchError(f"{row['model']} ({row['profile']}): case {c['case_id']} class {c['class_index']}: "
                                 "the stored counts differ from its stored prediction's; nothing was re-scored")
        c.update({m: new[m] for m in always_stored_metrics()})
    _store(row["cases"], cases)
    cols = result_columns(task, [per_case[cid] for cid in sorted(per_case)], sorted(per_case))  # clustered CIs
    row["scores"].update({k: cols[k] for k in _KEPT}, per_class=cols["per_class"], hd95_unit=cols["hd95_unit"])


def _from_counts(scores: dict, block: dict) -> None:
    from sonobench.evaluator.rescore import policy_from_counts

    cases = _cases(block)
    _, per_class, updates = policy_from_counts({"per_class": scores["per_class"]}, cases)
    _store(block, cases)
    scores.update({k: updates[k] for k in _KEPT}, per_class=per_class)


def rescore_all(folder: Path | None = None, labels_root=None, log=print) -> dict[str, dict]:
    """`rescore_file` for every `<task>@<version>` reference file in `folder` (default: the committed ones)."""
    return {p.name: rescore_file(p, labels_root, log) for p in reference_files(folder)}
