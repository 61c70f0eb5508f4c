"""Training, export and submission of the reference baselines.

    >>> from baselines.recipes import get_profile
    >>> from baselines.training import TaskData, run_baseline
    >>> data = TaskData.load(get_task("sim-breast-lesion"))
    >>> record = run_baseline(data, "cmunext", get_profile("quick"), store=Store())

Modules: data (splits in memory, stratified K-fold), augment, losses, loop
(the trainer), scoring (Dice/IoU as the evaluator computes them), export
(ONNX + onnxruntime parity), env (determinism, provenance), pipeline (end to end).
"""
import evaluator._torchcompat as _torchcompat

_torchcompat.ensure()  # smp-based architectures import torchvision

from .data import InvalidSplit, Samples, cv_splits, load_samples, load_split, stratified_folds  # noqa: E402
from .env import DeviceUnavailable, resolve_device  # noqa: E402
from .export import ExportMismatch, export_onnx  # noqa: E402
from .loop import TrainResult, output_channels, train_model  # noqa: E402
from .pipeline import TaskData, cv_summary, default_out_dir, display_name, run_baseline  # noqa: E402

__all__ = [
    "DeviceUnavailable", "ExportMismatch", "InvalidSplit", "Samples", "TaskData", "TrainResult",
    "cv_splits", "cv_summary", "default_out_dir", "display_name", "export_onnx", "load_samples",
    "load_split", "output_channels", "resolve_device", "run_baseline", "stratified_folds", "train_model",
]
