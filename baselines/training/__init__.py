"""Training, export and submission of the reference baselines.

    >>> from sonobench.baselines.recipes import get_profile
    >>> from sonobench.baselines.training import TaskData, run_baseline
    >>> data = TaskData.load(get_task("sim-breast-lesion"))
    >>> record = run_baseline(data, "cmunext", get_profile("quick"), store=Store())

Modules: data (splits in memory, stratified K-fold), augment, losses, loop
(the trainer), scoring (Dice/IoU as the evaluator computes them), export
(ONNX + onnxruntime parity), env (determinism, provenance), pipeline (end to end).

Names are imported on first use, so that `sonobench.baselines.training.loop` can run where
only torch is installed (a lent GPU machine: see baselines/device.py) without
pulling in the store and the sandbox that `pipeline` needs.
"""
import importlib

import sonobench.kernel._torchcompat as _torchcompat

_torchcompat.ensure()  # smp-based architectures import torchvision

_WHERE = {
    "InvalidSplit": "data", "Samples": "data", "cv_splits": "data", "load_samples": "data", "load_split": "data",
    "stratified_folds": "data", "DeviceUnavailable": "env", "resolve_device": "env", "ExportMismatch": "export",
    "export_onnx": "export", "TrainResult": "loop", "output_channels": "loop", "train_model": "loop",
    "TaskData": "pipeline", "cv_summary": "pipeline", "default_out_dir": "pipeline", "display_name": "pipeline",
    "run_baseline": "pipeline",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
