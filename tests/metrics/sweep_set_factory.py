"""A small sweep set without a simulator, as a test-only child of a toy task: one tibia-like shaft swept
along its length, frame labels drawn from the mesh's exact sections, images = the labels (bright)."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from sonobench.evaluator.sweeps import Sweep, SweepFrame, write_sweep
from sonobench.evaluator.tasks import Task, write_task
from sonobench.simulation import sweep_geometry, sweeps
from sonobench.simulation.phantom import top_surface

SHAFT = {"r0": 9.0, "flare": 0.3, "crest": 0.15, "twist": 0.0, "bend": 0.0}


def make_child(parent: Task, root, frames: int = 4) -> tuple[Task, dict]:
    """(the sweep set `<parent id>-sweeps@1` under `root`, its frame labels by case id)."""
    rows, cols = parent.native_size
    pixel = parent.spacing_mm[0]
    depth, width = rows * pixel, cols * pixel
    mesh = sweep_geometry.build_mesh("shaft", SHAFT, 0.0, 3.0)
    to_frame = np.array([[pixel, 0, 0, pixel / 2], [0, pixel, 0, pixel / 2], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    folder = root / f"{parent.id}-sweeps" / "v1"
    data = folder / "data"
    for d in ("images", "labels"):
        (data / d).mkdir(parents=True, exist_ok=True)
    z = (np.arange(rows)[:, None] + 0.5) * pixel * np.ones((1, cols))
    entries, labels, frame_list = [], {}, []
    for k, planned in enumerate(sweeps.base_frames("along", frames, mesh, width)):
        case = f"shaft-along-{k:02d}"
        section = sweep_geometry.section_segments(mesh, np.linalg.inv(planned))
        label = top_surface(sweep_geometry.section_mask(section, (rows, cols), depth, width), z, 0.5).astype(np.uint8)
        Image.fromarray(label).save(data / "labels" / f"{case}.png")
        Image.fromarray((label * 200).astype(np.uint8)).save(data / "images" / f"{case}.png")
        labels[case] = label
        frame_list.append(SweepFrame(case, planned @ to_frame, (rows, cols)))
        entries.append({"id": case, "split": "test", "image": f"images/{case}.png", "label": f"labels/{case}.png",
                        "meta": {"specimen": "shaft", "sweep": "shaft-along", "frame": k}})
    write_sweep(data / "sweeps" / "shaft-along", Sweep("shaft-along", "shaft", tuple(frame_list), mesh))
    spec = json.loads((parent.folder / "task.json").read_text())
    spec.update(id=f"{parent.id}-sweeps", version=1, parent=parent.ref,
                condition={"name": "sweeps", "description": "tracked sweeps"},
                sweeps={"tolerance_mm": 1.0, "folders": ["sweeps/shaft-along"]}, clusters={"key": "specimen"})
    for key in ("data_root", "source", "family"):
        spec.pop(key, None)
    return write_task(folder, spec, entries, data_root="data"), labels
