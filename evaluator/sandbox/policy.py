"""Which formats may run under which isolation: decided here, once.

Code formats execute submitter-controlled code when loaded or run:
* a pickle runs arbitrary Python;
* TorchScript runs TorchScript, which can call every registered torch op,
  among them `torch.from_file` (reads any regular file the process can open);
* a `.pt2` program is loaded by `torch.export.load`, which unpickles weights
  saved with `use_pickle` and falls back to `weights_only=False` for its
  sample inputs: arbitrary Python again.
They run only inside bubblewrap, where labels, the store and secrets are not
mounted. Where bubblewrap cannot run they are refused, never run unisolated.

Data formats are parsed, not executed: ONNX (standard operators, external data
confined to the model folder), safetensors, and a state dict loaded with
`weights_only=True` into a registered architecture whose code is ours. They may
run under `unshare -n` or rlimits alone, with a warning recorded on the row,
unless the operator requires bubblewrap (`require_isolation: "bwrap"`).
"""
from __future__ import annotations

CODE_FORMATS = ("pickle", "torchscript", "export")
DATA_FORMATS = ("onnx", "safetensors", "state_dict")

WEAK_ISOLATION_WARNING = (
    "evaluated without bubblewrap ({mode}): the model process had {what} but could see the host filesystem; "
    "only data formats are run this way"
)


def refusal(fmt: str, isolation: str, *, allow_pickle: bool, why_no_bwrap: str = "",
            embedded_code: tuple[str, ...] = ()) -> str | None:
    """The reason `fmt` may not run under `isolation`, or None when it may."""
    if fmt == "pickle" and not allow_pickle:
        return ("pickled Python objects run arbitrary code when loaded and are refused; submit ONNX, "
                "TorchScript, .pt2, or a state_dict/safetensors file with an architecture spec "
                "(an operator can allow pickles with --allow-pickle)")
    unsure = [g for g in embedded_code if g.startswith("<cannot be sure")]
    if fmt == "export" and unsure and not allow_pickle:
        return (f"this .pt2 archive could not be fully checked ({unsure[0][17:-1].strip(': ')}); torch.export.load "
                "might run code from it, so it is refused. Re-export it with torch.export.save from an "
                "unmodified torch (or an operator can allow it with --allow-pickle)")
    if fmt == "export" and embedded_code and not allow_pickle:
        return (f"this .pt2 archive embeds pickles that import {', '.join(embedded_code[:3])}; torch.export.load "
                "would execute them, so it is refused (re-export plain tensors, or an operator can allow it "
                "with --allow-pickle)")
    if fmt in CODE_FORMATS and isolation != "bwrap":
        name = {"pickle": "pickled models", "torchscript": "TorchScript models",
                "export": ".pt2 (torch.export) programs"}[fmt]
        because = f" ({why_no_bwrap})" if why_no_bwrap else ""
        return (f"{name} execute code and run only under bubblewrap isolation, which is not available here"
                f"{because}; submit ONNX or a state_dict/safetensors file instead")
    return None


def weak_warning(isolation: str) -> str | None:
    if isolation == "bwrap":
        return None
    what = "no network" if isolation == "unshare" else "only rlimits and the seccomp filter"
    return WEAK_ISOLATION_WARNING.format(mode=isolation, what=what)
