"""Seconds per B-mode frame: our k-Wave path vs its FFT floor and plain k-wave-python, and the fast backend.

Both k-Wave runs simulate the same phantom with the same physics (grid, time step,
medium, burst, array) and share the beamforming; they differ only in how the
k-space solver is driven:

- ours:  k-wave-python's `Simulation` set-up, our float32 real-FFT time loop
         (torch/MKL FFTs when torch is installed, else scipy), grid set-up cached;
         image formation 3 runs every compounding angle as one batch through the loop;
- floor: a bare loop of the same real FFTs (same library, float32, thread count, transform
         sizes and batch, 4 forward + 5 inverse per angle and time step, with the spectral
         multiplies) for the same number of steps: what a frame cannot go below;
- plain: `kwave.kspaceFirstOrder(..., backend="python")`, default float64,
         everything set up per call, one call per angle.

Every figure is CPU time of a single-threaded process (`--threads 1`), so a loaded
machine changes wall time, not the ratios. `--scaling` also runs the frames in one and
in two worker processes at once and prints frames per wall-clock hour.

Usage: python benchmarks/simulation_speed.py [--imaging if2|if3-l7-4] [--frames 2] [--plain-frames 1]
       [--presets breast-lesion,...] [--rows R --cols C] [--fast-frames 20] [--scaling]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from sonobench.simulation import beamform, image_formation, phantom
from sonobench.simulation.physics import IMAGING_PRESETS, Physics, imaging_preset
from sonobench.simulation.presets import PRESETS
from sonobench.simulation.sample import Backend, make_sample, sample_rngs


def kwave_frame(channel_rf, phys: Physics, index: int, preset: str = "breast-lesion") -> tuple[float, float]:
    """(CPU seconds, wall seconds) for one frame (phantom, every angle, beamforming, B-mode).
    Single-threaded, so CPU time measures the work even on a machine shared with other jobs.
    `channel_rf=None`: the production path (`sample.kwave_envelope`, all angles batched)."""
    from sonobench.simulation.sample import kwave_envelope

    g, s, n, _ = sample_rngs(0, index)
    t0, c0 = time.perf_counter(), time.process_time()
    params = phantom.draw_phantom(preset, g, phys, phantom.specimen_rng(0, phantom.specimen_of(preset, index)))
    maps = phantom.acoustic_maps(params, phys, s)
    maps.pop("tissue_index")
    if channel_rf is None:
        image_formation.bmode(kwave_envelope(maps, phys, 0.02, n), phys)
    else:
        for angle in phys.angles_deg:
            rf, t_peak = channel_rf(phys, maps, angle)
        if phys.image_formation == 1:
            beamform.log_compress(beamform.envelope(rf, phys, t_peak), phys)
        elif phys.image_formation == 2:
            image_formation.bmode(image_formation.envelope(rf, phys, t_peak), phys)
    return time.process_time() - c0, time.perf_counter() - t0


def kwave_grid_shape(phys: Physics) -> tuple[int, int]:
    """The grid the solver runs on: image formation 3's k-Wave path has its own, finer in depth;
    earlier ones run on `phys.grid_shape`."""
    if phys.image_formation != 3:
        return phys.grid_shape
    from sonobench.simulation.image_formation3 import kwave_grid_shape as if3_grid_shape

    return if3_grid_shape(phys)


def fft_floor(phys: Physics) -> float:
    """CPU seconds of a bare loop of the solver's real FFTs for one frame: every angle in one
    batch (as our loop runs them), per step 4 forward and 5 inverse transforms per angle
    (pressure; the two velocity components; their two divergences; the absorption term) with
    the spectral multiplies, float32, the array library and thread count of our loop."""
    from sonobench.simulation import arrays

    B, shape = arrays.pick(), kwave_grid_shape(phys)
    n = len(phys.angles_deg) if phys.image_formation == 3 else 1
    reps = 1 if phys.image_formation == 3 else len(phys.angles_deg)
    rng = np.random.default_rng(0)
    half = (shape[0], shape[1] // 2 + 1)
    h2 = B.asarray(rng.standard_normal((2, *half)), complex_=True)
    h1 = B.asarray(rng.standard_normal(half), complex_=True)
    p = B.asarray(rng.standard_normal((n, *shape)))
    u = B.asarray(rng.standard_normal((n, 2, *shape)))
    c0 = time.process_time()
    for _ in range(reps * phys.n_steps()):
        B.irfft2(h2 * B.rfft2(p)[:, None], shape, scaled=False)
        div = B.irfft2(h2 * B.rfft2(u), shape, scaled=False)
        B.irfft2(h1 * B.rfft2(div[:, 0]), shape, scaled=False)
    return time.process_time() - c0


def _worker_frames(args) -> int:
    imaging, rows, cols, preset, first, count = args
    from sonobench.simulation import arrays

    arrays.use_threads(1)
    phys = _physics(imaging, rows, cols)
    for i in range(first, first + count):
        kwave_frame(None, phys, i, preset)
    return count


def scaling(imaging: str, rows, cols, preset: str, frames: int) -> tuple[float, float]:
    """Frames per wall-clock hour with one worker process and with two at once (one
    thread each; each worker builds its own beamforming matrices first, as a dataset worker does)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    rates = []
    for workers in (1, 2):
        with ctx.Pool(workers) as pool:
            pool.map(_worker_frames, [(imaging, rows, cols, preset, 1000 + w, 1) for w in range(workers)])  # warm
            t0 = time.perf_counter()
            done = sum(pool.map(_worker_frames, [(imaging, rows, cols, preset, w * frames, frames)
                                                 for w in range(workers)]))
            rates.append(done / (time.perf_counter() - t0) * 3600)
    return rates[0], rates[1]


