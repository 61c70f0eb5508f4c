"""Fast backend: a convolution image model on the same phantoms and output format.

    IQ(z, x) = [ (A * r) (*)_z h_axial ] (*)_x g_sigma(z)

- r: reflectivity, the depth derivative of the acoustic impedance Z = rho*c
  (scatterers and specular interfaces alike, from the same acoustic maps);
- A: two-way attenuation exp(-2 int alpha dz) at f0 (posterior shadowing and
  enhancement follow from the lesion's attenuation) and 2-D spreading 1/sqrt(z);
- h_axial: complex (analytic) two-way pulse, Gaussian envelope of the transmit burst;
- g_sigma(z): lateral Gaussian whose width follows the receive aperture
  (F-number, limited by the array width at depth).

No wave propagation: no refraction, reverberation, diffraction edge waves or
multiple scattering, so interfaces are cleaner and shadows sharper than k-Wave's.
Roughly a thousand times cheaper.

Image formation 2 (`_fast_envelope_v2`) builds the IQ on the fine grid of
`image_formation`, with the beamformer's PSF (axial: the burst's envelope; lateral:
the Hann aperture's 2.00 lambda F), band-limited noise and physical 2-D spreading, and
resamples the envelope like the k-Wave path; version 1 interpolated the envelope.
Version 2 also places each grid point's scatterer at a random depth inside its cell:
on the 0.15 mm lattice the two-way phase advances 2 k dx = 3.67 rad (pi + 0.53) per row
and only ~2.6 rows fall in the axial resolution cell, so neighbouring rows add nearly in
antiphase, the echo is nearly real rather than circular, and the envelope's mean/std
drops to ~1.6 (fully developed speckle: 1.91).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates
from scipy.signal import fftconvolve

from . import image_formation
from .beamform import pixel_grid
from .focus import defocus_rows
from .physics import Physics

NP_PER_DB = 1 / (20 * math.log10(math.e))
# Image formation 3's receiver noise is a fixed floor (see image_formation3.NOISE_REF_PA): the noise
# RMS at noise_std = 1 that puts its median envelope 24 dB below this model's soft-tissue speckle
# at 15 mm before TGC (median envelope 7.0e-4 in breast gland and neck tissue).
FAST_NOISE_REF = 7.0e-4 * 10 ** (-24 / 20) / 0.8326  # median of a Rayleigh envelope = 0.8326 x its RMS


def reflectivity(maps: dict, axis: int = 0) -> np.ndarray:
    z = np.asarray(maps["density"], dtype=np.float64) * np.asarray(maps["sound_speed"], dtype=np.float64)
    r = np.zeros_like(z)
    r[1:] = np.diff(z, axis=axis) / (z[1:] + z[:-1])
    return r


def two_way_attenuation(maps: dict, phys: Physics) -> np.ndarray:
    alpha_db_cm = np.asarray(maps["alpha_coeff"], dtype=np.float64) * (phys.f0_hz / 1e6) ** phys.alpha_power
    alpha_np_m = alpha_db_cm * 100 * NP_PER_DB
    return np.exp(-2 * np.cumsum(alpha_np_m, axis=0) * phys.dx_m)


def axial_pulse(phys: Physics) -> np.ndarray:
    """Complex two-way pulse along depth, sampled at the grid step."""
    sigma_z = phys.c_beamform * phys.pulse_sigma_s * math.sqrt(2) / 2  # burst convolved with itself, two-way path
    half = int(math.ceil(4 * sigma_z / phys.dx_m))
    z = np.arange(-half, half + 1) * phys.dx_m
    k = 2 * math.pi * phys.f0_hz / phys.c_beamform
    return np.exp(-0.5 * (z / sigma_z) ** 2) * np.exp(2j * k * z)


def lateral_sigma_px(phys: Physics, z_m: np.ndarray) -> np.ndarray:
    lam = phys.c_beamform / phys.f0_hz
    f_eff = np.maximum(phys.f_number, z_m / phys.width_m)
    return 1.2 * lam * f_eff / 2.3548 / phys.dx_m


def fast_envelope(maps: dict, phys: Physics, noise_std: float, rng: np.random.Generator,
                  tissue_index: np.ndarray | None = None) -> np.ndarray:
    """Envelope on the output pixel grid, like the k-Wave backend's, by image-formation version
    (version 2 uses `tissue_index` to tell interfaces from scatterers)."""
    if phys.image_formation == 1:
        return _fast_envelope_v1(maps, phys, noise_std, rng)
    return _fast_envelope_v2(maps, phys, noise_std, rng, tissue_index)


def _fast_envelope_v1(maps: dict, phys: Physics, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """Image formation 1: the envelope on the simulation grid, linearly interpolated."""
    rows = np.asarray(maps["density"]).shape[0]
    z = (np.arange(rows) + 0.5) * phys.dx_m
    src = reflectivity(maps) * two_way_attenuation(maps, phys) / np.sqrt(z / phys.depth_m + 0.05)[:, None]
    iq = fftconvolve(src, axial_pulse(phys)[:, None], mode="same", axes=0)
    sig = lateral_sigma_px(phys, z)
    iq = np.stack([gaussian_filter1d(iq[i].real, sig[i]) + 1j * gaussian_filter1d(iq[i].imag, sig[i])
                   for i in range(rows)])
    if noise_std > 0:
        scale = noise_std * float(np.sqrt(np.mean(np.abs(iq) ** 2))) / 3.0
        iq = iq + scale * (rng.standard_normal(iq.shape) + 1j * rng.standard_normal(iq.shape)) / math.sqrt(2)
    env = np.abs(iq)
    zp, xp = pixel_grid(phys)
    coords = np.meshgrid(zp / phys.dx_m - 0.5, xp / phys.dx_m - 0.5, indexing="ij")
    return map_coordinates(env, coords, order=1, mode="nearest")


# ------------------------------------------------------------------ image formation 2

def echo_sigma_z(phys: Physics) -> float:
    """Depth sigma of the echo's Gaussian envelope: the burst's (ideal receiver) up to image
    formation 2; image formation 3 filters on receive with the probe's band too (sqrt 2 longer)."""
    return phys.c_beamform * phys.pulse_sigma_s / 2 * (math.sqrt(2) if phys.image_formation == 3 else 1.0)


