"""Acquisition-shift sets: the same test phantoms of a simulated task, re-imaged under one
named change of acquisition each, frozen as test-only child tasks of it.

A phantom is a function of (preset, seed, index) (see `sample.make_sample`), so re-imaging
test case `breast-lesion-00042` means drawing phantom 42 again and simulating it with other
physics. The label is drawn from the same geometry; it is checked byte for byte against the
parent's label, so a shift set never changes what is segmented, only how it looks.

`unshifted` is the reference condition: the same phantoms through today's pipeline with the
parent's physics, so a drop measures the condition and not a change of pipeline version
between when the parent was generated and now. `sonobench.evaluator.robustness` pairs against it when
a task has it, else against the parent's own test images.

Generation is resumable like `sonobench simulate` (finished samples are skipped)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonobench.evaluator.tasks import Task, write_task
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import Registry

from .dataset import one_thread_here
from .physics import Physics
from .sample import NOISE_STD, Backend, NoiseLevel, sample_envelope, to_bmode
from .shift_physics import FOCUS_C_KEY, add_image_noise, attenuation_profile, fixed_gain_reference


class ShiftError(SonoBenchError):
    """A shift set cannot be made from this task as asked."""


@dataclass(frozen=True)
class Condition:
    """One named change of acquisition. `claim` is what the condition does to the image, as
    `sonobench.simulation.shift_checks` measures it on a shift set against its parent."""
    name: str
    description: str
    claim: str = ""
    physics: dict = field(default_factory=dict)   # Physics fields replaced (Physics.scaled)
    physics_scale: dict = field(default_factory=dict)  # Physics fields multiplied by a factor
    noise_std: float | None = None                # relative channel noise std instead of the case's own level
    image_snr_db: float | None = None             # noise added to the beamformed image at this SNR
    attenuation_scale: float = 1.0                # every tissue's attenuation coefficient times this
    attenuation_from_mm: float = 0.0              # ... from this depth down (0: everywhere)
    fixed_gain: bool = False                      # compressed with the parent image's gain, not its own median
    receive_focus_c_mps: float | None = None      # the speed the receive focusing assumes (aberration)
    reference: bool = False                       # the unshifted reference of the same pipeline

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "claim": self.claim,
                "physics": dict(self.physics), "physics_scale": dict(self.physics_scale),
                "noise_std": self.noise_std, "image_snr_db": self.image_snr_db,
                "attenuation_scale": self.attenuation_scale, "attenuation_from_mm": self.attenuation_from_mm,
                "fixed_gain": self.fixed_gain,
                "receive_focus_c_mps": self.receive_focus_c_mps, "reference": self.reference}


CONDITIONS: Registry[Condition] = Registry("shift condition")
for _c in (
    Condition("unshifted", "the parent's physics, re-simulated with today's pipeline (the reference)",
              claim="the parent's own image", reference=True),
    Condition("low-frequency", "the transmit and receive band centred at 2/3 of the parent's frequency (3.47 MHz "
              "for the L7-4's 5.21 MHz; same cycles and fractional bandwidth): coarser speckle, wider point-spread "
              "function, less attenuation", physics_scale={"f0_hz": 2 / 3},
              claim="speckle autocorrelation FWHM, axial and lateral, 1.5x the parent's (the frequency ratio) "
                    "within 15 %"),
    Condition("high-noise", "receiver noise in the beamformed image at SNR -3 dB (noise power = twice the median echo "
              "power of the beamformed image, before TGC, with the speckle's grain), so the TGC lifts it with "
              "depth", image_snr_db=-3.0,
              claim="each image correlates <= 0.85 with its parent (Pearson, grey levels)"),
    Condition("strong-attenuation", "every tissue deeper than 5 mm attenuates 1.3x more (a denser, more attenuating "
              "breast under the same skin); the scanner keeps its fixed TGC and gain (no per-image "
              "renormalisation)", attenuation_scale=1.3, attenuation_from_mm=5.0, fixed_gain=True,
              claim="deep-minus-shallow brightness falls by the extra two-way attenuation the tissue predicts, "
                    "within 25 %; the top 5 mm stays within +-1 dB of the parent"),
    Condition("low-dynamic-range", "log compression over 30 dB instead of 50 dB, the median grey kept (the "
              "median's place scaled with the range): harsher contrast, dark regions clip to black",
              physics={"dynamic_range_db": 30.0},
              claim="median grey within +-10 % of the parent's; grey contrast 50/30 x the parent's"),
    Condition("sound-speed-mismatch", "the receive focusing assumes 1400 m/s (a scanner's fat setting) while the "
              "beamformer places depths with 1540 m/s, as the tissue mostly is: a quadratic delay error across "
              "the aperture defocuses the image without moving it (the labels stay aligned)",
              receive_focus_c_mps=1400.0,
              claim="point-target lateral -6 dB width grows (predicted from the delay error; fast model within "
                    "15 % of it) and lesion edges blur: the grey step across lesion borders falls"),
):
    CONDITIONS.register(_c.name, _c)

DEFAULT_CASES = 50


def source_cases(parent: Task, n: int) -> list:
    """The first `n` test cases of `parent` by id (the order never depends on the run)."""
    test = sorted(parent.split("test"), key=lambda c: c.id)
    if n > len(test):
        raise ShiftError(f"{parent.ref} has {len(test)} test cases; ask for at most that many (--n)")
    return test[:n]


def _index(case) -> int:
    try:
        return int(case.id.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        raise ShiftError(f"case {case.id} does not end in its sample index; only tasks made by "
                         "`sonobench simulate` can be re-imaged") from None


def _source(parent: Task) -> tuple[str, int, Physics, Backend]:
    src = parent.source or {}
    if src.get("generator") != "sonobench simulate" or "physics" not in src:
        raise ShiftError(f"{parent.ref} was not made by `sonobench simulate` (its task.json has no simulation "
                         "source), so its phantoms cannot be re-imaged")
    return src["preset"], int(src["seed"]), Physics.from_json(src["physics"]), Backend(src["backend"])


def condition_physics(phys: Physics, condition: Condition) -> Physics:
    """The parent's physics under `condition`. A changed dynamic range keeps the median grey:
    the median's place (`median_db`) scales with the range unless the condition sets it."""
    changes = {k: getattr(phys, k) * v for k, v in condition.physics_scale.items()}
    changes.update(condition.physics)
    if "dynamic_range_db" in changes and "median_db" not in changes:
        changes["median_db"] = phys.median_db * changes["dynamic_range_db"] / phys.dynamic_range_db
    if condition.receive_focus_c_mps:
        changes["extra"] = {**phys.extra, FOCUS_C_KEY: float(condition.receive_focus_c_mps)}
    return phys.scaled(**changes) if changes else phys


