"""One sample: phantom -> (k-Wave channel RF -> DAS -> envelope | fast model) -> B-mode.

`Physics.image_formation` picks the B-mode pipeline: 2 (`image_formation.py`) for new
data, 1 (`beamform.py`) to regenerate sim-breast-lesion@1 from its recorded physics.

Everything random about a sample comes from `np.random.SeedSequence([seed, index])`,
so a sample is the same whichever worker makes it, in whatever order.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

import numpy as np

from sonobench.kernel.errors import UnknownName
from sonobench.kernel.registry import did_you_mean

from . import beamform, image_formation, phantom
from .physics import Physics


class Backend(str, Enum):
    KWAVE = "kwave"
    FAST = "fast"


class NoiseLevel(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# Electronic noise added to the channel RF: std relative to the RMS of the gated
# channel data (echoes only). It shows up where echoes are weak: deep, shadowed.
NOISE_STD = {NoiseLevel.LOW: 0.02, NoiseLevel.MEDIUM: 0.06, NoiseLevel.HIGH: 0.15}


def parse_enum(enum_cls, value: str, what: str):
    try:
        return enum_cls(value)
    except ValueError:
        names = [e.value for e in enum_cls]
        raise UnknownName(f"Unknown {what} '{value}'{did_you_mean(value, names)}. Valid: {', '.join(names)}.") from None


@dataclass
class Sample:
    image: np.ndarray   # uint8 B-mode, phys.out_shape
    label: np.ndarray   # uint8 class indices, phys.out_shape
    meta: dict


def sample_rngs(seed: int, index: int):
    geometry, scatterers, noise, choice = np.random.SeedSequence([int(seed), int(index)]).spawn(4)
    return tuple(np.random.default_rng(s) for s in (geometry, scatterers, noise, choice))


def draw_noise_level(seed: int, index: int, levels) -> NoiseLevel:
    levels = [parse_enum(NoiseLevel, str(getattr(l, "value", l)), "noise level") for l in levels]
    return levels[int(sample_rngs(seed, index)[3].integers(len(levels)))]


def kwave_envelope(maps: dict, phys: Physics, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """Envelope on the output pixel grid, by the physics' image-formation version."""
    if phys.image_formation == 3:
        from .image_formation3 import kwave_envelope as kwave_envelope_v3

        return kwave_envelope_v3(maps, phys, noise_std, rng)
    return (_kwave_envelope_v1 if phys.image_formation == 1 else _kwave_envelope_v2)(maps, phys, noise_std, rng)


def _kwave_envelope_v2(maps: dict, phys: Physics, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    from .kwave_backend import channel_rf

    total = None
    for angle in phys.angles_deg:
        rf, t_peak = channel_rf(phys, maps, angle)
        rf = image_formation.add_noise(beamform.gate_transmit(rf, phys, t_peak), phys, noise_std, rng)
        img = image_formation.das_rf(rf, phys, t_peak, angle)
        total = img if total is None else total + img  # coherent compounding of the beamformed RF
    return image_formation.resample_to_pixels(image_formation.envelope_fine(total), phys)


def _kwave_envelope_v1(maps: dict, phys: Physics, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """sim-breast-lesion@1's pipeline, unchanged (white channel noise, analytic DAS on the pixel grid)."""
    from .kwave_backend import channel_rf

    total = None
    for angle in phys.angles_deg:
        rf, t_peak = channel_rf(phys, maps, angle)
        rf = beamform.gate_transmit(rf, phys, t_peak)
        if noise_std > 0:
            rms = float(np.sqrt(np.mean(rf.astype(np.float64) ** 2)))
            rf = rf + (noise_std * rms * rng.standard_normal(rf.shape)).astype(np.float32)
        iq = beamform.das(rf, phys, t_peak, angle)
        total = iq if total is None else total + iq  # coherent compounding
    return np.abs(total)


def sample_envelope(preset: str, seed: int, index: int, phys: Physics, backend: Backend = Backend.KWAVE,
                    noise_std: float = NOISE_STD[NoiseLevel.LOW], attenuation_scale=1.0):
    """(envelope on the pixel grid, label, phantom parameters, specimen) of sample `index`,
    before TGC and log compression. `attenuation_scale` multiplies every tissue's attenuation
    (an acquisition shift of `sonobench.simulation.shifts`: the phantom's geometry and label stay)."""
    g_rng, s_rng, n_rng, _ = sample_rngs(seed, index)
    specimen = phantom.specimen_of(preset, index)
    params = phantom.draw_phantom(preset, g_rng, phys, phantom.specimen_rng(seed, specimen))
    label = phantom.label_map(params, phys)
    maps = phantom.acoustic_maps(params, phys, s_rng)
    tissue = maps.pop("tissue_index")
    if np.any(np.asarray(attenuation_scale) != 1.0):  # a number, or a per-row profile (rows, 1)
        maps["alpha_coeff"] = maps["alpha_coeff"] * np.asarray(attenuation_scale, dtype=np.float64)
    if backend == Backend.KWAVE:
        env = kwave_envelope(maps, phys, noise_std, n_rng)
    else:
        from .fast_backend import fast_envelope

        env = fast_envelope(maps, phys, noise_std, n_rng, tissue_index=tissue)
    return env, label, params, specimen


def to_bmode(env: np.ndarray, phys: Physics, reference: float | None = None) -> np.ndarray:
    """Envelope -> uint8 B-mode by the physics' image-formation version (`reference`: the
    envelope level of 0 dB after TGC; default the image's own, `median_db` above its median)."""
    if phys.image_formation == 1:
        return beamform.log_compress(env, phys, reference)
    return image_formation.bmode(env, phys, reference)


def make_sample(preset: str, seed: int, index: int, phys: Physics, backend: Backend = Backend.KWAVE,
                noise: NoiseLevel = NoiseLevel.LOW, *, noise_std: float | None = None,
                attenuation_scale: float = 1.0) -> Sample:
    """Sample `index` of (preset, seed). `noise_std` (relative RF noise) replaces the noise
    level's and `attenuation_scale` multiplies every tissue's attenuation (see `sample_envelope`)."""
    t0 = time.perf_counter()
    std = NOISE_STD[noise] if noise_std is None else float(noise_std)
    env, label, params, specimen = sample_envelope(preset, seed, index, phys, backend, std, attenuation_scale)
    image = to_bmode(env, phys)
    meta = {
        "index": int(index), "seed": int(seed), "preset": preset, "backend": backend.value,
        "noise_level": noise.value, "noise_std_rel": std, "image_formation": phys.image_formation,
        "physics": phys.to_json(), "phantom": params,
        **({"specimen": specimen} if specimen is not None else {}),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return Sample(image=image, label=label, meta=meta)
