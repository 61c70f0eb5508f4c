"""Channel RF -> B-mode: delay-and-sum, envelope, log compression (image formation 1).

The delay-and-sum matrix is shared with image formation 2 (`image_formation.py`),
which beamforms real RF on a finer grid instead.

The envelope is formed before summation: each channel is made analytic (Hilbert
transform along time), and the analytic samples are delayed, apodised and summed.
Hilbert filtering and delaying commute, so |sum| is the envelope of the
beamformed RF, and the output pixel grid may be coarser than the RF's
wavelength-scale oscillation without aliasing.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import hilbert

from .physics import Physics

RAYLEIGH_MEAN_OVER_STD = math.sqrt(math.pi / 2) / math.sqrt(2 - math.pi / 2)  # 1.913


def pixel_grid(phys: Physics) -> tuple[np.ndarray, np.ndarray]:
    """Depth and lateral pixel centres (m), measured from the array's first element edge."""
    rows, cols = phys.out_shape
    z = (np.arange(rows) + 0.5) * phys.depth_m / rows
    x = (np.arange(cols) + 0.5) * phys.width_m / cols
    return z, x


def element_x(phys: Physics) -> np.ndarray:
    return (np.arange(phys.cols) + 0.5) * phys.dx_m


def gate_transmit(rf: np.ndarray, phys: Physics, t_peak: float) -> np.ndarray:
    """Blank the transmit burst the array records on itself (raised-cosine edge)."""
    n0 = int(round((2 * t_peak + 0.5 / phys.f0_hz) / phys.dt_s))
    ramp = max(4, int(round(1.0 / phys.f0_hz / phys.dt_s)))
    w = np.ones(rf.shape[1], dtype=np.float32)
    w[:n0] = 0.0
    w[n0:n0 + ramp] = 0.5 - 0.5 * np.cos(np.pi * np.arange(min(ramp, rf.shape[1] - n0)) / ramp)
    return rf * w


_DAS_CACHE: dict = {}


def das_matrix(phys: Physics, t_peak: float, angle_deg: float, n_t: int, grid=None, block_rows: int | None = None):
    """Delay-and-sum as a sparse matrix: pixels x (element, time sample).

    `grid` = (z, x) pixel centres in m (default: the output pixel grid, `pixel_grid`).
    `block_rows`: build that many depth rows at a time and stack them (the same matrix,
    row by row, with a fraction of the build's peak memory).

    Row p holds, for every element inside pixel p's receive aperture, the two
    linear-interpolation weights at the round-trip delay, times the element's
    apodisation, normalised by the pixel's total apodisation. The geometry is
    the same for every frame of a dataset, so the matrix is built once per
    (physics, angle) and each frame is one sparse mat-vec."""
    import json

    z, x = grid if grid is not None else pixel_grid(phys)
    key = (json.dumps(phys.to_json(), sort_keys=True), float(t_peak), float(angle_deg), int(n_t),
           z.tobytes(), x.tobytes())
    if key not in _DAS_CACHE:
        if len(_DAS_CACHE) >= 8:  # one entry per steering angle of the current physics
            _DAS_CACHE.pop(next(iter(_DAS_CACHE)))
        if block_rows is None:
            _DAS_CACHE[key] = _build_das_matrix(phys, t_peak, angle_deg, n_t, z, x)
        else:
            from scipy import sparse

            _DAS_CACHE[key] = sparse.vstack([_build_das_matrix(phys, t_peak, angle_deg, n_t, z[i:i + block_rows], x)
                                             for i in range(0, z.size, block_rows)], format="csr")
    return _DAS_CACHE[key]


def _build_das_matrix(phys: Physics, t_peak: float, angle_deg: float, n_t: int, z: np.ndarray, x: np.ndarray,
                      chunk: int = 32):
    from scipy import sparse

    Z, X = np.meshgrid(z, x, indexing="ij")
    xe = element_x(phys)
    c, th = phys.c_beamform, math.radians(angle_deg)
    t_tx = (X * math.sin(th) + Z * math.cos(th)) / c - (xe * math.sin(th) / c).min()
    half_aperture = Z / (2 * phys.f_number)
    pix = np.arange(Z.size).reshape(Z.shape)
    rows, cols, vals = [], [], []
    weight = np.zeros(Z.shape, dtype=np.float64)
    for start in range(0, xe.size, chunk):
        e = np.arange(start, min(start + chunk, xe.size))
        dxe = X[None] - xe[e, None, None]
        idx = ((t_tx[None] + np.hypot(Z[None], dxe) / c + t_peak) / phys.dt_s).astype(np.float32)
        apod = np.cos(np.clip(np.pi * dxe / (2 * half_aperture[None]), -np.pi / 2, np.pi / 2)) ** 2
        weight += apod.sum(axis=0)
        i0 = np.clip(np.floor(idx).astype(np.int64), 0, n_t - 2)
        frac = np.clip(idx - i0, 0.0, 1.0)
        keep = (apod > 0) & (idx < n_t - 1)
        base = (e[:, None, None] * n_t + i0)[keep].astype(np.int32)
        p = np.broadcast_to(pix, idx.shape)[keep].astype(np.int32)
        a, f = apod[keep].astype(np.float32), frac[keep]
        rows += [p, p]
        cols += [base, base + 1]
        vals += [a * (1 - f), a * f]
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    vals /= np.maximum(weight.ravel(), 1e-6).astype(np.float32)[rows]
    return sparse.csr_matrix((vals, (rows, cols)), shape=(Z.size, xe.size * n_t))


def das(rf: np.ndarray, phys: Physics, t_peak: float, angle_deg: float = 0.0) -> np.ndarray:
    """Plane-wave delay-and-sum of analytic channel data onto the pixel grid (complex).
    Image formation 1 (see `image_formation` for 2)."""
    analytic = hilbert(rf.astype(np.float64), axis=1).astype(np.complex64)
    matrix = das_matrix(phys, t_peak, angle_deg, analytic.shape[1])
    flat = analytic.ravel()
    out = matrix @ flat.real + 1j * (matrix @ flat.imag)
    return out.reshape(phys.out_shape).astype(np.complex64)


def envelope(rf: np.ndarray, phys: Physics, t_peak: float, angle_deg: float = 0.0) -> np.ndarray:
    return np.abs(das(gate_transmit(rf, phys, t_peak), phys, t_peak, angle_deg))


def log_compress(env: np.ndarray, phys: Physics, reference: float | None = None) -> np.ndarray:
    """Partial TGC, then 20*log10 with [-DR, 0] dB mapped to [0, 255] (uint8).

    The reference is the median of the TGC'd envelope, placed `median_db` below
    0 dB: a scanner's fixed gain, insensitive to a bright skin line or to how much
    of the field a dark lesion covers."""
    z, _ = pixel_grid(phys)
    gain = 10 ** (phys.tgc_db_per_cm * (z * 100.0) / 20.0)
    return compress_db(env * gain[:, None], phys, reference)


def compress_db(e: np.ndarray, phys: Physics, reference: float | None = None) -> np.ndarray:
    """20*log10 of a gain-compensated envelope, [-DR, 0] dB -> [0, 255] (uint8); the
    reference (0 dB) defaults to `median_db` above the image's median."""
    ref = reference if reference is not None else float(np.median(e)) * 10 ** (-phys.median_db / 20)
    db = 20 * np.log10(np.maximum(e, 1e-12) / max(ref, 1e-12))
    return np.clip(np.round((db + phys.dynamic_range_db) / phys.dynamic_range_db * 255), 0, 255).astype(np.uint8)
