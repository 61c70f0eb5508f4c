"""Shared measurements for the image-formation-3 checks: -6 dB widths of a point target's
envelope, speckle autocorrelation widths, and the independent reference (pymust: it
simulates the probe's channel RF with its own model and beamforms it with its own DAS).

Coordinates: pymust puts x = 0 at the array centre and z = 0 at the array; ours measure x
from the field's left edge (the aperture centred on the field), so x_ours = x + width / 2.
"""
from __future__ import annotations

import numpy as np

from sonobench.simulation import image_formation3 as if3
from sonobench.simulation.physics import Physics, imaging_preset

TARGET_DEPTHS_M = (8e-3, 15e-3, 22e-3)
STEP_M = 0.02e-3            # local grid for the point-target widths
HALF_AX_M, HALF_LAT_M = 0.6e-3, 1.2e-3


def test_physics(angles=(-8.0, 0.0, 8.0)) -> Physics:
    """The 'if3-l7-4' system on a smaller field (64 of the 128 elements, 25 mm deep): the
    receive aperture at F 1.5 stays inside 64 elements down to 28 mm, so the PSF is the
    full probe's at these depths, for a third of the cost."""
    return imaging_preset("if3-l7-4").scaled(rows=276, cols=216, out_shape=(192, 144), angles_deg=tuple(angles),
                                             extra={"elements": 64})


def fwhm(profile: np.ndarray, step: float) -> float:
    """-6 dB (half-amplitude) width of a peaked profile, edges linearly interpolated."""
    p = profile / profile.max()
    i = int(np.argmax(p))
    lo = i
    while lo > 0 and p[lo - 1] >= 0.5:
        lo -= 1
    hi = i
    while hi < p.size - 1 and p[hi + 1] >= 0.5:
        hi += 1
    left = lo - (p[lo] - 0.5) / (p[lo] - p[lo - 1]) if lo > 0 else lo
    right = hi + (p[hi] - 0.5) / (p[hi] - p[hi + 1]) if hi < p.size - 1 else hi
    return float((right - left) * step)


def local_grid(z0: float, x0: float) -> tuple[np.ndarray, np.ndarray]:
    z = z0 + np.arange(-HALF_AX_M, HALF_AX_M + STEP_M / 2, STEP_M)
    x = x0 + np.arange(-HALF_LAT_M, HALF_LAT_M + STEP_M / 2, STEP_M)
    return z, x


def psf_widths(env: np.ndarray) -> tuple[float, float]:
    """(axial, lateral) -6 dB widths (m) through the envelope's peak on a `local_grid`."""
    i, j = np.unravel_index(int(np.argmax(env)), env.shape)
    return fwhm(env[:, j], STEP_M), fwhm(env[i, :], STEP_M)


def speckle_widths(env: np.ndarray, dz: float, dx: float) -> tuple[float, float]:
    """(axial, lateral) FWHM (m) of the envelope's autocovariance (mean removed, per row
    normalised to unit mean so the depth trend does not widen it)."""
    e = normalised(env)
    e = e - e.mean()
    f = np.fft.rfft2(e, s=(2 * e.shape[0], 2 * e.shape[1]))
    ac = np.fft.irfft2(np.abs(f) ** 2, s=(2 * e.shape[0], 2 * e.shape[1]))
    ax = np.concatenate([ac[-40:, 0], ac[:41, 0]])
    lat = np.concatenate([ac[0, -40:], ac[0, :41]])
    return fwhm(ax, dz), fwhm(lat, dx)


# ------------------------------------------------------------------ pymust

def pymust_param(phys: Physics):
    import pymust

    probe = if3.probe_of(phys)
    param = pymust.getparam("L11-5v")  # a linear array; every field that matters is set below
    param.fc = probe.f0_hz
    param.pitch = probe.pitch_m
    param.kerf = probe.kerf_m
    param.width = probe.element_width_m
    param.Nelements = int(phys.extra.get("elements") or probe.n_elements)
    param.bandwidth = 100 * probe.bandwidth          # pymust's is the pulse-echo bandwidth, as ours
    param.focus = probe.elevation_focus_m
    param.height = probe.elevation_height_m
    param.c = phys.c_beamform
    param.fnumber = phys.f_number
    return param


