"""Anechoic-cyst contrast of image formation 3: our k-Wave path against pymust, same probe and transmit.

A homogeneous speckle phantom (1 % density and sound-speed fluctuation, one scatterer per grid
cell at a random position inside it) with a 2 mm-radius scatterer-free disc at 15 mm depth,
imaged with the L7-4's compounded plane waves on the tests' smaller field (64 of the 128
elements), beamformed by our IQ delay-and-sum; pymust simulates, demodulates and beamforms
uniform random scatterers around the same disc. Contrast = mean envelope power inside r < 1.5 mm
over the ring 2.5-4 mm, in dB (lower is better; an ideal system's cyst is as dark as its side
lobes and clutter allow). One realisation's contrast varies by about +-0.7 dB (pymust, six
seeds): `--seeds` averages several.

    python benchmarks/cyst_contrast.py [--angles -8,0,8] [--seeds 1] [--out DIR]

Measured 2026-12-08 (2-core VM, one thread), three angles: k-Wave path -12.1 dB before the
axially refined k-Wave grid (image_formation3.AXIAL_REFINE), pymust -20.0 dB; see
docs/guides/generation-if3.md "Known shortfalls" for the table and what the fix closed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "simulation")]

import psf_tools as pt  # noqa: E402

from sonobench.simulation import image_formation3 as if3  # noqa: E402

Z0, RADIUS = 15e-3, 2.0e-3
PYMUST_PER_MM2 = 50


def window() -> tuple[np.ndarray, np.ndarray]:
    """The measured window, pymust's coordinates (x = 0 at the array centre)."""
    return Z0 + np.arange(-5e-3, 5e-3, 0.033e-3), np.arange(-5e-3, 5e-3, 0.066e-3)


def contrast_db(env: np.ndarray, z: np.ndarray, x: np.ndarray) -> float:
    zz, xx = np.meshgrid(z, x, indexing="ij")
    d = np.hypot(zz - Z0, xx)
    return float(10 * np.log10((env[d < 1.5e-3] ** 2).mean() / (env[(d > 2.5e-3) & (d < 4e-3)] ** 2).mean()))


def cyst_scatterers(phys, rng: np.random.Generator, amplitude: float = 0.01):
    """`if3.scatterer_positions` of the phantom: every cell outside the disc holds one."""
    zg = (np.arange(phys.rows) + 0.5) * phys.dx_m
    xg = (np.arange(phys.cols) + 0.5) * phys.dx_m - phys.width_m / 2
    zz, xx = np.meshgrid(zg, xg, indexing="ij")
    fluct = amplitude * rng.standard_normal((phys.rows, phys.cols))
    fluct[(zz - Z0) ** 2 + xx ** 2 < RADIUS ** 2] = 0
    z_cell, x_cell, a = if3.scatterer_positions(fluct, rng)
    inside = ((z_cell + 0.5) * phys.dx_m - Z0) ** 2 + ((x_cell + 0.5) * phys.dx_m - phys.width_m / 2) ** 2 < RADIUS ** 2
    return z_cell[~inside], x_cell[~inside], a[~inside]


def kwave_contrast(phys, seed: int, amplitude: float = 0.01) -> float:
    z, x = window()
    points = cyst_scatterers(phys, np.random.default_rng(seed), amplitude)
    return contrast_db(np.abs(pt.kwave_compound_iq(phys, points, [(z, x + phys.width_m / 2)])[0]), z, x)


def pymust_contrast(phys, seed: int, amplitude: float = 0.01) -> float:
    """(pymust is linear: `amplitude` changes nothing.)"""
    rng = np.random.default_rng(seed)
    n = PYMUST_PER_MM2 * 12 * 12  # over a 12 x 12 mm square (the full field gives the same, measured)
    xs, zs = rng.uniform(-6e-3, 6e-3, n), rng.uniform(Z0 - 6e-3, Z0 + 6e-3, n)
    keep = (zs - Z0) ** 2 + xs ** 2 >= RADIUS ** 2
    z, x = window()
    env = np.abs(pt.pymust_compound_iq(xs[keep], zs[keep], rng.standard_normal(int(keep.sum())), phys, z, x))
    return contrast_db(env, z, x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--angles", default="-8,0,8", help="plane-wave angles, degrees (default: the preset's)")
    ap.add_argument("--seeds", type=int, default=1, help="realisations to average (each a k-Wave run)")
    ap.add_argument("--amplitude", type=float, default=0.01, help="scatterers' relative c and rho std (k-Wave "
                    "is not linear in it: multiple scattering)")
    args = ap.parse_args()
    phys = pt.test_physics(angles=tuple(float(a) for a in args.angles.split(",")))
    for name, fn, first in (("k-Wave path", kwave_contrast, 3), ("pymust", pymust_contrast, 5)):
        t = time.process_time()
        values = [fn(phys, first + i, args.amplitude) for i in range(args.seeds)]
        print(f"cyst contrast, {name}: {np.mean(values):.1f} dB (each: {', '.join(f'{v:.1f}' for v in values)}; "
              f"{time.process_time() - t:.0f} CPU-s)", flush=True)


if __name__ == "__main__":
    main()
