"""Metric speed on 256 x 256 mask pairs: our HD95 vs medpy.metric.binary.hd95, and our
NSD + ASSD vs DeepMind's surface-distance package (same values).

    python benchmarks/metrics_speed.py [--repeats 30] [--spacing ROW_MM COL_MM]

Prints, per kind of pair, the best time of each (timeit's advice: the minimum is the
least disturbed by other load) and the speed-up, and checks the values agree
(relative 1e-9). The NSD + ASSD table needs `pip install surface-distance==0.1`
(a test dependency); without it only the HD95 table is printed."""
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
    hd95_table(args.repeats, args.spacing)
    surface_table(args.repeats, args.spacing)


def hd95_table(repeats, spacing):
    from medpy.metric.binary import hd95 as medpy_hd95

    from sonobench.evaluator.metrics import hd95

    print(f"{'HD95, pair (256 x 256), best of ' + str(repeats):38s} {'medpy ms':>9s} {'ours ms':>9s} {'speed-up':>9s}  value")
    for name, (a, b) in pairs().items():
        t_ref, ref = _best_time(lambda: medpy_hd95(a, b, voxelspacing=spacing), repeats)
        t_ours, ours = _best_time(lambda: hd95(a, b, spacing=spacing), repeats)
        assert abs(ours - ref) <= 1e-9 * max(1.0, ref), (name, ours, ref)
        print(f"{name:38s} {1e3 * t_ref:9.2f} {1e3 * t_ours:9.2f} {t_ref / t_ours:8.1f}x  {ours:.4f}")


def surface_table(repeats, spacing):
    """NSD at the default tolerance plus ASSD, from one surface-distance computation each."""
    import warnings

    try:
        import surface_distance as deepmind
    except ImportError:
        print("\nNSD/ASSD: skipped (pip install surface-distance==0.1 to time DeepMind's package)")
        return
    from sonobench.evaluator.metrics.surface import assd_from, default_nsd_tolerance, nsd_from, surface_distances

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # it imports scipy.ndimage.filters
    sp = tuple(spacing) if spacing else (1.0, 1.0)
    tau = default_nsd_tolerance(spacing)

    def reference(a, b):
        d = deepmind.compute_surface_distances(b, a, sp)
        return deepmind.compute_surface_dice_at_tolerance(d, tau), float(np.mean(
            deepmind.compute_average_surface_distance(d)))

    def ours(a, b):
        d = surface_distances(a, b, spacing)
        return nsd_from(d, tau), assd_from(d, a.shape, spacing)

    print(f"\n{'NSD (tau ' + f'{tau:g}' + ') + ASSD, best of ' + str(repeats):38s} {'DeepMind':>9s} {'ours ms':>9s} "
          f"{'speed-up':>9s}  NSD, ASSD")
    for name, (a, b) in pairs().items():
        t_ref, ref = _best_time(lambda: reference(a, b), repeats)
        t_ours, got = _best_time(lambda: ours(a, b), repeats)
        assert np.allclose(got, ref, rtol=1e-9, atol=1e-12), (name, got, ref)
        print(f"{name:38s} {1e3 * t_ref:9.2f} {1e3 * t_ours:9.2f} {t_ref / t_ours:8.1f}x  {got[0]:.4f}, {got[1]:.4f}")


if __name__ == "__main__":
    main()