def _physics(imaging: str, rows, cols) -> Physics:
    phys = imaging_preset(imaging)
    return phys.scaled(**{k: v for k, v in (("rows", rows), ("cols", cols)) if v})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imaging", default="if2", choices=list(IMAGING_PRESETS), help="image formation preset")
    ap.add_argument("--frames", type=int, default=2, help="k-Wave frames of our path per preset")
    ap.add_argument("--plain-frames", type=int, default=1, help="plain k-wave-python frames per preset (0: skip)")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--cols", type=int, default=None)
    ap.add_argument("--fast-frames", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for our loop (plain numpy is single-threaded)")
    ap.add_argument("--presets", default=",".join(PRESETS.names()),
                    help="comma-separated phantom presets to measure (default: every preset)")
    ap.add_argument("--scaling", action="store_true", help="also measure 1 vs 2 worker processes (frames per hour)")
    args = ap.parse_args()
    from sonobench.simulation import arrays

    arrays.use_threads(args.threads)
    from sonobench.simulation.kwave_backend import channel_rf_plain

    phys = _physics(args.imaging, args.rows, args.cols)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; array backend: {arrays.pick().name}; "
          f"imaging {args.imaging}" + (f" (probe {phys.probe})" if phys.probe else ""))
    print(f"grid {kwave_grid_shape(phys)}, {phys.n_steps()} steps, f0 {phys.f0_hz / 1e6:g} MHz, "
          f"{phys.points_per_wavelength:.2f} points/wavelength, angles {list(phys.angles_deg)}, output {phys.out_shape}")
    c0 = time.process_time()
    kwave_frame(None, phys, 0)  # warm-up: imports, FFT plans, the delay-and-sum matrices
    print(f"first frame of a worker (set-up: operators, delay-and-sum matrices): {time.process_time() - c0:.2f} CPU-s")
    floor = fft_floor(phys)
    print(f"FFT floor (bare loop of the same real FFTs, {len(phys.angles_deg)} angle(s)): {floor:.2f} CPU-s/frame")
    ratios, rows = {}, []
    for preset in [p.strip() for p in args.presets.split(",") if p.strip()]:
        PRESETS.get(preset)
        ours = [kwave_frame(None, phys, i, preset) for i in range(args.frames)]
        t_ours, w_ours = (float(np.median([f[k] for f in ours])) for k in (0, 1))
        print(f"[{preset}]")
        print(f"  ours  (float32 rFFT loop, cached set-up): {t_ours:7.2f} CPU-s/frame ({w_ours:.2f} s wall); "
              f"ours / FFT floor = {t_ours / floor:.2f} (target <= 1.25)")
        rows.append((preset, t_ours))
        if args.plain_frames and phys.image_formation != 3:
            plain = [kwave_frame(channel_rf_plain, phys, i, preset) for i in range(args.plain_frames)]
        elif args.plain_frames:
            plain = [_plain_frame(phys, i, preset) for i in range(args.plain_frames)]
        if args.plain_frames:
            t_plain = float(np.median([f[0] for f in plain]))
            ratios[preset] = t_plain / t_ours
            print(f"  plain (kspaceFirstOrder, float64)       : {t_plain:7.2f} CPU-s/frame (solver only for if3)")
            print(f"  speed-up: {t_plain / t_ours:.1f}x per B-mode frame (CPU time)")
        make_sample(preset, 0, 0, phys, Backend.FAST)
        c0 = time.process_time()
        for i in range(args.fast_frames):
            make_sample(preset, 0, i, phys, Backend.FAST)
        dt = (time.process_time() - c0) / args.fast_frames
        print(f"  fast backend: {1 / dt:.1f} frames per CPU-second ({dt * 1e3:.0f} CPU-ms/frame, phantom included); "
              f"{t_ours / dt:.0f}x cheaper than our k-Wave path")
    if ratios:
        print("speed-up vs plain per preset: " + ", ".join(f"{p} {r:.1f}x" for p, r in ratios.items()))
    mean = float(np.mean([t for _, t in rows]))
    print(f"regeneration estimate: 1,040 frames x {mean:.1f} CPU-s = {1040 * mean / 3600:.1f} CPU-hours")
    if args.scaling:
        one, two = scaling(args.imaging, args.rows, args.cols, rows[0][0], max(1, args.frames))
        print(f"frames per wall-clock hour: 1 worker {one:.0f}, 2 workers {two:.0f} ({two / one:.2f}x; target >= 1.8x "
              f"on 2 otherwise idle cores)")


