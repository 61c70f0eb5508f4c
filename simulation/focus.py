"""The receive focusing's sound-speed mismatch, as the image formation applies it (the
`sound-speed-mismatch` shift condition, `shift_physics`): the beamformer times its aperture delays
with an assumed speed (`Physics.extra["receive_focus_c_mps"]`) while the tissue has its own.

Below both image formations (the k-Wave path's delay-and-sum, `image_formation3`, and the fast
model, `fast_backend` / `fast_if3`), so neither imports the shift module that measures them."""
from __future__ import annotations

import math

import numpy as np

from .physics import Physics

FOCUS_C_KEY = "receive_focus_c_mps"   # Physics.extra key: the speed the receive focusing assumes


def focus_epsilon(phys: Physics) -> float:
    """eps = c / c_assumed - 1 of the receive focusing (0 without a mismatch)."""
    c_assumed = phys.extra.get(FOCUS_C_KEY)
    return phys.c_beamform / float(c_assumed) - 1.0 if c_assumed else 0.0


def focus_delay_error_s(z: np.ndarray, dx: np.ndarray, phys: Physics) -> np.ndarray | float:
    """Receive-delay error (s) of an element at lateral offset `dx` from a pixel at depth `z`:
    the path beyond the on-axis depth, (hypot(z, dx) - z), timed with the assumed speed
    instead of the chain's. 0 when `phys` has no mismatch."""
    c_assumed = phys.extra.get(FOCUS_C_KEY)
    if not c_assumed:
        return 0.0
    return (np.hypot(z, dx) - z) * (1.0 / float(c_assumed) - 1.0 / phys.c_beamform)


def defocus_rows(iq: np.ndarray, z_m: np.ndarray, dx_m: float, phys: Physics) -> np.ndarray:
    """The fast model's focusing error: each row's lateral spectrum times the chirp of the
    quadratic aperture phase (k eps u^2 / 2z at aperture position u = kx lambda z / 2 pi)."""
    eps = focus_epsilon(phys)
    if eps == 0.0:
        return iq
    n = iq.shape[1]
    m = 2 * n                                            # zero-padded: no wrap-around at the edges
    kx = 2 * math.pi * np.fft.fftfreq(m, dx_m)
    chirp = np.exp(1j * eps * phys.wavelength_m * z_m[:, None] * kx[None, :] ** 2 / (4 * math.pi))
    return np.fft.ifft(np.fft.fft(iq, m, axis=1) * chirp, axis=1)[:, :n]
