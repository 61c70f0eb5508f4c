"""Build a small, real results store for the app tests: toy tasks scored through
the actual evaluator (sandbox included), plus a baseline carrying training history."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

TOY_THRESHOLDS = {"smooth-0.20": 0.20, "smooth-0.30": 0.30, "smooth-0.45": 0.45}
BASELINE_THRESHOLD = 0.35


def training_meta(epochs: int = 6, best: int = 4) -> dict:
    history = []
    for e in range(1, epochs + 1):
        history.append({"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e + 0.05,
                        "train_dice": 0.5 + 0.06 * e, "val_dice": 0.45 + 0.05 * e, "val_iou": 0.35 + 0.05 * e})
    return {"history": history, "best_epoch": best, "epochs_run": epochs,
            "gaps": {"train_test_iou": 0.12, "val_test_iou": 0.05}}


def score(store, task, model_path: Path, *, name: str, team: str = "", kind: str = "submission",
          extra_meta: dict | None = None) -> int:
    from sonobench.evaluator.evaluate import evaluate
    from sonobench.evaluator.sandbox import SandboxConfig
    from sonobench.evaluator.submission import prepare

    sub = prepare(model_path, {}, name=name, team=team)
    return evaluate(store, task, sub, kind=kind, config=SandboxConfig(), extra_meta=extra_meta).submission_id


def multiclass_task(folder: Path, n: int = 8, size: int = 32):
    """A tiny 3-class task (two bands), for per-class views; the test split is private-looking."""
    from sonobench.evaluator.tasks import write_task

    data = folder / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "labels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    cases = []
    for i in range(n):
        lab = np.zeros((size, size), np.uint8)
        lab[4 + i % 3:12, :] = 1
        lab[18:26 - i % 2, 6:26] = 2
        img = np.clip(60 + 60 * lab + rng.normal(0, 20, lab.shape), 0, 255).astype(np.uint8)
        cid = f"mc{i:03d}"
        Image.fromarray(img).save(data / "images" / f"{cid}.png")
        Image.fromarray(lab).save(data / "labels" / f"{cid}.png")
        split = ("train", "train", "val", "test")[i % 4]
        cases.append({"id": cid, "split": split, "image": f"images/{cid}.png", "label": f"labels/{cid}.png"})
    spec = {"id": "toy-bands", "version": 1, "title": "Toy bands (3 classes)", "description": "Two bright bands.",
            "modality": "ultrasound (synthetic toy)", "classes": ["background", "upper", "lower"],
            "native_size": [size, size], "input_size": [size, size], "input_channels": 1, "spacing_mm": None,
            "primary_metric": "dice", "data_root": "data", "test_labels_private": False,
            "source": {"generator": "tests/app/helpers.py"}}
    return write_task(folder, spec, cases)


def band_onnx(path: Path) -> Path:
    """A 1x1 conv giving 3-class logits from brightness: dark -> background, bright -> a band."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.array([-20.0, 10.0, 10.2], np.float32).reshape(3, 1, 1, 1)
    b = np.array([6.0, -4.0, -4.0], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"])], "bands",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def build_store(root: Path) -> dict:
    """Tasks under root/tasks, the store at root/results.db; returns paths and submission ids."""
    from sonobench.cli.toy import build_toy_task, threshold_onnx
    from sonobench.evaluator.store import Store
    tasks_root = root / "tasks"
    toy = build_toy_task(tasks_root / "toy-lesion" / "v1")
    bands = multiclass_task(tasks_root / "toy-bands" / "v1")
    store = Store(root / "results.db")
    ids = {}
    for i, (name, thr) in enumerate(TOY_THRESHOLDS.items()):
        model = threshold_onnx(root / f"{name}.onnx", threshold=thr)
        ids[name] = score(store, toy, model, name=name, team=f"team-{i % 2}")
    model = threshold_onnx(root / "baseline.onnx", threshold=BASELINE_THRESHOLD, kernel=3)
    ids["baseline"] = score(store, toy, model, name="unet-baseline", team="SonoBench", kind="baseline",
                            extra_meta={"architecture": {"name": "unet", "kwargs": {}}, "training": training_meta()})
    ids["bands"] = score(store, bands, band_onnx(root / "bands.onnx"), name="band-model", team="team-0")
    store.db.conn.close()
    (root / "ids.json").write_text(json.dumps(ids))
    return {"db": root / "results.db", "tasks": tasks_root, "ids": ids}