def render_case(parent: Task, case, condition: Condition, backend: Backend | None = None):
    """(image, label, meta) of `case` re-imaged under `condition`; refuses a changed label."""
    from PIL import Image

    preset, seed, phys, parent_backend = _source(parent)
    backend = backend or parent_backend
    shifted = condition_physics(phys, condition)
    if condition.receive_focus_c_mps and backend == Backend.KWAVE and phys.image_formation != 3:
        raise ShiftError(f"'{condition.name}' needs image formation 3 on the k-Wave backend ({parent.ref} uses "
                         f"{phys.image_formation}); use --backend fast")
    noise = NoiseLevel(case.meta.get("noise_level", "low"))
    std = NOISE_STD[noise] if condition.noise_std is None else float(condition.noise_std)
    index = _index(case)
    t0 = time.perf_counter()
    scale = attenuation_profile(condition.attenuation_scale, condition.attenuation_from_mm, shifted)
    env, label, _, _ = sample_envelope(preset, seed, index, shifted, backend, std, scale)
    reference = None
    if condition.fixed_gain:  # the parent's own gain: its envelope through the parent's physics
        parent_env = sample_envelope(preset, seed, index, phys, backend, std)[0]
        reference = fixed_gain_reference(parent_env, phys)
    if condition.image_snr_db is not None:
        env = add_image_noise(env, shifted, condition.image_snr_db, np.random.default_rng([seed, index, 24]))
    with Image.open(parent.label_path(case)) as im:
        if not np.array_equal(np.asarray(im), label):
            raise ShiftError(f"re-imaging {case.id} under '{condition.name}' drew a different label than "
                             f"{parent.ref} holds; a condition must not change the geometry")
    meta = {"seconds": round(time.perf_counter() - t0, 3), "backend": backend.value, "physics": shifted.to_json()}
    return to_bmode(env, shifted, reference), label, meta