def axial_psf_matrix(phys: Physics, z_src: np.ndarray, z_out: np.ndarray) -> np.ndarray:
    """IQ on the fine depth grid from reflectivity on the simulation rows: the two-way
    pulse evaluated at the exact distances (no envelope interpolation). Its envelope is the
    burst's (sigma_z = c * sigma_t / 2): k-Wave's receiver is ideal, as here."""
    sigma_z = echo_sigma_z(phys)
    k = 2 * math.pi * phys.f0_hz / phys.c_beamform
    d = z_out[:, None] - z_src[None, :]
    if phys.image_formation == 3:
        from .fast_if3 import pulse_if3

        return pulse_if3(d, phys)
    return np.where(np.abs(d) < 5 * sigma_z, np.exp(-0.5 * (d / sigma_z) ** 2) * np.exp(2j * k * d), 0)


def lateral_sigma_v2(phys: Physics, z_m: np.ndarray) -> np.ndarray:
    """Lateral PSF sigma (m) of the DAS beamformer: -6 dB width 2.00 lambda F_eff for the
    Hann receive aperture, F_eff = max(F, z / array width), as a Gaussian."""
    f_eff = np.maximum(phys.f_number, z_m / phys.width_m)
    return image_formation.HANN_FWHM_FACTOR * phys.wavelength_m * f_eff / 2.3548


def _lateral(iq: np.ndarray, sigma_px: np.ndarray) -> np.ndarray:
    return np.stack([gaussian_filter1d(iq[i].real, sigma_px[i]) + 1j * gaussian_filter1d(iq[i].imag, sigma_px[i])
                     for i in range(iq.shape[0])])


def _pulse_of(phys: Physics, d: np.ndarray, sigma_z: float, k: float) -> np.ndarray:
    """Image formation 3: the probe's pulse (`fast_if3.pulse_if3`); earlier: the Gaussian `_pulse`."""
    if phys.image_formation == 3:
        from .fast_if3 import pulse_if3

        return pulse_if3(d, phys)
    return _pulse(d, sigma_z, k)


def _pulse(d: np.ndarray, sigma_z: float, k: float) -> np.ndarray:
    return np.exp(-0.5 * (d / sigma_z) ** 2) * np.exp(2j * k * d)


def split_reflectivity(maps: dict, tissue_index: np.ndarray | None):
    """(interface reflectivity, scatterer strength): the depth derivative of each tissue's
    mean impedance (specular, coherent) and each grid point's impedance fluctuation about
    it (eps / 2, the amplitude of the +-pair the derivative of a point fluctuation gives)."""
    z = np.asarray(maps["density"], dtype=np.float64) * np.asarray(maps["sound_speed"], dtype=np.float64)
    if "impedance_base" in maps:  # anatomy 2: the area-weighted impedance without scatterers
        mean = np.asarray(maps["impedance_base"], dtype=np.float64)
    elif tissue_index is None:
        return reflectivity(maps), np.zeros_like(z)
    else:
        idx = np.asarray(tissue_index).ravel()
        mean = (np.bincount(idx, weights=z.ravel()) / np.maximum(np.bincount(idx), 1))[idx].reshape(z.shape)
    r = np.zeros_like(z)
    r[1:] = np.diff(mean, axis=0) / (mean[1:] + mean[:-1])
    return r, (z / mean - 1.0) / 2


