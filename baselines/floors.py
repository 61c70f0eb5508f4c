"""No-skill floors: input-independent models built from a task's train split only, scored
by the same sandboxed pipeline as every submission, stored with kind "floor" and shown on
every board, so a reader sees what ignoring the image already scores.

Per task version (`build_floors`):

- **all background**: every pixel class 0;
- **train majority label** (multi-class tasks): per pixel, the class most frequent there
  among the train labels;
- **train prior map** (binary tasks; for the bone task it is the prior band): the per-pixel
  share of train labels that are foreground, thresholded at the value that maximises the
  task's primary metric on the val split (the candidates are the quantiles of its non-zero
  values, so the map is never empty: the empty map is the all-background floor).

Each floor is a small ONNX graph whose output is a constant logit map whatever the input
(`floor_onnx`): `ReduceMean(image) * 0 + constant`. `sonobench baselines floors TASK[@VERSION]`
builds them, scores each on the test split and on the task's acquisition-shift sets, and
writes `baselines/reference/floors/<task>@<version>.json.gz` in the reference-file format (rows
with `"kind": "floor"`); `load_references_and_floors` loads a task's reference rows and its
floors into a store (`sonobench demo` does, for every task).
"""
from __future__ import annotations

import base64
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonobench.evaluator.tasks import Task
from sonobench.kernel import imageio
from sonobench.kernel.errors import AlreadyScored, SonoBenchError

from . import reference

FLOORS_DIR = reference.REFERENCE_DIR / "floors"
TEAM = "SonoBench floors"
KIND = "floor"
LOGIT = 8.0  # |logit| of the constant output: sigmoid/softmax far from the decision boundary
CANDIDATES = 24  # quantiles of the prior map tried as thresholds on val
BACKGROUND_NAME = "floor: all background"
PRIOR_NAME = "floor: train prior"  # one name on every task, so the Overall view lines the floors up


class FloorError(SonoBenchError):
    """A floor that cannot be built for this task (e.g. a train split without labels)."""


@dataclass(frozen=True)
class Floor:
    key: str               # model id, e.g. "floor-all-background"
    name: str              # shown on boards, e.g. "floor: all background"
    description: str
    label_map: np.ndarray  # H x W class indices at the task's input size: the output, whatever the input
    threshold: float | None = None
    val_score: float | None = None

    def info(self) -> dict:
        return {"key": self.key, "description": self.description, "threshold": self.threshold,
                "val_primary": self.val_score, "label_map_png": base64.b64encode(imageio.label_png(self.label_map)).decode()}


def train_frequencies(task: Task) -> np.ndarray:
    """K x H x W: per pixel of the input size, the share of train labels of each class."""
    cases = task.split("train")
    if not cases:
        raise FloorError(f"{task.ref} has no train split; floors are built from the train labels only")
    h, w = task.input_size
    counts = np.zeros((task.num_classes, h, w), np.float64)
    for case in cases:
        lab = imageio.load_label(task.label_path(case))
        if lab.shape != (h, w):
            lab = _nearest(lab, (h, w))
        counts += np.eye(task.num_classes, dtype=np.float64)[lab].transpose(2, 0, 1)
    return counts / len(cases)


def _nearest(lab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(lab).resize((size[1], size[0]), Image.NEAREST))


def logits(label_map: np.ndarray, num_classes: int) -> np.ndarray:
    """The constant output (K x H x W float32) that decodes to `label_map`: one sigmoid channel
    for a binary task, else one-hot logits."""
    if num_classes == 2:
        return np.where(label_map > 0, LOGIT, -LOGIT).astype(np.float32)[None]
    return (LOGIT * (np.eye(num_classes, dtype=np.float32)[label_map].transpose(2, 0, 1) * 2 - 1)).astype(np.float32)


