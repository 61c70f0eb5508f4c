"""Image-corruption suite: deterministic, seeded ultrasound corruptions of a task's frozen
test images at three severities, scored like acquisition-shift sets but with nothing stored.

Each corruption is a pure function of (image, severity, rng); the rng is seeded from
(suite seed, case id, corruption, severity), so the same case always gets the same bytes,
whatever the order or the machine. The formulas follow the transforms ultrasound papers use
for augmentation (and that the `usaugment` package implements on albumentations):

- ``depth-attenuation``: intensity x ((1 - m) exp(-r d) + m), d the distance from the top
  centre of the image (the probe) normalised by the image height (Ostvik et al. 2021);
- ``tgc-error``: a wrong time-gain curve: a gain ramp linear in dB over depth;
- ``shadow``: an acoustic shadow: a 2-D Gaussian darkening, tall and narrow, below a random
  point (Smistad et al. 2018);
- ``haze``: a bright, blurred band of clutter at a random depth in the near field;
- ``speckle-reduction``: the smoothing a scanner's speckle filter does (a Gaussian blur);
- ``noise``: additive Gaussian noise on the 8-bit image;
- ``gain``: the overall gain turned up (saturating) or down.

Why our own code and not `usaugment`: its transforms draw their parameters from Python's and
NumPy's global random state, so reproducing one case's corruption means re-seeding (and
disturbing) the whole process; and it needs albumentations, whose OpenCV build clashes with
the `opencv-python` that k-wave-python installs. Each function here is a few lines of NumPy/SciPy.

Virtual tasks: ``<task id>~<corruption>-s<severity>`` at the parent's version (e.g.
``sim-breast-lesion~noise-s2@1``) is the parent's test subset with that corruption applied on
read; `sonobench.evaluator.tasks.get_task` resolves it, so the queue and the store treat it as a task.
"""
from __future__ import annotations

import dataclasses
import hashlib
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from sonobench.kernel.errors import SonoBenchError, TaskNotFound
from sonobench.kernel.registry import Registry

SEVERITIES = (1, 2, 3)
SEED = 20261202
SEPARATOR = "~"
COST_FACTOR = 3.0  # the default suite costs at most this many times the main evaluation's inference


class InvalidCorruption(SonoBenchError):
    """A corruption, severity or selection that does not exist."""


def _depth(shape) -> tuple[np.ndarray, np.ndarray]:
    rr, cc = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    return rr / max(shape[0] - 1, 1), cc / max(shape[1] - 1, 1)


def depth_attenuation(img, severity, rng):
    rate = (1.0, 2.0, 3.5)[severity - 1] * rng.uniform(0.8, 1.2)
    y, x = _depth(img.shape)
    d = np.sqrt((x - 0.5) ** 2 + y ** 2)
    return img * ((1 - 0.1) * np.exp(-rate * d) + 0.1)


def tgc_error(img, severity, rng):
    db = (4.0, 8.0, 14.0)[severity - 1] * rng.choice([-1.0, 1.0])
    y, _ = _depth(img.shape)
    return img * 10.0 ** (db * (y - 0.5) / 20.0)


def shadow(img, severity, rng):
    h, w = img.shape
    strength = (0.4, 0.6, 0.8)[severity - 1]
    cx, top = rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.5) * h
    sx = (0.04, 0.07, 0.10)[severity - 1] * w
    rr, cc = np.mgrid[0:h, 0:w].astype(np.float64)
    below = 1.0 / (1.0 + np.exp(-(rr - top) / (0.02 * h)))  # the shadow starts at the occluder and runs down
    return img * (1.0 - strength * below * np.exp(-0.5 * ((cc - cx) / sx) ** 2))


def haze(img, severity, rng):
    from scipy.ndimage import gaussian_filter

    h, _ = img.shape
    amount = (40.0, 70.0, 100.0)[severity - 1]
    centre, width = rng.uniform(0.05, 0.35) * h, (0.05, 0.08, 0.12)[severity - 1] * h
    rr = np.arange(h, dtype=np.float64)[:, None]
    band = np.exp(-0.5 * ((rr - centre) / width) ** 2)
    clutter = gaussian_filter(rng.random(img.shape), 3.0)
    clutter = (clutter - clutter.min()) / max(np.ptp(clutter), 1e-9)
    return img + amount * band * clutter


def speckle_reduction(img, severity, rng):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, (0.8, 1.5, 2.5)[severity - 1] * rng.uniform(0.9, 1.1))


def noise(img, severity, rng):
    return img + rng.normal(0.0, (8.0, 16.0, 28.0)[severity - 1], img.shape)


def gain(img, severity, rng):
    db = (3.0, 6.0, 10.0)[severity - 1] * rng.choice([-1.0, 1.0])
    return img * 10.0 ** (db / 20.0)


@dataclass(frozen=True)
class Corruption:
    name: str
    description: str
    apply: Callable = dataclasses.field(repr=False, compare=False)


