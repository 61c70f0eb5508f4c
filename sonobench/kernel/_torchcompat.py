"""Let torchvision (and timm / smp, which import it) load over a CPU-only torch.

On Linux, PyPI's torchvision 0.28.0 is a CUDA build. Over the CPU torch wheel its
compiled extension cannot load, and importing torchvision then fails with
"operator torchvision::nms does not exist" when it registers fake kernels.
Defining the two operator schemas first lets it import; only its detection ops
(nms, roi_align, ...) stay unavailable, which segmentation models never use.

The shim is applied only where needed: if torchvision's own extension loads (a
matching CPU or CUDA build), nothing is defined and torchvision is untouched.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import sys

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"
_state: dict = {"checked": False, "shimmed": False, "lib": None}


def _extension_path() -> str | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    hits = glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "_C*.so"))
    return hits[0] if hits else None


def needed() -> bool:
    """True when torchvision is installed but its compiled extension cannot load."""
    import torch

    path = _extension_path()
    if path is None:
        return False
    try:
        torch.ops.load_library(path)
        return False
    except (OSError, RuntimeError):
        return True


def ensure() -> bool:
    """Make `import torchvision` work; returns True if the shim was applied."""
    if _state["checked"]:
        return _state["shimmed"]
    _state["checked"] = True
    if "torchvision" in sys.modules or not needed():
        return False
    import torch

    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        lib.define(op + _SCHEMA)
    _state.update(shimmed=True, lib=lib)  # the Library must stay alive
    return True


class _ImportHook:
    """Applies `ensure()` the first time anything imports torchvision."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            ensure()
        return None


def install_hook() -> None:
    if not any(isinstance(f, _ImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _ImportHook())