def pymust_compound_iq(xs, zs, rc, phys: Physics, z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """pymust: simulate (simus, 2-D) every angle of `phys`, demodulate (rf2iq), beamform
    (dasmtx on the grid z x x, pymust's coordinates) and compound coherently."""
    import pymust

    param = pymust_param(phys)
    options = pymust.utils.Options()
    options.ParPool = False
    X, Z = np.meshgrid(x, z)
    total = 0
    for angle in phys.angles_deg:
        delays = pymust.txdelay(param, np.deg2rad(angle))
        rf = pymust.simus(np.asarray(xs, float), np.asarray(zs, float), np.asarray(rc, float), delays, param,
                          options)[0]
        iq = pymust.rf2iq(rf, param)
        m = pymust.dasmtx(iq, X, Z, delays, param)
        total = total + (m @ iq.flatten(order="F")).reshape(X.shape, order="F")
    return total


# ------------------------------------------------------------------ ours (k-Wave)

def homogeneous_maps(phys: Physics, fluct: np.ndarray) -> dict:
    shape = (phys.rows, phys.cols)
    return {"sound_speed": np.full(shape, 1540.0) * (1 + fluct), "density": np.full(shape, 1000.0) * (1 + fluct),
            "alpha_coeff": np.zeros(shape)}


def kwave_maps(phys: Physics, scatterers) -> dict:
    """Homogeneous k-Wave maps: `scatterers` as `if3.scatterer_positions` gives them (rendered at
    their continuous positions on the k-Wave path's finer grid), or a phantom-grid fluctuation map."""
    if isinstance(scatterers, tuple):
        rows = phys.rows * if3.AXIAL_REFINE
        fluct = if3.render_scatterers(scatterers, (rows, phys.cols), if3.AXIAL_REFINE)
        return {"sound_speed": 1540.0 * (1 + fluct), "density": 1000.0 * (1 + fluct),
                "alpha_coeff": np.zeros((rows, phys.cols))}
    return homogeneous_maps(phys, scatterers)


def kwave_compound_iq(phys: Physics, scatterers, grids) -> list[np.ndarray]:
    """Our k-Wave path (batched angles, probe elements, receive filter, IQ DAS) on each grid;
    `scatterers` as `kwave_maps` takes them."""
    rf, t_peak = if3.channel_rf(phys, kwave_maps(phys, scatterers))
    iq = if3.receive_iq(rf, phys, t_peak, 0.0, np.random.default_rng(0))
    return [if3.compound_iq(iq, phys, t_peak, grid) for grid in grids]


# ------------------------------------------------------------------ speckle

SPECKLE_DZ, SPECKLE_DX = 0.033e-3, 0.066e-3
SPECKLE_HALF_DEPTH, SPECKLE_HALF_WIDTH = 2.0e-3, 5.0e-3


def speckle_grid(z0: float) -> tuple[np.ndarray, np.ndarray]:
    """A window of pymust coordinates (x = 0 at the array centre) centred at depth z0."""
    z = z0 + np.arange(-SPECKLE_HALF_DEPTH, SPECKLE_HALF_DEPTH, SPECKLE_DZ)
    x = np.arange(-SPECKLE_HALF_WIDTH, SPECKLE_HALF_WIDTH, SPECKLE_DX)
    return z, x


def pymust_scatterers(per_mm2: float, rng: np.random.Generator):
    """Uniform random scatterers (Gaussian reflection coefficients) in bands 1 mm deeper and
    wider than each speckle window (pymust's cost grows with the scatterer count)."""
    xs, zs = [], []
    for z0 in TARGET_DEPTHS_M:
        hz, hx = SPECKLE_HALF_DEPTH + 1e-3, SPECKLE_HALF_WIDTH + 1e-3
        n = int(per_mm2 * (2 * hz * 1e3) * (2 * hx * 1e3))
        xs.append(rng.uniform(-hx, hx, n))
        zs.append(rng.uniform(z0 - hz, z0 + hz, n))
    xs, zs = np.concatenate(xs), np.concatenate(zs)
    return xs, zs, rng.standard_normal(xs.size)


def normalised(env: np.ndarray) -> np.ndarray:
    """Envelope divided by its row and column means (the depth and lateral trends of the
    insonification), for speckle statistics."""
    e = env / env.mean(axis=1, keepdims=True)
    return e / e.mean(axis=0, keepdims=True)
