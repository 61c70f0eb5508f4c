"""Image formation 2: channel RF -> B-mode, with every step on a grid that resolves it.

    channel RF (+ receiver noise through the receive band-pass)
      -> delay-and-sum of the real RF onto a fine grid
         (axial step <= lambda/8, i.e. >= 4 samples per period of the two-way RF;
          lateral step <= lambda/2)
      -> envelope: |analytic signal| along depth (Hilbert transform), on the fine grid
      -> anti-aliased resampling of the envelope to the task's pixel grid
         (Kaiser-windowed low-pass FIR at the output Nyquist, then decimation)
      -> TGC: G(z) = 2 * tgc_alpha * f0[MHz]^y * z[cm] dB (+ 10 log10 z for 2-D spreading)
      -> log compression, [-DR, 0] dB -> [0, 255]

The envelope, not the log image, is resampled: it is the band-limited quantity (its
bandwidth follows the pulse), while the log image has sharp dips at the speckle's
near-zeros that a low-pass filter would smear; filtering in the linear domain also keeps
the mean intensity (the TGC test and the speckle statistics are measured on it).
The fine grid has an odd integer number of samples per output pixel, centred on it,
so the resampling is a filter plus a decimation with no interpolation.

Image formation 1 (`beamform.das` / `beamform.log_compress`) stays for
sim-breast-lesion@1: there the analytic channel data were summed straight onto the
output grid, with white (full-bandwidth) channel noise, which the beamformer turned into
horizontal streaks.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft
from scipy.ndimage import convolve1d
from scipy.signal import firwin, hilbert

from . import beamform
from .physics import Physics

AXIAL_SAMPLES_PER_WAVELENGTH = 8   # per lambda of depth = 4 per period of the two-way RF (lambda/2)
LATERAL_SAMPLES_PER_WAVELENGTH = 2
HANN_FWHM_FACTOR = 2.00   # -6 dB main-lobe width of a Hann window's transform, in lambda*z/D (Harris 1978, table 1)
DAS_BLOCK_ROWS = 128        # the DAS matrix is built 128 fine rows at a time (peak memory)
SPREADING_MIN_Z_M = 1.0e-3  # the 2-D spreading term of the TGC stops growing shallower than this


def _odd_ceil(ratio: float) -> int:
    k = max(1, math.ceil(ratio - 1e-9))
    return k if k % 2 else k + 1


def fine_factors(phys: Physics) -> tuple[int, int]:
    """Fine samples per output pixel (axial, lateral): odd, so fine samples centre on pixels."""
    rows, cols = phys.out_shape
    lam = phys.wavelength_m
    kz = _odd_ceil((phys.depth_m / rows) / (lam / AXIAL_SAMPLES_PER_WAVELENGTH))
    kx = _odd_ceil((phys.width_m / cols) / (lam / LATERAL_SAMPLES_PER_WAVELENGTH))
    return kz, kx


def fine_grid(phys: Physics) -> tuple[np.ndarray, np.ndarray]:
    """Depth and lateral centres (m) of the beamforming grid."""
    kz, kx = fine_factors(phys)
    nz, nx = phys.out_shape[0] * kz, phys.out_shape[1] * kx
    return (np.arange(nz) + 0.5) * phys.depth_m / nz, (np.arange(nx) + 0.5) * phys.width_m / nx


def pulse_spectrum(phys: Physics, freqs_hz: np.ndarray) -> np.ndarray:
    """Amplitude spectrum of the transmit burst (Gaussian envelope of sigma `pulse_sigma_s`)."""
    sigma_f = 1.0 / (2 * math.pi * phys.pulse_sigma_s)
    return np.exp(-0.5 * ((freqs_hz - phys.f0_hz) / sigma_f) ** 2)


def receiver_noise(shape: tuple[int, int], phys: Physics, rng: np.random.Generator) -> np.ndarray:
    """Channel noise through the receiver's band-pass: unit-variance white Gaussian noise per
    channel (image formation 1's noise), filtered along time with the transmit pulse's
    spectrum at unit gain at f0 (a matched receive filter). The in-band noise is version 1's;
    the out-of-band part, which beamformed into horizontal streaks, is gone. Its RMS is
    sqrt(sqrt(pi) sigma_f / (fs / 2)), 0.27 for the default physics."""
    white = rng.standard_normal(shape)
    f = sfft.rfftfreq(shape[1], phys.dt_s)
    return sfft.irfft(sfft.rfft(white, axis=1) * pulse_spectrum(phys, f)[None], n=shape[1], axis=1)


def add_noise(rf: np.ndarray, phys: Physics, noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """Channel RF plus receiver noise: white noise of `noise_std` times the RMS of the (gated)
    echoes, as in version 1, through the receive band-pass (`receiver_noise`)."""
    if noise_std <= 0:
        return rf
    rms = float(np.sqrt(np.mean(rf.astype(np.float64) ** 2)))
    return rf + (noise_std * rms * receiver_noise(rf.shape, phys, rng)).astype(np.float32)


def das_rf(rf: np.ndarray, phys: Physics, t_peak: float, angle_deg: float = 0.0) -> np.ndarray:
    """Delay-and-sum of real channel RF onto the fine grid (depth x lateral), same
    dynamic F-number Hann receive aperture as image formation 1."""
    z, x = fine_grid(phys)
    matrix = beamform.das_matrix(phys, t_peak, angle_deg, rf.shape[1], grid=(z, x), block_rows=DAS_BLOCK_ROWS)
    return (matrix @ np.ascontiguousarray(rf, dtype=np.float32).ravel()).reshape(z.size, x.size)


def envelope_fine(rf_image: np.ndarray) -> np.ndarray:
    """|analytic signal| along depth; zero-padded to twice the depth so the FFT's
    wrap-around does not fold the bottom of the image onto the top."""
    n = rf_image.shape[0]
    return np.abs(hilbert(rf_image.astype(np.float64), N=sfft.next_fast_len(2 * n), axis=0)[:n])


def _decimation_filter(k: int) -> np.ndarray:
    # Cut-off a little below the output Nyquist; 10 taps per output sample, Kaiser beta 7
    # (stop-band ~ -70 dB): the resolution-cell spectrum passes, the aliasing tail does not.
    return firwin(10 * k + 1, 0.9 / k, window=("kaiser", 7.0))


def resample_to_pixels(env_fine: np.ndarray, phys: Physics, factors: tuple[int, int] | None = None) -> np.ndarray:
    """Anti-aliased decimation of the fine envelope to `out_shape` (the fine samples at
    the pixel centres, after the low-pass); `factors` = fine samples per pixel (default
    `fine_factors`)."""
    kz, kx = factors or fine_factors(phys)
    out = env_fine
    for axis, k in ((0, kz), (1, kx)):
        if k > 1:
            out = convolve1d(out, _decimation_filter(k), axis=axis, mode="reflect")
            out = np.take(out, np.arange(k // 2, out.shape[axis], k), axis=axis)
    return np.maximum(out, 0.0)


def envelope(rf: np.ndarray, phys: Physics, t_peak: float, angle_deg: float = 0.0) -> np.ndarray:
    """Gated channel RF of one transmit -> envelope on the output pixel grid."""
    return resample_to_pixels(envelope_fine(das_rf(beamform.gate_transmit(rf, phys, t_peak), phys, t_peak, angle_deg)),
                              phys)


def tgc_gain_db(z_m: np.ndarray, phys: Physics) -> np.ndarray:
    """Time-gain compensation at depth z (dB):

        G(z) = 2 * tgc_alpha * (f0 / 1 MHz)^y * z[cm]   (two-way attenuation at f0)
             + 10 * log10(max(z, 1 mm) / depth)         (2-D spreading, if tgc_spreading)

    The spreading term: a 2-D echo falls as r^-1/2 in amplitude and, with a constant
    F-number, the resolution cell's width stays constant, so speckle intensity falls as 1/z."""
    z_m = np.asarray(z_m, dtype=np.float64)
    gain = 2.0 * phys.tgc_alpha * (phys.f0_hz / 1e6) ** phys.alpha_power * (z_m * 100.0)
    if phys.tgc_spreading:
        gain = gain + 10.0 * np.log10(np.maximum(z_m, SPREADING_MIN_Z_M) / phys.depth_m)
    return gain


def apply_tgc(env: np.ndarray, phys: Physics) -> np.ndarray:
    z, _ = beamform.pixel_grid(phys)
    return env * (10 ** (tgc_gain_db(z, phys) / 20.0))[:, None]


def bmode(env: np.ndarray, phys: Physics, reference: float | None = None) -> np.ndarray:
    """Envelope on the pixel grid -> TGC -> log compression (uint8)."""
    return beamform.compress_db(apply_tgc(env, phys), phys, reference)
