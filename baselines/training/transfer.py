"""Starting weights for a baseline: a pretraining phase on a simulated pretraining
set, a local checkpoint, or a user's `--init` weights (nothing is downloaded).

PhyUS-Net's recipe: pretrain on physics-simulated images, then fine-tune on each
task. `pretrain_on_set` trains the model on a pretraining set (its train/val
cases, at the target task's input size) with a pretraining profile and caches
the checkpoint by (set digest, model, profile); `Start` carries the weights into
the fine-tuning run and the record of where they came from (set digest or file
SHA-256, the pretraining history) into the row.

Loading: `--init` is strict (every key present with the same shape, or an error
naming the differences). Weights from pretraining may differ only in the output
head when the target has another class count: those keys keep their seeded
initialisation and are listed in the record.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sonobench.evaluator.tasks import Task
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.paths import sha256_file

from ..recipes import Profile
from .data import load_split
from .loop import train_model


class WeightsMismatch(SonoBenchError):
    """Local weights that do not fit the model (missing/unexpected keys or other shapes)."""


def read_weights(path) -> dict[str, torch.Tensor]:
    """A state_dict from a .safetensors file or a torch file (loaded with weights_only:
    tensors only, no code); a checkpoint dict holding it under 'state_dict' is accepted."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMismatch(f"{path}: no such file; --init and --pretrain take a local state_dict "
                              "(.pt/.pth) or .safetensors file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise WeightsMismatch(f"{path} is not a tensors-only torch file ({type(e).__name__}); save "
                                  "model.state_dict() with torch.save, or use safetensors") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsMismatch(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    return state


def _examples(keys, n=3) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


def fit_weights(model: torch.nn.Module, state: dict, *, strict: bool, source: str) -> dict:
    """Copy `state` into `model`. strict: any difference is an error; otherwise only keys with
    another shape (an output head for another class count) may differ and keep their init."""
    own = model.state_dict()
    missing, unexpected = set(own) - set(state), set(state) - set(own)
    reshaped = {k for k in set(own) & set(state) if own[k].shape != state[k].shape}
    if strict and (missing or unexpected or reshaped):
        parts = [f"{len(missing)} missing ({_examples(missing)})" if missing else "",
                 f"{len(unexpected)} unexpected ({_examples(unexpected)})" if unexpected else "",
                 f"{len(reshaped)} with another shape ("
                 + ", ".join(f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in sorted(reshaped)[:3])
                 + ")" if reshaped else ""]
        raise WeightsMismatch(f"{source} does not fit {type(model).__name__}: keys " + "; ".join(p for p in parts if p)
                              + ". It must be the state_dict of the same architecture built for this task's "
                              "input channels and class count.")
    if missing or unexpected:
        raise WeightsMismatch(f"{source} is not a checkpoint of this architecture: {len(missing)} missing keys "
                              f"({_examples(missing)}), {len(unexpected)} unexpected ({_examples(unexpected)})")
    kept = {k: v for k, v in state.items() if k not in reshaped}
    model.load_state_dict({**own, **kept})
    return {"loaded_keys": len(kept), "reinitialised": sorted(reshaped)}


@dataclass
class Start:
    """Where a fine-tuning run starts from, and the record that goes into its row."""
    state: dict
    strict: bool
    record: dict = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """Folder / display suffix that keeps a pretrained run apart from the scratch one."""
        digest = self.record.get("set_digest") or self.record.get("checkpoint_sha256")
        style = self.record.get("style")  # a style-adapted pretraining is another start
        extra = f"-style-{style['method']}-{str(style.get('targets_sha256'))[:8]}" if style else ""
        return f"{self.record['kind']}-{digest[:8]}{extra}"

    def __call__(self, model: torch.nn.Module) -> dict:
        return fit_weights(model, self.state, strict=self.strict, source=self.record.get("path", "pretraining"))


def from_file(path, kind: str = "init") -> Start:
    """`--init PATH` (strict) or `--pretrain CHECKPOINT` (head may differ)."""
    path = Path(path)
    return Start(read_weights(path), strict=kind == "init",
                 record={"kind": kind, "path": str(path), "checkpoint_sha256": sha256_file(path)})


def _cache_key(digest: str, model: str, profile: Profile, style: dict | None) -> str:
    blob = json.dumps({"set": digest, "model": model, "profile": profile.to_dict(), "style": style}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pretrain_on_set(set_name: str, model: str, target: Task, profile: Profile, *, out_dir: Path,
                    device: str = "cpu", bar=None, style=None) -> Start:
    """Pretrain `model` on the pretraining set (verified first), or reuse the cached checkpoint
    of the same (set digest, model, profile, style); returns the fine-tuning start."""
    from sonobench.simulation.pretrain import verify_set

    pset = verify_set(set_name)
    style_info = style.describe() if style is not None else None
    folder = Path(out_dir) / "pretrain" / f"{set_name}-{model}-{_cache_key(pset.digest, model, profile, style_info)}"
    ckpt, info_path = folder / "state_dict.pt", folder / "pretrain.json"
    if ckpt.is_file() and info_path.is_file():
        record = json.loads(info_path.read_text())
        if record.get("checkpoint_sha256") == sha256_file(ckpt):  # else a changed file: pretrain again
            return Start(torch.load(ckpt, map_location="cpu", weights_only=True), strict=False,
                         record={**record, "reused_checkpoint": True})
    if not pset.task.split("val"):
        raise SonoBenchError(f"pretraining set {set_name} has no val cases (its early stopping needs some); make "
                             "a set of at least 8 images")
    # the set at the target's input size and channels, so the weights fit the fine-tuning model
    task = dataclasses.replace(pset.task, input_size=target.input_size, input_channels=target.input_channels)
    train, val = load_split(task, "train"), load_split(task, "val")
    result = train_model(model, train, val, task, profile, device, bar=bar, style=style)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), ckpt)
    record = {"kind": "pretrain", "set": set_name, "set_digest": pset.digest, "set_cases": len(train) + len(val),
              "set_command": pset.info.get("command"), "profile": profile.name, "recipe": profile.to_dict(),
              "history": result.history, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
              "wall_s": result.wall_s, "cpu_s": result.cpu_s, "style": style_info,
              "checkpoint": str(ckpt), "checkpoint_sha256": sha256_file(ckpt), "reused_checkpoint": False}
    info_path.write_text(json.dumps(record, indent=1) + "\n")
    return Start(result.model.state_dict(), strict=False, record=record)