def _primary_on(task: Task, cases, label_map: np.ndarray) -> float:
    """The task's primary metric of a constant prediction, averaged as the evaluator does: per case
    the mean over the classes that have a value (a class-absent case has none), then over cases."""
    from sonobench.evaluator.scoring import score_prediction

    y = logits(label_map, task.num_classes)
    metric, per_case = task.primary_metric, []
    preds: dict[tuple, np.ndarray] = {}
    for case in cases:
        shape = imageio.load_label(task.label_path(case)).shape  # the case's native size
        if shape not in preds:
            preds[shape] = imageio.to_labels(y, shape)
        pred = preds[shape]
        scores = score_prediction(task, case, pred)
        values = [s.get(metric) for c, s in scores.items() if c > 0 and s.get(metric) is not None]
        if values:
            per_case.append(float(np.mean(values)))
    return float(np.mean(per_case)) if per_case else float("nan")


def _prior_floor(task: Task, prior: np.ndarray) -> Floor:
    """The binary prior map thresholded at the quantile that maximises the primary metric on val."""
    from sonobench.evaluator.metrics import METRICS

    val = task.split("val")
    if not val:
        raise FloorError(f"{task.ref} has no val split to choose the prior map's threshold on")
    sign = 1.0 if METRICS.get(task.primary_metric).higher_is_better else -1.0
    positive = prior[prior > 0]
    candidates = sorted(set(np.quantile(positive, np.linspace(0, 1, CANDIDATES, endpoint=False)).round(6))) \
        if positive.size else [0.5]
    best = None
    for t in candidates:
        score = _primary_on(task, val, (prior > t).astype(np.uint8))
        if np.isfinite(score) and (best is None or sign * score > sign * best[1]):
            best = (float(t), score)
    t, score = best if best else (0.5, float("nan"))
    fg = task.classes[1]
    return Floor("floor-train-prior", PRIOR_NAME,
                 f"the share of train labels marking {fg} at each pixel, thresholded at {t:.4f} (chosen on the val "
                 f"split for the best {task.primary_metric}, {score:.4f}); the same map for every image",
                 (prior > t).astype(np.uint8), threshold=t, val_score=score)


def build_floors(task: Task) -> list[Floor]:
    """The task's floors, from its train (and, for a threshold, val) labels only."""
    h, w = task.input_size
    freq = train_frequencies(task)
    floors = [Floor("floor-all-background", BACKGROUND_NAME,
                    "predicts background at every pixel of every image", np.zeros((h, w), np.uint8))]
    if task.num_classes == 2:
        floors.append(_prior_floor(task, freq[1]))
    else:
        floors.append(Floor("floor-train-majority", PRIOR_NAME,
                            "per pixel, the class most frequent there among the train labels (the train prior's "
                            "majority label); the same map for every image", freq.argmax(axis=0).astype(np.uint8)))
    return floors


