"""A small synthetic task and a torch-free ONNX model, so the whole pipeline
(demo and tests) runs before, or without, the simulated benchmark.

The toy images are speckled fields with dark elliptical "lesions" (some cases
have none); the toy model smooths the image and calls dark pixels lesion.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sonobench.evaluator.metrics.defaults import DEFAULT_PRIMARY_METRIC, DEFAULT_TASK_METRICS
from sonobench.evaluator.tasks import Task, write_task


def _toy_case(rng: np.random.Generator, size: int, lesion: bool) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    label = np.zeros((size, size), np.uint8)
    if lesion:
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        ry, rx = rng.uniform(0.08, 0.2, 2) * size
        label[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    speckle = rng.rayleigh(1.0, (size, size)).astype(np.float32)
    depth = np.exp(-0.5 * yy / size)                      # attenuation with depth
    tissue = np.where(label == 1, 0.15, 1.0) * depth * speckle
    img = np.clip(255 * (np.log1p(4 * tissue) / np.log1p(12)), 0, 255).astype(np.uint8)
    return img, label


def build_toy_task(folder: str | Path, *, task_id: str = "toy-lesion", n: int = 24, size: int = 64,
                   seed: int = 0, version: int = 1, spacing_mm=(0.2, 0.2), input_size=None,
                   family: str | None = None) -> Task:
    """Write a frozen toy task (train/val/test = 50/25/25 %, a quarter of cases without lesion);
    `family` declares its task family (cross-dataset tests)."""
    folder = Path(folder)
    data = folder / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "labels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        img, lab = _toy_case(rng, size, lesion=(i % 4 != 3))
        cid = f"toy{i:04d}"
        Image.fromarray(img).save(data / "images" / f"{cid}.png")
        Image.fromarray(lab).save(data / "labels" / f"{cid}.png")
        split = "train" if i % 4 in (0, 1) else ("val" if i % 8 in (2, 7) else "test")
        cases.append({"id": cid, "split": split, "image": f"images/{cid}.png", "label": f"labels/{cid}.png",
                      "meta": {"normal": i % 4 == 3}})
    spec = {
        "id": task_id, "version": version, "title": "Toy lesions (synthetic, for tests and the demo)",
        "description": "Speckled fields with dark elliptical lesions; a quarter of cases are normal.",
        "modality": "ultrasound (synthetic toy)", "classes": ["background", "lesion"],
        "native_size": [size, size], "input_size": list(input_size or (size, size)), "input_channels": 1,
        "spacing_mm": list(spacing_mm) if spacing_mm else None, "primary_metric": DEFAULT_PRIMARY_METRIC,
        "metrics": list(DEFAULT_TASK_METRICS), "data_root": "data",
        "source": {"generator": "sonobench.cli.toy.build_toy_task", "seed": seed, "n": n},
        **({"family": family} if family else {}),
    }
    return write_task(folder, spec, cases)


def threshold_onnx(path: str | Path, *, kernel: int = 5, threshold: float = 0.3, gain: float = 40.0,
                   channels: int = 1, opset: int = 17) -> Path:
    """A one-conv ONNX model: box-smooth the image, logit = gain * (threshold - smoothed)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.full((1, channels, kernel, kernel), -gain / (kernel * kernel * channels), np.float32)
    b = np.array([gain * threshold], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"], pads=[kernel // 2] * 4)],
        "sonobench_toy_threshold",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="sonobench-toy")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, path)
    return path