def make_shift_set(parent: Task, condition_name: str, folder, *, n: int = DEFAULT_CASES,
                   backend: str | None = None, progress=None) -> Task:
    """Simulate (or finish) and freeze one shift set of `parent` in `folder` (`shift_folder`)."""
    condition = CONDITIONS.get(condition_name)
    cases = source_cases(parent, n)
    folder = Path(folder)
    data = folder / "data"
    for d in ("images", "labels", "meta"):
        (data / d).mkdir(parents=True, exist_ok=True)
    chosen = Backend(backend) if backend else None
    with one_thread_here():  # computed like the parent's generator (one thread), and as cheaply
        entries = _render_missing(parent, cases, condition, chosen, data, progress)
    spec = _spec(parent, condition, folder, len(entries), chosen)
    return write_task(folder, spec, entries, data_root="data")


def _render_missing(parent, cases, condition, chosen, data: Path, progress) -> list[dict]:
    from PIL import Image

    entries = []
    for k, case in enumerate(cases):
        meta_path = data / "meta" / f"{case.id}.json"
        if not meta_path.exists():  # resumable: the meta file is written last
            image, label, meta = render_case(parent, case, condition, chosen)
            Image.fromarray(image).save(data / "images" / f"{case.id}.png")
            Image.fromarray(label).save(data / "labels" / f"{case.id}.png")
            meta_path.write_text(json.dumps({"seconds": meta["seconds"], "backend": meta["backend"],
                                             "physics": meta["physics"], "condition": condition.to_json()}))
        entries.append({"id": case.id, "split": "test", "image": f"images/{case.id}.png",
                        "label": f"labels/{case.id}.png",
                        "meta": {"source_case": case.id, **{k2: v for k2, v in case.meta.items()
                                                            if k2 in ("has_lesion", "noise_level")}}})
        if progress:
            progress(k + 1, len(cases))
    return entries


def _spec(parent: Task, condition: Condition, folder: Path, n: int, backend: Backend | None) -> dict:
    seconds = [json.loads(p.read_text())["seconds"] for p in sorted((folder / "data" / "meta").glob("*.json"))]
    return {
        "id": folder.parent.name, "version": int(folder.name.lstrip("v")),
        "title": f"{parent.title}: {condition.name} (acquisition shift, {n} test phantoms)",
        "description": f"The first {n} test phantoms of {parent.ref}, re-imaged with {condition.description}. "
                       f"Claim (checked by simulation.shift_checks): {condition.claim}.",
        "modality": parent.modality, "classes": list(parent.classes),
        "native_size": list(parent.native_size or parent.input_size), "input_size": list(parent.input_size),
        "input_channels": parent.input_channels,
        "spacing_mm": list(parent.spacing_mm) if parent.spacing_mm else None,
        "primary_metric": parent.primary_metric, "metrics": list(parent.metrics), "nsd_tolerance": parent.nsd_tolerance,
        "surface_tolerance": parent.surface_tolerance,
        "parent": parent.ref, "condition": condition.to_json(),
        "source": {"generator": "sonobench shifts make", "parent": parent.ref,
                   "backend": (backend.value if backend else parent.source.get("backend")),
                   "cpu_seconds_per_frame": round(float(np.mean(seconds)), 3) if seconds else None},
    }


def shift_folder(root, parent: Task, condition_name: str) -> Path:
    """<root>/<parent id>-shift-<condition>/v<parent version>: a shift set's version is its
    parent's, so the sets of a task's every version sit side by side (each names its parent)."""
    return Path(root) / f"{parent.id}-shift-{condition_name}" / f"v{parent.version}"


def default_root(parent: Task) -> Path:
    """Beside the parent's own task folder (splits/ for the embedded task)."""
    return parent.folder.parent.parent if os.access(parent.folder.parent.parent, os.W_OK) else Path.cwd()


__all__ = ["CONDITIONS", "Condition", "ShiftError", "condition_physics", "make_shift_set", "render_case", "source_cases",
           "shift_folder", "default_root"]