def floor_onnx(floor: Floor, task: Task, path: str | Path, opset: int = 17) -> Path:
    """An ONNX graph that outputs `floor`'s constant logits whatever its input (N x C x H x W)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    const = logits(floor.label_map, task.num_classes)[None]
    k, (h, w), c = const.shape[1], task.input_size, task.input_channels
    nodes = [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=1),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["nothing", "constant"], ["logits"])]
    graph = helper.make_graph(
        nodes, f"sonobench_{floor.key.replace('-', '_')}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", c, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k, h, w])],
        [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"), numpy_helper.from_array(const, "constant")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="sonobench-floors")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def _score(store, task: Task, floor: Floor, folder: Path, log, settings) -> dict:
    """Score one floor through the evaluator (test split, then the shift and sweep sets); its reference row."""
    from sonobench.evaluator.evaluate import Request, evaluate
    from sonobench.evaluator.follow_ups import score_shifts
    from sonobench.evaluator.submission import prepare
    from sonobench.evaluator.task_sets import follow_up_sets

    path = floor_onnx(floor, task, folder / f"{floor.key}.onnx")
    sub = prepare(path, name=floor.name, team=TEAM)
    request = Request.for_task(task, kind=KIND, extra_meta={"floor": floor.info()})
    try:
        sid = evaluate(store, task, sub, settings=settings, request=request).submission_id
    except AlreadyScored as e:
        sid = e.submission_id
    shifts = score_shifts(store, task, sub, request, settings, sid, log=log) if follow_up_sets(task, request) else []
    res = store.result_for(sid)
    log(f"{floor.name}: #{sid}  {task.primary_metric} {res.get(f'{task.primary_metric}_mean')}")
    done = {o.task: {"result": store.result_for(o.submission_id), "cases": store.case_results(o.submission_id)}
            for o in shifts if o.submission_id is not None and store.result_for(o.submission_id)}
    return {
        "kind": KIND, "model": floor.key, "profile": KIND, "name": floor.name, "team": TEAM, "architecture": None,
        "onnx": {"sha256": sub.sha256, "bytes": path.stat().st_size, "parity_rel": 0.0},
        "floor": floor.info(),
        "scores": {k: res[k] for k in reference.SCORE_KEYS},
        "complexity": {k: res[k] for k in reference.COMPLEXITY_KEYS},
        "history": [], "training": {},
        "provenance": {"evaluator_version": res["evaluator_version"], "manifest_digest": res["manifest_digest"],
                       "built_from": "train labels (threshold: val labels)"},
        "evaluation": {"hardware": res["hardware"], "wall_s": res["wall_s"], "created_at": res["created_at"]},
        "cases": reference._case_block(store.case_results(sid)),
        "predictions": reference.encode_predictions(reference.stored_predictions(store, sid)),
        **({"shifts": reference.shift_block(done)} if done else {}),
    }


def make_floors(task: Task, store=None, folder: Path | None = None, log=print, settings=None) -> Path:
    """Build, score and write `task`'s floor file (`<folder>/<id>@<version>.json.gz`); returns its path.
    `settings`: the operator settings (loaded once here when not given)."""
    from sonobench.evaluator.store import Store
    from sonobench.kernel.settings import load_settings

    settings = settings or load_settings()
    t0 = time.monotonic()
    floors = build_floors(task)
    with tempfile.TemporaryDirectory(prefix="sonobench-floors-") as tmp:
        store = store or Store(Path(tmp) / "floors.db")
        rows = [_score(store, task, f, Path(tmp), log, settings) for f in floors]
    out = {"format": reference.FORMAT, "task": task.id, "task_version": task.version, "manifest_digest": task.digest,
           "note": (f"No-skill floors of {task.ref}: input-independent models built from its train split only "
                    f"(a threshold chosen on val), scored by the sandboxed evaluator; rebuilt in "
                    f"{time.monotonic() - t0:.0f} s by `sonobench baselines floors {task.ref}`."),
           "rows": rows}
    return reference.write_json(reference.reference_path(task.id, task.version, folder or FLOORS_DIR), out)


def load_floors(store, task: Task, log=print, folder: Path | None = None) -> int:
    """Insert `task`'s committed floors (kind "floor") into `store`; returns how many were new."""
    return reference.load_into_store(store, task, log=log, folder=folder or FLOORS_DIR)


def load_references_and_floors(store, task: Task, log=print) -> int:
    """`sonobench demo`'s loader: the reference rows and the floors of `task`; returns the number
    of reference rows added (the floors are reported in their own line)."""
    n = reference.load_into_store(store, task, log=log)
    floors = load_floors(store, task, log=log)
    if floors:
        log(f"Loaded {floors} no-skill floor(s) for {task.ref}")
    return n


def committed_marks(task: Task, log=lambda _m: None, alpha: float | None = None) -> dict[str, dict]:
    """{row name: mark} of the committed reference rows of `task` NOT significantly better than its
    best committed floor: both files loaded into a scratch in-memory store and tested as every
    board tests them (evaluator.floors.floor_marks at `alpha`, default the operator's ranking_alpha)."""
    from sonobench.evaluator import floors as board
    from sonobench.evaluator.store import Store
    from sonobench.kernel.settings import load_settings

    store = Store(memory=True)
    load_references_and_floors(store, task, log=log)
    rows = store.leaderboard_rows(task.id, task.version)
    alpha = load_settings().ranking_alpha if alpha is None else alpha
    marks = board.floor_marks(store, rows, task.primary_metric, alpha)
    return {r["name"]: marks[r["submission_id"]] for r in rows if r["submission_id"] in marks}
