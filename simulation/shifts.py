"""Acquisition-shift sets: the same test phantoms of a simulated task, re-imaged under one
named change of acquisition each, frozen as test-only child tasks of it.

A phantom is a function of (preset, seed, index) (see `sample.make_sample`), so re-imaging
test case `breast-lesion-00042` means drawing phantom 42 again and simulating it with other
physics. The label is drawn from the same geometry; it is checked byte for byte against the
parent's label, so a shift set never changes what is segmented, only how it looks.

`unshifted` is the reference condition: the same phantoms through today's pipeline with the
parent's physics, so a drop measures the condition and not a change of pipeline version
between when the parent was generated and now. `evaluator.robustness` pairs against it when
a task has it, else against the parent's own test images.

Generation is resumable like `sonobench simulate` (finished samples are skipped)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evaluator.errors import SonoBenchError
from evaluator.registry import Registry
from evaluator.tasks import Task, write_task

from .dataset import one_thread_here
from .physics import Physics
from .sample import Backend, NoiseLevel, make_sample


class ShiftError(SonoBenchError):
    """A shift set cannot be made from this task as asked."""


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    physics: dict = field(default_factory=dict)   # Physics fields replaced (Physics.scaled)
    noise_std: float | None = None                # relative RF noise std instead of the case's own level
    attenuation_scale: float = 1.0                # every tissue's attenuation coefficient times this
    reference: bool = False                       # the unshifted reference of the same pipeline

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "physics": dict(self.physics),
                "noise_std": self.noise_std, "attenuation_scale": self.attenuation_scale,
                "reference": self.reference}


CONDITIONS: Registry[Condition] = Registry("shift condition")
for _c in (
    Condition("unshifted", "the parent's physics, re-simulated with today's pipeline (the reference)",
              reference=True),
    Condition("low-frequency", "transmit at 2.0 MHz instead of 3.0 MHz: coarser speckle, wider point-spread "
              "function, less attenuation", physics={"f0_hz": 2.0e6}),
    Condition("high-noise", "electronic noise at 0.30 of the RF's RMS (twice the task's 'high' level) on every "
              "case", noise_std=0.30),
    Condition("strong-attenuation", "every tissue attenuates 1.8x more (a thicker or fattier breast) while the "
              "TGC stays the scanner's preset", attenuation_scale=1.8),
    Condition("low-dynamic-range", "log compression over 30 dB instead of 50 dB: harsher contrast, dark "
              "regions clip to black", physics={"dynamic_range_db": 30.0}),
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


def render_case(parent: Task, case, condition: Condition, backend: Backend | None = None):
    """(image, label, meta) of `case` re-imaged under `condition`; refuses a changed label."""
    from PIL import Image

    preset, seed, phys, parent_backend = _source(parent)
    phys = phys.scaled(**condition.physics) if condition.physics else phys
    noise = NoiseLevel(case.meta.get("noise_level", "low"))
    s = make_sample(preset, seed, _index(case), phys, backend or parent_backend, noise,
                    noise_std=condition.noise_std, attenuation_scale=condition.attenuation_scale)
    with Image.open(parent.label_path(case)) as im:
        if not np.array_equal(np.asarray(im), s.label):
            raise ShiftError(f"re-imaging {case.id} under '{condition.name}' drew a different label than "
                             f"{parent.ref} holds; a condition must not change the geometry")
    return s.image, s.label, s.meta


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
        "description": f"The first {n} test phantoms of {parent.ref}, re-imaged with {condition.description}.",
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


__all__ = ["CONDITIONS", "Condition", "ShiftError", "make_shift_set", "render_case", "source_cases",
           "shift_folder", "default_root"]
