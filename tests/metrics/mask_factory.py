"""Deterministic 2-D mask generators for the metric tests: discs, ellipses, smooth
blobs, multi-component unions, speckle, thin lines, shapes cut by the image edge."""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def disc(shape, center, radius) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def ellipse(shape, center, axes, angle=0.0) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    y, x = yy - center[0], xx - center[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * x + s * y, -s * x + c * y
    return (u / axes[1]) ** 2 + (v / axes[0]) ** 2 <= 1.0


def blob(rng, shape, sigma=None, fill=None) -> np.ndarray:
    sigma = sigma or rng.uniform(2, 8)
    field = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - (fill or rng.uniform(0.05, 0.5)))


def random_ellipse(rng, shape, edge_ok=True) -> np.ndarray:
    h, w = shape
    lo = 0 if edge_ok else 0.3
    center = (rng.uniform(lo * h, (1 - lo) * h), rng.uniform(lo * w, (1 - lo) * w))
    axes = (rng.uniform(1.5, h / 3), rng.uniform(1.5, w / 3))
    return ellipse(shape, center, axes, rng.uniform(0, np.pi))


def multi(rng, shape) -> np.ndarray:
    m = np.zeros(shape, bool)
    for _ in range(rng.integers(2, 6)):
        m |= random_ellipse(rng, shape) if rng.random() < 0.5 else disc(
            shape, (rng.uniform(0, shape[0]), rng.uniform(0, shape[1])), rng.uniform(1, min(shape) / 6))
    return m


def speckle(rng, shape) -> np.ndarray:
    return rng.random(shape) < rng.uniform(0.01, 0.6)


def lines(rng, shape) -> np.ndarray:
    m = np.zeros(shape, bool)
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5:
            m[rng.integers(shape[0]), rng.integers(0, shape[1] // 2):] = True
        else:
            m[rng.integers(0, shape[0] // 2):, rng.integers(shape[1])] = True
    return m


def perturb(rng, m) -> np.ndarray:
    """A plausible 'prediction' of m: shifted, dilated or eroded, with some speckle."""
    out = np.roll(m, (rng.integers(-4, 5), rng.integers(-4, 5)), axis=(0, 1))
    op = rng.integers(3)
    if op == 1:
        out = ndi.binary_dilation(out, iterations=int(rng.integers(1, 3)))
    elif op == 2:
        out = ndi.binary_erosion(out, iterations=1)
    if rng.random() < 0.3:
        out ^= rng.random(m.shape) < 0.005
    return out


GENERATORS = {
    "ellipse": random_ellipse,
    "blob": blob,
    "multi": multi,
    "speckle": speckle,
    "lines": lines,
}


def mask_pairs(seed: int, n: int):
    """n (name, a, b) pairs of non-empty masks: half independent shapes, half a shape and its perturbation."""
    rng = np.random.default_rng(seed)
    names = list(GENERATORS)
    out = []
    while len(out) < n:
        shape = (int(rng.integers(8, 97)), int(rng.integers(8, 97)))
        name = names[len(out) % len(names)]
        a = GENERATORS[name](rng, shape)
        b = perturb(rng, a) if len(out) % 2 else GENERATORS[names[rng.integers(len(names))]](rng, shape)
        if a.any() and b.any():
            out.append((name, a, b))
    return out
