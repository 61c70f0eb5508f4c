"""Score a pack brought back from a device (see baselines/device.py) here, through the
evaluator's own scoring code, and store each model as a kind="baseline" result.

The test label maps in the pack were made on the device with the evaluator's
`imageio.to_labels` at each case's native size; here they are scored, aggregated and
made into a result row by `sonobench.evaluator.result_row` (the evaluator's own per-case scoring and
row builder), exactly as the sandboxed pipeline does with a model's outputs, and kept as the
result's stored predictions. Train and val maps give the generalization gaps. GFLOPs are
counted here on the registry's module (the evaluator's PyTorch counter); the
latency is the device's batch-1 median, labelled with the device.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from sonobench.evaluator import __version__ as evaluator_version
from sonobench.evaluator.metrics import count_metrics
from sonobench.evaluator.result_row import ScoredMasks, aggregate, result_row, score_masks
from sonobench.kernel.errors import SonoBenchError

from .device import PREDICTIONS, SUMMARY, check_pack, unpack
from .training.pipeline import GAP_METHOD, TEAM, display_name

WHERE = "trained and inferred on the device; test predictions scored here with the evaluator's scoring code"


class InvalidPack(SonoBenchError):
    """A device pack that does not match the task or is incomplete."""


def _complexity(architecture: dict, task) -> dict:
    """The evaluator's PyTorch counter on the registry's module at the task's input size."""
    from sonobench.evaluator.complexity.torch_counter import count_torch
    from sonobench.zoo import build_from_config

    shape = [1, task.input_channels, *task.input_size]
    return {**count_torch(build_from_config(architecture), shape), "input_shape": shape, "batch": 1}


def _score(task, ids: list[str], preds: list[np.ndarray], labels_root=None) -> ScoredMasks:
    cases = {c.id: c for c in task.split("test")}
    if sorted(ids) != sorted(cases):
        raise InvalidPack(f"the pack's test cases differ from {task.ref}'s test split; retrain on the frozen task")
    return score_masks(task, [cases[cid] for cid in ids], dict(zip(ids, preds)), labels_root)


def _split_dice(task, samples_labels: list[np.ndarray], preds: list[np.ndarray]) -> dict:
    from .training.scoring import label_scores, summarize

    return summarize([label_scores(pred, gt, task.num_classes) for gt, pred in zip(samples_labels, preds)])


def import_pack(folder: Path, task, store, labels_root=None) -> list[dict]:
    """Score and store every model of the pack; returns run records (as `run_baseline` does)."""
    from .training.data import load_split
    from .training.env import git_commit

    folder = Path(folder)
    check_pack(folder)
    if not (folder / SUMMARY).is_file() or not (folder / PREDICTIONS).is_file():
        raise InvalidPack(f"{folder} lacks {SUMMARY} or {PREDICTIONS}; copy the whole device output folder")
    pack = json.loads((folder / SUMMARY).read_text())
    if pack["task"].split("@")[0] != task.id:
        raise InvalidPack(f"the pack was trained on {pack['task']}, not {task.ref}")
    labels = {s: load_split(task, s, labels_root).labels for s in ("train", "val")}
    git = git_commit()
    records = []
    with np.load(folder / PREDICTIONS) as z:
        blobs = {k: z[k] for k in z.files}
    for m in pack["models"]:
        preds = {s: unpack(blobs[f"{m['model']}/{s}"], task.num_classes) for s in ("train", "val", "test")}
        scored = _score(task, m["cases"]["test"], preds["test"], labels_root)
        cx = _complexity(m["architecture"], task)
        if cx["params"] != m["params_pytorch"]:
            raise InvalidPack(f"{m['model']}: the pack counts {m['params_pytorch']} parameters, the registry's module "
                              f"{cx['params']}; the device ran other code than this checkout")
        result = result_row(task, split="test", n_cases=len(scored.per_case), columns=aggregate(task, scored.per_case),
                            complexity=cx, latency_ms=m["latency_ms"], peak_memory_mb=m["peak_memory_mb"],
                            hardware={**m["hardware"], "inference": "on the device", "scoring": "here"},
                            wall_s=pack["wall_s"], test_predictions=scored.pngs)
        scores = {"train": _split_dice(task, labels["train"], preds["train"]),
                  "val": _split_dice(task, labels["val"], preds["val"]),
                  "test": {**{m: result[f"{m}_mean"] for m in count_metrics()}, "n": len(scored.per_case)}}
        records.append(_store(store, task, m, result, scored.rows, scores, pack, git))
    return records


def _store(store, task, m: dict, result: dict, rows: list[dict], scores: dict, pack: dict, git: dict) -> dict:
    from .recipes import Profile
    from .training.pipeline import _gaps

    profile = Profile.from_dict(m["recipe"])
    name = display_name(m["model"], profile)
    digest = hashlib.sha256(json.dumps([m["model"], sorted(result["test_predictions"].items())],
                                       default=lambda b: b.hex()).encode()).hexdigest()
    training = {"best_epoch": m["best_epoch"], "epochs_run": m["epochs_run"], "stopped_early": m["stopped_early"],
                "convergence": m["convergence"], "profile": profile.name, "recipe": m["recipe"], "seed": profile.seed,
                "wall_s": m["wall_s"], "cpu_s": m["cpu_s"], "hardware": m["hardware"], "git_commit": git["commit"],
                "git_dirty": git["dirty"], "gaps": _gaps(scores), "gap_scores": scores, "gap_method": GAP_METHOD,
                "where": WHERE, "device_pack": {"concurrent": pack["concurrent"], "wall_s": pack["wall_s"]},
                "data": {s: len(m["cases"][s]) for s in m["cases"]}, "evaluator_version": evaluator_version,
                "manifest_digest": task.digest}
    sid = store.create_submission(file_sha256=digest, filename=f"{m['model']}-{profile.name}.device", fmt="predictions",
                                  task=task, name=name, team=TEAM, kind="baseline",
                                  meta={"architecture": m["architecture"], "output": "labels", "split": "test",
                                        "training": {**training, "history": m["history"]}})
    store.write_result(sid, dict(result), rows)
    return {"model": m["model"], "profile": profile.name, "name": name, "task": task.ref,
            "architecture": m["architecture"], "submission_id": sid, "reused": False,
            "onnx": None, "result": store.result_for(sid), "cases": store.case_results(sid),
            "training": {**training, "history": m["history"]}, "params_pytorch": m["params_pytorch"],
            "test_predictions": result["test_predictions"]}
