"""The fast model's lateral point-spread function for image formation 3 (a probe, a
rectangular dynamic receive aperture, coherently compounded plane waves).

Image formation 2's fast model blurs each row with a Gaussian of the Hann aperture's width;
for image formation 3 that was ~1.8x too wide a point target and ~2.5x too coarse a
lateral speckle against k-Wave and pymust (0.9 vs 0.5 mm at 15 mm), and a Gaussian cannot
have both the point target's -6 dB width and the speckle's (their ratio is 1 for a Gaussian,
~0.75-0.85 for the rectangular aperture measured in both simulators). Here the lateral
spectrum of each row is what the beamformer passes, at f0:

    H(kx; z) = 1/N sum over the N angles theta of  1{ |kx - k sin theta| <= k sin phi(z) }

the receive aperture seen from depth z spanning directions |phi| <= atan(1 / 2 F_eff(z))
(F_eff = max(F, z / aperture)) and each transmit angle shifting it by k sin theta (a plane
wave steered by theta adds exp(i k x sin theta) to the two-way phase). A receive-focusing
error (`shift_physics.focus_epsilon`) multiplies each angle's term by the quadratic phase of
its aperture position, exp(i eps lambda z kr^2 / 4 pi), kr = kx - k sin theta.
"""
from __future__ import annotations

import math

import numpy as np

from .focus import focus_epsilon
from .physics import Physics


def aperture_width_m(phys: Physics) -> float:
    from .probes import get_probe

    probe = get_probe(phys.probe)
    return (phys.extra.get("elements") or probe.n_elements) * probe.pitch_m


def lateral_transfer(phys: Physics, z_m: np.ndarray, kx: np.ndarray) -> np.ndarray:
    """(z, kx) complex lateral transfer function of the compounded, beamformed IQ."""
    k = 2 * math.pi / phys.wavelength_m
    f_eff = np.maximum(phys.f_number, z_m / aperture_width_m(phys))
    s_r = np.sin(np.arctan(1 / (2 * f_eff)))[:, None]
    eps = focus_epsilon(phys)
    h = np.zeros((z_m.size, kx.size), dtype=np.complex128)
    for theta in phys.angles_deg:
        kr = kx[None, :] - k * math.sin(math.radians(theta))
        term = (np.abs(kr) <= k * s_r).astype(np.complex128)
        if eps:
            term *= np.exp(1j * eps * phys.wavelength_m * z_m[:, None] * kr ** 2 / (4 * math.pi))
        h += term
    return h / len(phys.angles_deg)


def lateral_if3(iq: np.ndarray, z_m: np.ndarray, dx_m: float, phys: Physics) -> np.ndarray:
    """Filter each row (depth z_m) of `iq` (columns dx_m apart) with `lateral_transfer`,
    zero-padded to twice its width so nothing wraps around."""
    n = iq.shape[1]
    m = 2 * n
    kx = 2 * math.pi * np.fft.fftfreq(m, dx_m)
    return np.fft.ifft(np.fft.fft(iq, m, axis=1) * lateral_transfer(phys, z_m, kx), axis=1)[:, :n]


# ------------------------------------------------------------------ axial

PULSE_TABLE_STEP_M = 2e-6


def _pulse_table(f0_hz: float, probe: str, c: float, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(d, complex pulse) on a fine depth grid: the echo's IQ as image formation 3 forms it,
    peak 1 at d = 0 (see `pulse_if3`)."""
    from scipy.signal import butter, freqz

    from . import image_formation3 as if3

    phys = _TABLE_PHYS[(f0_hz, probe, c, dt_s)]
    n = 1 << 14
    df = 4 * f0_hz / n
    f = np.arange(n) * df                                   # 0 .. 4 f0
    period = 1 / f0_hz                                      # one-cycle sine burst, centred on t = 0
    t = np.linspace(-period / 2, period / 2, 257)
    exc = np.sin(2 * np.pi * f0_hz * (t + period / 2))
    e_f = np.trapezoid(exc[None, :] * np.exp(-2j * np.pi * f[:, None] * t[None, :]), t, axis=1)
    r = if3.probe_response(phys, f)
    b, a = butter(5, if3.probe_of(phys).bandwidth * f0_hz / 2 / (0.5 / dt_s))
    _, lp = freqz(b, a, worN=f - f0_hz, fs=1 / dt_s)
    spec = e_f * r * r * np.abs(lp) ** 2                     # transmit, receive filter, zero-phase low-pass
    tau = np.arange(-400, 401) * (2 * PULSE_TABLE_STEP_M / c)  # two-way time of a depth offset d
    base = (spec[None, :] * np.exp(2j * np.pi * (f[None, :] - f0_hz) * tau[:, None])).sum(axis=1)
    i = int(np.argmax(np.abs(base)))
    d = (np.arange(base.size) - i) * PULSE_TABLE_STEP_M    # the envelope's peak at d = 0
    return d, base / np.abs(base[i])


_TABLE_PHYS: dict = {}
_TABLES: dict = {}


def pulse_if3(d: np.ndarray, phys: Physics) -> np.ndarray:
    """The echo of a point at depth offset d (m) in image formation 3's IQ: the one-cycle
    burst through the probe's response on transmit and on receive and the demodulator's
    low-pass (as `image_formation3.receive_iq`), not a Gaussian: its shape sets the ratio of
    the speckle's axial width to a point target's. Carrier exp(2 i k d) as `_pulse`."""
    key = (phys.f0_hz, phys.probe, phys.c_beamform, phys.dt_s)
    if key not in _TABLES:
        _TABLE_PHYS[key] = phys
        _TABLES[key] = _pulse_table(*key)
    grid, table = _TABLES[key]
    env = np.interp(d, grid, table.real, left=0, right=0) + 1j * np.interp(d, grid, table.imag, left=0, right=0)
    return env * np.exp(2j * (2 * math.pi * phys.f0_hz / phys.c_beamform) * d)
