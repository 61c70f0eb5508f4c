"""Anechoic-cyst contrast of image formation 3: our k-Wave path against pymust, same probe and transmit.

A homogeneous speckle phantom (1 % density and sound-speed fluctuation, scatterers off the grid
lattice) with a 2 mm-radius scatterer-free disc at 15 mm depth, imaged with the L7-4's three
compounded plane waves on the tests' smaller field (64 of the 128 elements), beamformed by our
IQ delay-and-sum; pymust simulates, demodulates and beamforms uniform random scatterers around
the same disc. Contrast = mean envelope power inside r < 1.5 mm over the ring 2.5-4 mm, in dB
(lower is better; an ideal system's cyst is as dark as its side lobes and clutter allow).

    python benchmarks/cyst_contrast.py [--out DIR]   # ~3-6 CPU-minutes; DIR gets both images

Measured 2026-12-07 (2-core VM): k-Wave -12.1 dB, pymust -20.1 dB: our k-Wave path carries
~8 dB more clutter than the reference on a clean cyst (see docs/guides/generation-if3.md).
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


def contrast_db(env: np.ndarray, z: np.ndarray, x: np.ndarray) -> float:
    zz, xx = np.meshgrid(z, x, indexing="ij")
    d = np.hypot(zz - Z0, xx)
    return float(10 * np.log10((env[d < 1.5e-3] ** 2).mean() / (env[(d > 2.5e-3) & (d < 4e-3)] ** 2).mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="write both B-mode windows (PNG) here")
    args = ap.parse_args()
    phys = pt.test_physics()
    rng = np.random.default_rng(3)
    zg = (np.arange(phys.rows) + 0.5) * phys.dx_m
    xg = (np.arange(phys.cols) + 0.5) * phys.dx_m - phys.width_m / 2
    zz, xx = np.meshgrid(zg, xg, indexing="ij")
    fluct = 0.01 * rng.standard_normal((phys.rows, phys.cols))
    fluct[(zz - Z0) ** 2 + xx ** 2 < RADIUS ** 2] = 0
    fluct = if3.offgrid_scatterers(fluct, rng)
    z = Z0 + np.arange(-5e-3, 5e-3, 0.033e-3)
    x = np.arange(-5e-3, 5e-3, 0.066e-3)
    t = time.process_time()
    ours = np.abs(pt.kwave_compound_iq(phys, fluct, [(z, x + phys.width_m / 2)])[0])
    t_ours = time.process_time() - t
    n = 50 * 12 * 12  # pymust scatterers: 50 per mm^2 over a 12 x 12 mm square
    xs, zs = rng.uniform(-6e-3, 6e-3, n), rng.uniform(Z0 - 6e-3, Z0 + 6e-3, n)
    keep = (zs - Z0) ** 2 + xs ** 2 >= RADIUS ** 2
    t = time.process_time()
    ref = np.abs(pt.pymust_compound_iq(xs[keep], zs[keep], rng.standard_normal(int(keep.sum())), phys, z, x))
    t_ref = time.process_time() - t
    c_ours, c_ref = contrast_db(ours, z, x), contrast_db(ref, z, x)
    print(f"cyst contrast, k-Wave path: {c_ours:.1f} dB ({t_ours:.0f} CPU-s)")
    print(f"cyst contrast, pymust:      {c_ref:.1f} dB ({t_ref:.0f} CPU-s)")
    print(f"ours - pymust: {c_ours - c_ref:+.1f} dB (positive: more clutter in the cyst than the reference)")
    if args.out:
        from PIL import Image

        args.out.mkdir(parents=True, exist_ok=True)
        for name, env in (("kwave", ours), ("pymust", ref)):
            grey = np.clip((20 * np.log10(env / env.max() + 1e-9) + 50) / 50 * 255, 0, 255).astype(np.uint8)
            Image.fromarray(grey).resize((grey.shape[1] * 2, grey.shape[0])).save(args.out / f"cyst_{name}.png")


if __name__ == "__main__":
    main()
