"""Validation scores of model outputs, computed by the evaluator's own functions: logits at
the input size -> `imageio.to_labels` at each case's native size -> `metrics.score_overlap`
(the registry's count-based metrics, Dice and IoU, per foreground class; None for a class
absent from the reference) -> `metrics.case_mean` over the classes present -> mean over the cases
whose reference has a foreground class (the evaluator's policy, so validation selects the same
way the test board ranks). The surface distances (HD95, NSD,
ASSD) are left to the evaluator's scoring of the exported model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from sonobench.evaluator.metrics import case_mean, count_metrics, score_overlap
from sonobench.kernel import imageio

from .data import Samples


def label_scores(pred: np.ndarray, label: np.ndarray, num_classes: int) -> dict[str, float | None]:
    """{metric: macro mean over the foreground classes present in `label`} of one predicted label
    map, for every count-based metric of the registry; None when `label` has no foreground."""
    per_class = score_overlap(pred, label, num_classes)
    return {m: case_mean(per_class, m) for m in count_metrics()}


def case_scores(scores: np.ndarray, label: np.ndarray, num_classes: int) -> dict[str, float]:
    """`label_scores` of one case's K x h x w logits, labelled at the case's native size."""
    pred = imageio.to_labels(scores.astype(np.float32, copy=False), label.shape, "logits")
    return label_scores(pred, label, num_classes)


def summarize(cases: list[dict[str, float | None]]) -> dict:
    """Mean over the applicable cases (value not None) of each metric, and the number of cases;
    a metric no case applies to is None."""
    out: dict = {}
    for m in count_metrics():
        values = [c[m] for c in cases if c[m] is not None]
        out[m] = float(np.mean(values)) if values else None
    return {**out, "n": len(cases)}


def torch_logits(model: torch.nn.Module, samples: Samples, batch: int, device: str,
                 tta: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """(index, K x h x w float32 logits) per sample, in eval mode without gradients."""
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(samples), batch):
            x = torch.from_numpy(samples.images[start:start + batch]).to(device)
            y = model(x)
            if tta:
                y = (y + model(x.flip(-1)).flip(-1)) / 2
            for j, out in enumerate(y.float().cpu().numpy()):
                yield start + j, out


def onnx_session(path: str | Path, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def score_onnx(path: str | Path, samples: Samples, num_classes: int, threads: int | None = None) -> dict:
    """Score an exported model case by case (batch 1, like the sandbox) with onnxruntime."""
    session = onnx_session(path, threads)
    name = session.get_inputs()[0].name
    return summarize([case_scores(session.run(None, {name: samples.images[i:i + 1]})[0][0], samples.labels[i],
                                  num_classes) for i in range(len(samples))])