def jittered_scatter_iq(strength: np.ndarray, offset_m: np.ndarray, z_src: np.ndarray, zf: np.ndarray,
                        phys: Physics) -> np.ndarray:
    """IQ on the fine depth grid of point fluctuations placed at z_src + offset (inside their
    grid cell): each one's +-pair, one grid step apart, as the lattice derivative gives it.
    Off the lattice, the echoes of the scatterers in one resolution cell take all phases, so
    the speckle is fully developed (on the lattice: mean/std 1.61 instead of 1.91)."""
    sigma_z = echo_sigma_z(phys)
    k = 2 * math.pi * phys.f0_hz / phys.c_beamform
    reach = 5 * sigma_z + 2 * phys.dx_m
    iq = np.zeros((zf.size, strength.shape[1]), dtype=np.complex128)
    for i in np.flatnonzero(np.any(strength != 0, axis=1)):
        j0, j1 = np.searchsorted(zf, z_src[i] - reach), np.searchsorted(zf, z_src[i] + reach)
        d = zf[j0:j1, None] - (z_src[i] + offset_m[i])[None, :]
        iq[j0:j1] += strength[i] * (_pulse_of(phys, d, sigma_z, k) - _pulse_of(phys, d - phys.dx_m, sigma_z, k))
    return iq


def _lateral_by_version(iq: np.ndarray, zf: np.ndarray, sigma_px: np.ndarray, phys: Physics) -> np.ndarray:
    """Image formation 3: the probe's rectangular aperture and compounding (`fast_if3`, a
    focusing error included); 2: the Hann aperture's Gaussian (and a shift's focusing error)."""
    if phys.image_formation == 3:
        from .fast_if3 import lateral_if3

        return lateral_if3(iq, zf, phys.dx_m, phys)
    return defocus_rows(_lateral(iq, sigma_px), zf, phys.dx_m, phys)


def _fast_envelope_v2(maps: dict, phys: Physics, noise_std: float, rng: np.random.Generator,
                      tissue_index: np.ndarray | None = None) -> np.ndarray:
    """Image formation 2: IQ built on the fine grid of `image_formation.fine_grid` (specular
    interfaces on the grid, scatterers jittered inside their cells), band-limited noise,
    envelope there, then the same anti-aliased resampling as the k-Wave path."""
    rows, cols = np.asarray(maps["density"]).shape
    z_src = (np.arange(rows) + 0.5) * phys.dx_m
    spread = 1 / np.sqrt(np.maximum(z_src, image_formation.SPREADING_MIN_Z_M) / phys.depth_m)  # 2-D, r^-1/2
    gain = two_way_attenuation(maps, phys) * spread[:, None]
    interfaces, scatter = split_reflectivity(maps, tissue_index)
    zf, xf = image_formation.fine_grid(phys)
    h = axial_psf_matrix(phys, z_src, zf)
    offsets = rng.uniform(-0.5, 0.5, (rows, cols)) * phys.dx_m
    iq = h @ (interfaces * gain) + jittered_scatter_iq(scatter * gain, offsets, z_src, zf, phys)
    sigma_px = lateral_sigma_v2(phys, zf) / phys.dx_m
    iq = _lateral_by_version(iq, zf, sigma_px, phys)  # fine rows x simulation columns
    if noise_std > 0:
        # Receiver noise after beamforming: white complex noise through the same axial and
        # lateral PSF, so it has the speckle's grain (no streaks); RMS as in image formation 1.
        w = (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols))) / math.sqrt(2)
        n = _lateral_by_version(h @ w, zf, sigma_px, phys)
        level = FAST_NOISE_REF if phys.image_formation >= 3 else float(np.sqrt(np.mean(np.abs(iq) ** 2))) / 3.0
        n *= noise_std * level / float(np.sqrt(np.mean(np.abs(n) ** 2)))
        iq = iq + n
    # complex IQ, well sampled laterally (sigma >= 2 columns), onto the fine lateral grid (cubic)
    cx = np.broadcast_to(xf / phys.dx_m - 0.5, (zf.size, xf.size))
    cz = np.broadcast_to(np.arange(zf.size)[:, None], cx.shape)
    iq = (map_coordinates(iq.real, [cz, cx], order=3, mode="nearest")
          + 1j * map_coordinates(iq.imag, [cz, cx], order=3, mode="nearest"))
    return image_formation.resample_to_pixels(np.abs(iq), phys)
