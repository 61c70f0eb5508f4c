"""Training recipes as data: named profiles, looked up by name.

A profile fixes everything that decides a trained baseline: optimisation
(AdamW, ReduceLROnPlateau on validation Dice, early stopping), what one epoch
sees, augmentation switches, the seed and the CPU thread count. The model's
input size is always the task's; `crop` only shrinks the training patches
(fully convolutional models are trained on patches and exported, validated and
scored at the full input size, as nnU-Net does).

`quick` is a CPU smoke-level reference, sized so that one small model
(cmunext, unext) trains, exports and is scored in <= 10 minutes on one CPU core:
384 steps of 4 foreground-biased 128x128 patches, validated on the whole
validation split every epoch. It runs single-threaded on purpose: the result is
then bit-identical on any machine with the same CPU kernels, and it does not
collapse on a busy machine (two threads competing for shared cores made
parallel kernels up to 100x slower here). Its scores are far below a converged
model's; big models (unet: ~4x cmunext's cost) take longer.

`full` is the setting of the committed reference rows. No GPU was available
to the project when they were trained, so it is sized for a 2-core CPU (the
issue's fallback): the quick recipe run ~1.5x longer, with the train->test gap
measured on every training case. `paper` is the seeds' recipe for a GPU (up to
100 epochs of the whole training split at the input size, batch 8, early
stopping after 20 epochs without a better validation Dice); run it with
`--device cuda` when one is at hand.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sonobench.kernel.errors import SonoBenchError, UnknownName
from sonobench.kernel.registry import Registry, did_you_mean

from .convergence import PLATEAU_DELTA

AMP_DTYPES = ("float16", "bfloat16")
OPTIMIZERS = ("adamw", "adam")
LR_SCHEDULES = ("plateau", "step")   # ReduceLROnPlateau on the smoothed val Dice, or StepLR
LOSSES = ("dice+ce", "ce")           # Dice + (binary) cross-entropy, or cross-entropy alone


class UnknownProfile(UnknownName):
    """No training profile is registered under that name."""


class InvalidProfile(SonoBenchError):
    """A profile (or a recorded one) has unknown fields or impossible values."""


@dataclass(frozen=True)
class Augment:
    """Switches and strengths of the on-the-fly augmentations (see training/augment.py)."""
    hflip: float = 0.5            # probability of a horizontal flip
    vflip: float = 0.0            # ultrasound has a depth axis: off by default
    affine: float = 0.5           # probability of a light affine warp
    rotate_deg: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.05       # fraction of the image size
    intensity: float = 0.5        # probability of a gamma + contrast change
    gamma: tuple[float, float] = (0.7, 1.5)
    contrast: tuple[float, float] = (0.8, 1.2)
    speckle: float = 0.3          # probability of multiplicative Rayleigh speckle
    speckle_strength: float = 0.25

    @property
    def enabled(self) -> bool:
        return any(p > 0 for p in (self.hflip, self.vflip, self.affine, self.intensity, self.speckle))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    early_stop_patience: int       # epochs without a better validation Dice before stopping
    plateau_factor: float          # ReduceLROnPlateau on validation Dice (mode "max")
    plateau_patience: int
    min_lr: float
    samples_per_epoch: int | None  # None: every training case once per epoch
    crop: tuple[int, int] | None   # training patch size; None: the task's input size
    foreground_crop: float         # fraction of patches centred on a foreground pixel
    train_eval_cases: int | None   # training cases scored for the train->test gap; None: all
    augment: Augment = field(default_factory=Augment)
    seed: int = 0
    threads: int | None = None     # torch CPU threads; fixed for bit-identical CPU reruns
    amp: bool = True               # mixed precision, used on CUDA only
    amp_dtype: str = "float16"     # or "bfloat16" (no loss scaling; native on recent GPUs)
    tta: bool = False              # horizontal-flip TTA baked into the exported model
    channels_last: bool = False    # NHWC tensors on the CPU (oneDNN's fast convolution layout)
    ema: float = 0.0               # weight of the past in the smoothed val Dice (0: raw) that drives
                                   # early stopping and the LR schedule; the checkpoint stays the best raw
    min_delta: float = 0.0         # a smoothed val Dice must beat the best by more than this to count
    stop_when_converged: bool = False  # early stopping waits until the convergence verdict can hold:
                                       # >= 2x patience epochs, no gain over the last 25% (>= patience)
    optimizer: str = "adamw"       # one of OPTIMIZERS
    lr_schedule: str = "plateau"   # one of LR_SCHEDULES; "step" multiplies the lr by step_gamma every step_size epochs
    step_size: int = 20
    step_gamma: float = 0.1
    loss: str = "dice+ce"          # one of LOSSES; "ce" on a binary task is BCE on its one logit, which is
                                   # the two-class cross-entropy with logits (0, z)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Profile":
        """Rebuild a recorded profile (e.g. from a reference row) exactly."""
        data = dict(data)
        aug = dict(data.pop("augment", {}) or {})
        _check_keys("profile", data, cls)
        _check_keys("augment", aug, Augment)
        aug = {k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
        if isinstance(data.get("crop"), list):
            data["crop"] = tuple(data["crop"])
        return _validated(cls(**data, augment=Augment(**aug)))

    def replace(self, **changes) -> "Profile":
        return _validated(dataclasses.replace(self, **changes))


def _check_keys(what: str, data: dict, cls) -> None:
    known = {f.name for f in dataclasses.fields(cls)} - {"augment"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidProfile(f"Unknown {what} field(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")


def _validated(p: Profile) -> Profile:
    positive = {"epochs": p.epochs, "batch_size": p.batch_size, "early_stop_patience": p.early_stop_patience}
    for key, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise InvalidProfile(f"Expected `{key}` to be a positive integer, but got {value!r}")
    if not (0 < p.lr and 0 <= p.weight_decay and 0 < p.plateau_factor < 1):
        raise InvalidProfile(f"profile '{p.name}': need lr > 0, weight_decay >= 0, 0 < plateau_factor < 1")
    if p.crop is not None and any(c < 32 or c % 32 for c in p.crop):
        raise InvalidProfile(f"profile '{p.name}': crop sides must be multiples of 32 (the models downsample "
                             f"by up to 32), got {p.crop}")
    if p.amp_dtype not in AMP_DTYPES:
        raise InvalidProfile(f"profile '{p.name}': amp_dtype must be one of {', '.join(AMP_DTYPES)}, got "
                             f"{p.amp_dtype!r}{did_you_mean(str(p.amp_dtype), AMP_DTYPES)}")
    if p.stop_when_converged and p.min_delta > PLATEAU_DELTA:
        raise InvalidProfile(f"profile '{p.name}': stop_when_converged needs min_delta <= {PLATEAU_DELTA} (the "
                             f"convergence criterion's plateau), got {p.min_delta}")
    if not (0 <= p.ema < 1 and 0 <= p.min_delta < 1):
        raise InvalidProfile(f"profile '{p.name}': need 0 <= ema < 1 and 0 <= min_delta < 1, got "
                             f"ema={p.ema}, min_delta={p.min_delta}")
    for key, value, choices in (("optimizer", p.optimizer, OPTIMIZERS), ("lr_schedule", p.lr_schedule, LR_SCHEDULES),
                                ("loss", p.loss, LOSSES)):
        if value not in choices:
            raise InvalidProfile(f"profile '{p.name}': {key} must be one of {', '.join(choices)}, got "
                                 f"{value!r}{did_you_mean(str(value), choices)}")
    if p.step_size < 1 or not 0 < p.step_gamma <= 1:
        raise InvalidProfile(f"profile '{p.name}': need step_size >= 1 and 0 < step_gamma <= 1")
    if not 0 <= p.foreground_crop <= 1:
        raise InvalidProfile(f"profile '{p.name}': foreground_crop must lie in [0, 1], got {p.foreground_crop}")
    return p


PROFILES: Registry[Profile] = Registry("training profile", UnknownProfile)

PROFILES.register("quick", _validated(Profile(
    name="quick",
    description="CPU smoke-level reference: 8 epochs x 192 foreground-biased 128x128 patches in "
                "batches of 4, 1 thread; <= 10 min per small model (cmunext, unext) on one CPU core. "
                "Not converged.",
    epochs=8, batch_size=4, lr=2e-3, weight_decay=1e-4,
    early_stop_patience=4, plateau_factor=0.5, plateau_patience=2, min_lr=1e-5,
    samples_per_epoch=192, crop=(128, 128), foreground_crop=0.67, train_eval_cases=48,
    seed=0, threads=1,
)))

PROFILES.register("full", _validated(Profile(
    name="full",
    description="The committed reference setting, sized for a CPU: 10 epochs x 224 foreground-biased "
                "128x128 patches in batches of 4 (1.46x quick's steps), every training case scored for "
                "the gaps, 1 thread; ~1 h for unet/attunet on one core, minutes for the small models.",
    epochs=10, batch_size=4, lr=2e-3, weight_decay=1e-4,
    early_stop_patience=4, plateau_factor=0.5, plateau_patience=2, min_lr=1e-5,
    samples_per_epoch=224, crop=(128, 128), foreground_crop=0.67, train_eval_cases=None,
    seed=0, threads=1,
)))

PROFILES.register("paper", _validated(Profile(
    name="paper",
    description="The seeds' GPU recipe (001/002): up to 100 epochs of the whole training split at the "
                "task's input size, batch 8, early stopping after 20 epochs, bf16 autocast. Needs a GPU.",
    epochs=100, batch_size=8, lr=3e-4, weight_decay=1e-4,
    early_stop_patience=20, plateau_factor=0.5, plateau_patience=8, min_lr=1e-6,
    samples_per_epoch=None, crop=None, foreground_crop=0.0, train_eval_cases=None,
    seed=0, threads=None, amp_dtype="bfloat16",
)))

PROFILES.register("anatosegnet-paper", _validated(Profile(
    name="anatosegnet-paper",
    description="AnatoSegNet's published recipe (Huang et al., ISBI 2025): Adam, lr 1e-4, weight decay 1e-4, "
                "StepLR(step 20, gamma 0.1), 50 epochs of the whole training split, batch 16, two-class "
                "cross-entropy, at the task's input size; no early stopping. Needs a GPU (93 M parameters).",
    epochs=50, batch_size=16, lr=1e-4, weight_decay=1e-4,
    early_stop_patience=50, plateau_factor=0.5, plateau_patience=50, min_lr=0.0,
    samples_per_epoch=None, crop=None, foreground_crop=0.0, train_eval_cases=None,
    seed=0, threads=None, amp_dtype="bfloat16", optimizer="adam", lr_schedule="step", step_size=20,
    step_gamma=0.1, loss="ce",
)))

PROFILES.register("converged", _validated(Profile(
    name="converged",
    description="Trained until it stops improving, on a CPU: whole 256x256 images, batch 16 at twice the "
                "paper's lr (linear scaling), 2 threads, channels-last; early stopping only once the "
                "convergence criterion holds (>= 20 epochs; over the last 25% of the epochs, at least 10, the "
                "smoothed (EMA 0.8) val Dice gained <= 0.005, the raw val Dice's slope is < 0.001/epoch at 95% "
                "and the best epoch is not in that window's last quarter), at most 120 epochs.",
    epochs=120, batch_size=16, lr=6e-4, weight_decay=1e-4,
    early_stop_patience=10, plateau_factor=0.5, plateau_patience=5, min_lr=1e-6,
    samples_per_epoch=None, crop=None, foreground_crop=0.0, train_eval_cases=None,
    seed=0, threads=2, channels_last=True, ema=0.8, min_delta=0.005, stop_when_converged=True,
)))


PROFILES.register("pretrain", _validated(Profile(
    name="pretrain",
    description="The pretraining phase of `baselines run --pretrain SET` (PhyUS-Net: pretrain on simulated "
                "images, then fine-tune): the quick recipe's optimiser and patches, 6 epochs x 384 patches "
                "of the pretraining set, 1 thread. Fine-tuning then uses --profile.",
    epochs=6, batch_size=4, lr=2e-3, weight_decay=1e-4,
    early_stop_patience=3, plateau_factor=0.5, plateau_patience=2, min_lr=1e-5,
    samples_per_epoch=384, crop=(128, 128), foreground_crop=0.67, train_eval_cases=48,
    seed=0, threads=1,
)))


def get_profile(name: str) -> Profile:
    return PROFILES.get(name)


def list_profiles() -> list[Profile]:
    return [p for _, p in PROFILES.items()]
