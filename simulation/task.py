"""Freeze a generated dataset as a SonoBench task (task.json + manifest.json)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sonobench.evaluator.metrics.defaults import BOARDS
from sonobench.evaluator.tasks import write_task
from sonobench.kernel.errors import SonoBenchError

from .dataset import INDEX_NAME, read_index
from .physics import Physics
from .presets import get_preset


class IncompleteDataset(SonoBenchError):
    pass


def task_spec(task_id: str, version: int, run: dict, n_cases: int) -> dict:
    preset = get_preset(run["preset"])
    phys = Physics.from_json(run["physics"])
    about = preset["task"]
    spec = {
        "id": task_id, "version": int(version),
        "title": about["title"].format(n=n_cases)
        if run["backend"] == "kwave" else f"Simulated {run['preset']} ({run['backend']} backend)",
        "description": (f"{preset['title']}. B-mode images simulated with the SonoBench {run['backend']} backend "
                        f"(preset {run['preset']}, seed {run['seed']}); labels exact by construction. "
                        f"{about['note']}"),
        "modality": "ultrasound (simulated B-mode)", "family": preset["family"],
        "classes": list(preset["classes"]),
        "native_size": list(phys.out_shape), "input_size": list(phys.out_shape), "input_channels": 1,
        "spacing_mm": [round(v, 6) for v in phys.pixel_mm],
        "primary_metric": about["primary_metric"], "metrics": list(BOARDS[about.get("board", "region")]),
        "test_labels_private": False,
        "source": {"generator": "sonobench simulate", "preset": run["preset"], "backend": run["backend"],
                   "seed": run["seed"], "noise_levels": run["noise_levels"], "physics": run["physics"]},
    }
    if "surface_tolerance" in about:
        spec["surface_tolerance"] = about["surface_tolerance"]
    if "image_formation" in run["physics"]:  # recorded since version 2; absent (= 1) in sim-breast-lesion@1
        spec["source"]["image_formation"] = phys.image_formation
    return spec


def freeze_task(data_dir, folder, task_id: str, version: int = 1):
    """Write task.json + manifest.json in `folder` for the dataset in `data_dir`."""
    data_dir, folder = Path(data_dir), Path(folder)
    if not (data_dir / INDEX_NAME).exists():
        raise IncompleteDataset(f"{data_dir / INDEX_NAME} is missing: finish `sonobench simulate` first.")
    run = json.loads((data_dir / "run.json").read_text())
    cases = []
    for split, rows in read_index(data_dir / INDEX_NAME).items():
        for scan, label, sid in rows:
            meta_path = data_dir / "meta" / f"{sid}.json"
            if not meta_path.exists():
                raise IncompleteDataset(f"Sample {sid} is not finished; rerun the same `sonobench simulate` command.")
            meta = json.loads(meta_path.read_text())
            cases.append({"id": sid, "split": split, "image": scan, "label": label,
                          "meta": {"has_lesion": meta["phantom"]["has_lesion"], "n_lesions": len(meta["phantom"]["lesions"]),
                                   "noise_level": meta["noise_level"],
                                   **({"image_formation": meta["image_formation"]} if "image_formation" in meta else {})}})
    root = os.path.relpath(data_dir.resolve(), folder.resolve())
    spec = task_spec(task_id, version, run, len(cases))
    phys = Physics.from_json(run["physics"])
    if phys.image_formation >= 3:  # the scored field: the image less its dark edge columns
        region = write_scored_field(data_dir, phys)
        spec["scan_region"] = {"method": "file"}
        for case in cases:
            case["meta"].update(region)
    return write_task(folder, spec, cases, data_root=root)


REGION_NAME = "region.png"


def write_scored_field(data_dir: Path, phys: Physics) -> dict:
    """Write the scored-field mask (`image_formation3.scored_field`) once in `data_dir`; the
    manifest meta every case of the task carries for it (the scan-region file method)."""
    import hashlib

    from .dataset import _png_bytes
    from .image_formation3 import scored_field

    data = _png_bytes(scored_field(phys).astype(np.uint8) * 255)
    (data_dir / REGION_NAME).write_bytes(data)
    return {"region": REGION_NAME, "region_sha256": hashlib.sha256(data).hexdigest()}