class Workflow:
    """The physics-guided options of one `baselines run`: where each model starts (a pretraining
    set, a checkpoint, --init weights) and the style adaptation of its simulated phase."""

    def __init__(self, pretrain: str | None, pretrain_profile: Profile, init: str | None, style_target=None,
                 style_method: str = "fda", style_beta: float = 0.01, log=print):
        if pretrain and init:
            raise SonoBenchError("--pretrain and --init both set the starting weights; pass one of them")
        self.pretrain, self.profile, self.init, self.log = pretrain, pretrain_profile, init, log
        self.style = None
        if style_target:
            from sonobench.simulation.style import StyleBatches, make_adapter

            self.style = StyleBatches(make_adapter(style_method, style_target, style_beta))
        self.is_set = bool(pretrain) and not Path(pretrain).is_file()
        self._starts: dict = {}

    @property
    def active(self) -> bool:
        return bool(self.pretrain or self.init or self.style)

    def start_for(self, model: str, task: Task, out_dir, device: str, progress=None):
        """(start, fine-tuning style), one start per model (its folds share it). The style adapts
        the pretraining set when there is one, else the training split (a model trained on
        simulated data for a real target). `progress(total, desc)`: a tqdm-like context manager."""
        from .pipeline import default_out_dir

        if model not in self._starts:
            if self.is_set:
                self._starts[model] = self._pretrain(model, task, Path(out_dir or default_out_dir()), device, progress)
            elif self.pretrain or self.init:
                self._starts[model] = from_file(self.pretrain or self.init, "checkpoint" if self.pretrain else "init")
            else:
                self._starts[model] = None
        return self._starts[model], (None if self.is_set else self.style)

    def _pretrain(self, model, task, out_dir, device, progress):
        import contextlib

        from sonobench.simulation.pretrain import load_set

        from .loop import steps_per_epoch

        total = self.profile.epochs * steps_per_epoch(len(load_set(self.pretrain).task.split("train")), self.profile)
        self.log(f"Pretraining {model} on set '{self.pretrain}' with profile '{self.profile.name}'")
        bar_cm = progress(total, f"{model} pretraining on {self.pretrain}") if progress else contextlib.nullcontext()
        with bar_cm as bar:
            return pretrain_on_set(self.pretrain, model, task, self.profile, out_dir=out_dir, device=device,
                                   bar=bar, style=self.style)
