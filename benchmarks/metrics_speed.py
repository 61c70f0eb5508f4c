"""HD95 speed: ours vs medpy.metric.binary.hd95 on 256 x 256 mask pairs (same values).

    python benchmarks/metrics_speed.py [--repeats 30]

Prints, per kind of pair, the best time of each (timeit's advice: the minimum is the
least disturbed by other load) and the speed-up, and checks the
values agree (relative 1e-9)."""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi


def _disc(shape, center, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def pairs(shape=(256, 256)):
    rng = np.random.default_rng(0)
    big = _disc(shape, (128, 128), 90)
    lesion = _disc(shape, (100, 140), 18)
    blob = ndi.gaussian_filter(rng.standard_normal(shape), 6) > 0.05
    return {
        "large disc, shifted 3 px": (big, np.roll(big, 3, axis=1)),
        "small lesion, dilated": (lesion, ndi.binary_dilation(lesion, iterations=2)),
        "multi-component blobs": (blob, ndi.binary_opening(blob, iterations=2)),
        "lesion vs noisy prediction": (lesion, ndi.binary_dilation(lesion) ^ (rng.random(shape) < 0.02)),
    }


def _best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return min(times), value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--spacing", type=float, nargs=2, default=None, metavar=("ROW_MM", "COL_MM"))
    args = parser.parse_args(argv)
    from medpy.metric.binary import hd95 as medpy_hd95

    from evaluator.metrics import hd95

    print(f"{'pair (256 x 256), best of ' + str(args.repeats):32s} {'medpy ms':>9s} {'ours ms':>9s} {'speed-up':>9s}  value")
    for name, (a, b) in pairs().items():
        t_ref, ref = _best_time(lambda: medpy_hd95(a, b, voxelspacing=args.spacing), args.repeats)
        t_ours, ours = _best_time(lambda: hd95(a, b, spacing=args.spacing), args.repeats)
        assert abs(ours - ref) <= 1e-9 * max(1.0, ref), (name, ours, ref)
        print(f"{name:32s} {1e3 * t_ref:9.2f} {1e3 * t_ours:9.2f} {t_ref / t_ours:8.1f}x  {ours:.4f}")


if __name__ == "__main__":
    main()