CORRUPTIONS: Registry[Corruption] = Registry("corruption")
for _c in (
    Corruption("depth-attenuation", "stronger attenuation with depth (exponential, from the probe)", depth_attenuation),
    Corruption("tgc-error", "a wrong time-gain curve (a gain ramp over depth, in dB)", tgc_error),
    Corruption("shadow", "an acoustic shadow below a random occluder", shadow),
    Corruption("haze", "near-field haze (bright blurred clutter band)", haze),
    Corruption("speckle-reduction", "the smoothing of a scanner's speckle filter", speckle_reduction),
    Corruption("noise", "additive Gaussian noise", noise),
    Corruption("gain", "overall gain up or down", gain),
):
    CORRUPTIONS.register(_c.name, _c)


def case_rng(case_id: str, corruption: str, severity: int, seed: int = SEED) -> np.random.Generator:
    """The generator of one (case, corruption, severity): independent of order and process."""
    key = [seed, zlib.crc32(case_id.encode()), zlib.crc32(corruption.encode()), int(severity)]
    return np.random.default_rng(key)


def corrupt(image: np.ndarray, case_id: str, corruption: str, severity: int, region=None,
            seed: int = SEED) -> np.ndarray:
    """`image` (uint8 H x W) with `corruption` at `severity` applied, as uint8; outside a scan
    `region` the pixels are left as they were."""
    c = CORRUPTIONS.get(corruption)
    if severity not in SEVERITIES:
        raise InvalidCorruption(f"severity must be one of {', '.join(map(str, SEVERITIES))}, got {severity!r}")
    image = np.asarray(image)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise InvalidCorruption(f"expected a 2-D uint8 image, got shape {image.shape} and dtype {image.dtype}")
    out = c.apply(image.astype(np.float64), severity, case_rng(case_id, corruption, severity, seed))
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if region is not None:
        out = np.where(region, out, image)
    return out


# ------------------------------------------------------------------ virtual tasks

def variant_id(parent_id: str, corruption: str, severity: int) -> str:
    return f"{parent_id}{SEPARATOR}{corruption}-s{severity}"


def parse_variant(task_id: str) -> tuple[str, str, int]:
    """(parent id, corruption, severity) of a virtual task id; TaskNotFound when malformed."""
    parent, _, tail = task_id.partition(SEPARATOR)
    name, _, sev = tail.rpartition("-s")
    try:
        severity = int(sev)
        CORRUPTIONS.get(name)
    except (ValueError, SonoBenchError):
        raise TaskNotFound(f"'{task_id}' is not a corruption variant: use TASK~CORRUPTION-sN with a corruption of "
                           f"{', '.join(CORRUPTIONS.names())} and N in 1-3, e.g. {parent}~noise-s2") from None
    if severity not in SEVERITIES:
        raise TaskNotFound(f"'{task_id}': severity must be 1, 2 or 3")
    return parent, name, severity


def subset_size(n_test: int, n_variants: int, factor: float = COST_FACTOR) -> int:
    """Cases per variant so that all variants together infer at most `factor` x the test split."""
    return max(1, min(n_test, int(factor * n_test // max(n_variants, 1))))


def variant_task(parent, corruption: str, severity: int):
    """The virtual task: the first cases (by id) of the parent's test split, corrupted on read.
    Every variant uses the same cases, as many as keep the whole suite (every corruption at
    every severity) within COST_FACTOR x the main evaluation's inference."""
    if parent.parent or SEPARATOR in parent.id:
        raise InvalidCorruption(f"{parent.ref} is itself a shift set or a corruption variant")
    CORRUPTIONS.get(corruption)
    if severity not in SEVERITIES:
        raise InvalidCorruption(f"severity must be one of {', '.join(map(str, SEVERITIES))}, got {severity!r}")
    test = sorted(parent.split("test"), key=lambda c: c.id)
    cases = tuple(test[:subset_size(len(test), len(CORRUPTIONS.names()) * len(SEVERITIES))])
    digest = hashlib.sha256(f"{parent.digest}|{corruption}|{severity}|{SEED}|{len(cases)}".encode()).hexdigest()
    condition = {"name": f"{corruption}-s{severity}", "corruption": corruption, "severity": severity,
                 "description": f"{CORRUPTIONS.get(corruption).description}, severity {severity} of 3", "seed": SEED}
    return dataclasses.replace(parent, id=variant_id(parent.id, corruption, severity), cases=cases, digest=digest,
                               title=f"{parent.title}: {corruption} s{severity} (corruption)", parent=parent.ref,
                               condition=condition, corruption=(corruption, severity))


def suite(parent, selection: str = "all") -> list:
    """The variant tasks of `selection`: 'all' (every corruption at every severity: together at
    most COST_FACTOR x the main inference) or a comma list of CORRUPTION or CORRUPTION-sN (a
    corruption alone means its three severities)."""
    pairs = [(c, s) for c in CORRUPTIONS.names() for s in SEVERITIES]
    if selection != "all":
        pairs = []
        for item in (x.strip() for x in str(selection).split(",") if x.strip()):
            name, sep, sev = item.rpartition("-s")
            if not sep or not sev.isdigit():
                name, sev = item, ""
            CORRUPTIONS.get(name)  # an unknown name says which exist
            pairs += [(name, int(sev))] if sev else [(name, s) for s in SEVERITIES]
        if not pairs:
            raise InvalidCorruption("name at least one corruption, or 'all'")
    return [variant_task(parent, c, s) for c, s in pairs]
