"""Seconds per B-mode frame: our k-Wave path vs plain k-wave-python, and the fast backend.

Both k-Wave runs simulate the same phantom with the same physics (grid, time step,
medium, burst, array) and share the beamforming; they differ only in how the
k-space solver is driven:

- ours:  k-wave-python's `Simulation` set-up, our float32 real-FFT time loop
         (torch/MKL FFTs when torch is installed, else scipy), grid set-up cached;
- plain: `kwave.kspaceFirstOrder(..., backend="python")`, default float64,
         everything set up per call.

Usage: python benchmarks/simulation_speed.py [--frames 2] [--presets breast-lesion,...] [--rows 224 --cols 224] [--fast-frames 20]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from simulation import beamform, image_formation, phantom
from simulation.physics import Physics
from simulation.presets import PRESETS
from simulation.sample import Backend, make_sample, sample_rngs


def kwave_frame(channel_rf, phys: Physics, index: int, preset: str = "breast-lesion") -> tuple[float, float]:
    """(CPU seconds, wall seconds) for one frame. Both paths run single-threaded, so CPU
    time measures the work even on a machine shared with other jobs."""
    g, s, _, _ = sample_rngs(0, index)
    t0, c0 = time.perf_counter(), time.process_time()
    params = phantom.draw_phantom(preset, g, phys, phantom.specimen_rng(0, phantom.specimen_of(preset, index)))
    maps = phantom.acoustic_maps(params, phys, s)
    maps.pop("tissue_index")
    rf, t_peak = channel_rf(phys, maps)
    if phys.image_formation == 1:
        beamform.log_compress(beamform.envelope(rf, phys, t_peak), phys)
    else:
        image_formation.bmode(image_formation.envelope(rf, phys, t_peak), phys)
    return time.process_time() - c0, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2, help="k-Wave frames per method")
    ap.add_argument("--rows", type=int, default=Physics().rows)
    ap.add_argument("--cols", type=int, default=Physics().cols)
    ap.add_argument("--fast-frames", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for our loop (plain numpy is single-threaded)")
    ap.add_argument("--presets", default=",".join(PRESETS.names()),
                    help="comma-separated phantom presets to measure (default: every preset)")
    args = ap.parse_args()
    from simulation import arrays

    arrays.use_threads(args.threads)
    from simulation.kwave_backend import channel_rf, channel_rf_plain

    phys = Physics(rows=args.rows, cols=args.cols)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; array backend: {arrays.pick().name}")
    print(f"grid {phys.grid_shape}, {phys.n_steps()} steps, f0 {phys.f0_hz / 1e6:g} MHz, "
          f"{phys.points_per_wavelength:.2f} points/wavelength, output {phys.out_shape}")
    kwave_frame(channel_rf, phys, 0)  # warm-up: imports, FFT plans, the delay-and-sum matrix
    ratios = {}
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        PRESETS.get(preset)
        ours = [kwave_frame(channel_rf, phys, i, preset) for i in range(args.frames)]
        plain = [kwave_frame(channel_rf_plain, phys, i, preset) for i in range(args.frames)]
        t_ours, t_plain = (float(np.median([f[0] for f in runs])) for runs in (ours, plain))
        w_ours, w_plain = (float(np.median([f[1] for f in runs])) for runs in (ours, plain))
        ratios[preset] = t_plain / t_ours
        print(f"[{preset}]")
        print(f"  ours  (float32 rFFT loop, cached set-up): {t_ours:7.2f} CPU-s/frame ({w_ours:.2f} s wall)")
        print(f"  plain (kspaceFirstOrder, float64)       : {t_plain:7.2f} CPU-s/frame ({w_plain:.2f} s wall)")
        print(f"  speed-up: {t_plain / t_ours:.1f}x per B-mode frame (CPU time; wall-clock ratio {w_plain / w_ours:.1f}x)")

        make_sample(preset, 0, 0, phys, Backend.FAST)
        c0 = time.process_time()
        for i in range(args.fast_frames):
            make_sample(preset, 0, i, phys, Backend.FAST)
        dt = (time.process_time() - c0) / args.fast_frames
        print(f"  fast backend: {1 / dt:.1f} frames per CPU-second ({dt * 1e3:.0f} CPU-ms/frame, phantom included); "
              f"{t_ours / dt:.0f}x cheaper than our k-Wave path")
    print("speed-up per preset (target >= 5x): " + ", ".join(f"{p} {r:.1f}x" for p, r in ratios.items()))


if __name__ == "__main__":
    main()
