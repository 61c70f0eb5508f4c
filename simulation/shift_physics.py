"""What the acquisition-shift conditions change in the image chain (see `sonobench.simulation.shifts`).

- `add_image_noise`: receiver noise defined against the *beamformed* image. Channel noise
  is averaged away by the coherent sum over 128 channels and three angles (0.3 of the echo
  RMS per channel left the image 0.95 correlated with its parent), so the noise is stated
  where it is seen: complex Gaussian noise with the system's resolution cell (its grain is
  the speckle's), added to the beamformed IQ before TGC at a stated SNR = median echo power
  of the beamformed image / noise power (the median: typical tissue, not the bright skin
  line and specular echoes that dominate a mean). Before TGC, as a receiver's noise: the TGC lifts it
  with depth, so deep tissue is noisier than shallow.
- `focus_delay_error_s` / `defocus_rows` (in `focus`, which the image formation itself uses): a
  sound-speed mismatch of the receive focusing.
  The beamformer computes its aperture delays (the curvature of the receive wavefront) with
  an assumed speed `receive_focus_c_mps` while the tissue has its own; the depth of each
  echo is still placed with the speed of the rest of the chain, so the image is defocused
  but not stretched and the label stays aligned. The k-Wave path adds the delay error to
  its delay-and-sum; the fast model applies the same error as a quadratic phase across the
  aperture, i.e. a chirp exp(i eps lambda z kx^2 / 4 pi) of the lateral spectrum.
- `fixed_gain_reference`: the scanner's gain does not follow the image: an attenuation
  shift is compressed with the parent image's own 0 dB reference, not its own median.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

from .focus import FOCUS_C_KEY, defocus_rows, focus_delay_error_s, focus_epsilon  # noqa: F401  (the shifts' API)
from .physics import Physics

# ------------------------------------------------------------------ noise

def resolution_sigmas_px(phys: Physics) -> tuple[float, float]:
    """(axial, lateral) Gaussian sigma of the system's resolution cell in output pixels, at
    mid-depth: the echo's envelope (`fast_backend.echo_sigma_z`) and the receive aperture's
    lateral PSF (`fast_backend.lateral_sigma_v2`)."""
    from .fast_backend import echo_sigma_z, lateral_sigma_v2

    dz_mm, dx_mm = phys.pixel_mm
    lateral = float(lateral_sigma_v2(phys, np.array([phys.depth_m / 2]))[0])
    return echo_sigma_z(phys) * 1e3 / dz_mm, lateral * 1e3 / dx_mm


def image_noise(shape: tuple[int, int], phys: Physics, rng: np.random.Generator) -> np.ndarray:
    """Complex Gaussian noise of unit mean power with the resolution cell's grain: for image
    formation 3 the probe's pulse (axially) and aperture with compounding (laterally) of the
    fast model (`fast_if3`), else Gaussians of `resolution_sigmas_px`."""
    w = rng.standard_normal((2, *shape))
    if phys.image_formation == 3:
        n = _if3_grain(w[0] + 1j * w[1], phys)
    else:
        sz, sx = resolution_sigmas_px(phys)
        n = gaussian_filter(w[0], (sz, sx), mode="wrap") + 1j * gaussian_filter(w[1], (sz, sx), mode="wrap")
    return n / math.sqrt(float(np.mean(np.abs(n) ** 2)))


def _if3_grain(white: np.ndarray, phys: Physics) -> np.ndarray:
    from scipy.signal import fftconvolve

    from .beamform import pixel_grid
    from .fast_if3 import lateral_if3, pulse_if3

    z, _ = pixel_grid(phys)
    dz, dx = (v * 1e-3 for v in phys.pixel_mm)
    d = np.arange(-8, 9) * dz
    baseband = pulse_if3(d, phys) * np.exp(-2j * (2 * math.pi * phys.f0_hz / phys.c_beamform) * d)
    return lateral_if3(fftconvolve(white, baseband[:, None], mode="same", axes=0), z, dx, phys)


def add_image_noise(env: np.ndarray, phys: Physics, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """|IQ + noise| from the envelope |IQ| (the noise is circular, so adding it to the
    envelope has the same law as adding it to the IQ), noise power = median(env^2) / 10^(snr/10)."""
    power = float(np.median(env.astype(np.float64) ** 2))
    return np.abs(env + math.sqrt(power / 10 ** (snr_db / 10)) * image_noise(env.shape, phys, rng))


# ------------------------------------------------------------------ receive focusing

def defocus_widening(phys: Physics, z_m: float) -> float:
    """Predicted -6 dB lateral widening of a Gaussian PSF at depth z by the focusing error:
    sqrt(1 + (eps lambda z / (2 pi sigma^2))^2), sigma the PSF's lateral sigma there."""
    from .fast_backend import lateral_sigma_v2

    sigma = float(lateral_sigma_v2(phys, np.array([z_m]))[0])
    return math.sqrt(1 + (focus_epsilon(phys) * phys.wavelength_m * z_m / (2 * math.pi * sigma ** 2)) ** 2)


# ------------------------------------------------------------------ attenuation and gain

def attenuation_profile(scale: float, from_mm: float, phys: Physics) -> np.ndarray | float:
    """Per-row factor (rows, 1) on every tissue's attenuation coefficient: `scale` from
    `from_mm` down, 1 above (the skin and the first millimetres keep their own); a plain
    `scale` when `from_mm` is 0."""
    if from_mm <= 0:
        return float(scale)
    z_mm = (np.arange(phys.rows) + 0.5) * phys.dx_m * 1e3
    return np.where(z_mm >= from_mm, float(scale), 1.0)[:, None]


def fixed_gain_reference(parent_env: np.ndarray, phys: Physics) -> float:
    """The 0 dB envelope level the parent image was compressed with (after TGC): the gain a
    scanner keeps when the tissue attenuates more."""
    from . import beamform, image_formation

    if phys.image_formation == 1:
        z, _ = beamform.pixel_grid(phys)
        tgc = parent_env * (10 ** (phys.tgc_db_per_cm * z * 100.0 / 20.0))[:, None]
    else:
        tgc = image_formation.apply_tgc(parent_env, phys)
    return float(np.median(tgc)) * 10 ** (-phys.median_db / 20)