def _plain_frame(phys: Physics, index: int, preset: str) -> tuple[float, float]:
    """Plain k-wave-python for an image-formation-3 frame: one `kspaceFirstOrder` call per angle
    (each element column as its own source point; the solver is what differs)."""
    from sonobench.simulation.image_formation3 import transmit_signals
    from sonobench.simulation.kwave_backend import import_kwave

    import_kwave()
    from kwave.kgrid import kWaveGrid
    from kwave.kmedium import kWaveMedium
    from kwave.ksensor import kSensor
    from kwave.ksource import kSource
    from kwave.kspaceFirstOrder import kspaceFirstOrder

    from sonobench.simulation.kwave_backend import array_mask, pad_maps

    g, s, _, _ = sample_rngs(0, index)
    t0, c0 = time.perf_counter(), time.process_time()
    params = phantom.draw_phantom(preset, g, phys, phantom.specimen_rng(0, phantom.specimen_of(preset, index)))
    maps = phantom.acoustic_maps(params, phys, s)
    maps.pop("tissue_index")
    full = pad_maps(phys, maps)
    mask, signals, _ = transmit_signals(phys, phys.angles_deg)
    for a in range(len(phys.angles_deg)):
        kgrid = kWaveGrid(list(phys.grid_shape), [phys.dx_m, phys.dx_m])
        kgrid.setTime(phys.n_steps(), phys.dt_s)
        medium = kWaveMedium(sound_speed=full["sound_speed"], density=full["density"], alpha_coeff=full["alpha_coeff"],
                             alpha_power=phys.alpha_power, alpha_mode="no_dispersion")
        source = kSource()
        source.p_mask = mask
        source.p = signals[a].astype(np.float64)
        sensor = kSensor(array_mask(phys))
        sensor.record = ["p"]
        kspaceFirstOrder(kgrid, medium, source, sensor, pml_size=phys.pml, pml_alpha=phys.pml_alpha,
                         pml_inside=True, backend="python", quiet=True, smooth_p0=False)
    return time.process_time() - c0, time.perf_counter() - t0


if __name__ == "__main__":
    main()
