"""Visibility of labelled lesions on the displayed image: contrast (dB) and CNR per lesion.

    CNR = |mean inside - mean ring| / sqrt(var inside + var ring)

measured on the displayed grey image (uint8, after TGC and log compression), the ring
0.5-2.5 mm outside the lesion's labelled region, restricted to background: pixels of no
labelled structure, or of the structure the lesion sits in (a nodule's thyroid lobe). The
contrast is the difference of the two means in dB (grey x dynamic range / 255).

`VISIBLE_CNR` is the floor a generated case must reach (issue #24): `dataset` re-simulates a
case whose lesion falls below it with the lesion's echogenicity pushed away from its host's
(`anatomy2.apply`'s `boost`), and records every lesion's figures in the case's metadata.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import distance_transform_edt

from .physics import Physics

VISIBLE_CNR = 0.3
RING_MM = (0.5, 2.5)
MAX_BOOST = 2  # re-simulations of a case whose lesion is below VISIBLE_CNR


def lesion_regions(params: dict, phys: Physics) -> list[np.ndarray]:
    """Each lesion's labelled region on the pixel grid (its surface band for a surface label)."""
    from . import phantom

    z, x = phantom._grid_mm(phys.out_shape, phys.depth_m, phys.width_m)
    out = []
    for les in params["lesions"]:
        mask = phantom.lesion_mask(les, z, x)
        if les.get("label_surface_mm"):
            mask = phantom.top_surface(mask, z, les["label_surface_mm"])
        out.append(mask)
    return out


def host_labels(params: dict) -> set:
    """Labels a lesion's ring may lie in besides background: its host structure's."""
    from .presets import get_preset

    within = get_preset(params["preset"])["lesions"].get("within_structure")
    return {b["label"] for b in params.get("structures", []) if b["name"] == within}


def measure(image: np.ndarray, label: np.ndarray, params: dict, phys: Physics) -> list[dict]:
    """Contrast (dB) and CNR of every lesion of `params` on the displayed `image`."""
    grey = image.astype(np.float64)
    allowed = np.isin(label, [0, *host_labels(params)])
    sampling = phys.pixel_mm
    out = []
    for les, inside in zip(params["lesions"], lesion_regions(params, phys)):
        if not inside.any():
            out.append({"label": int(les["label"]), "contrast_db": None, "cnr": None, "pixels": 0})
            continue
        dist = distance_transform_edt(~inside, sampling=sampling)
        ring = (dist > RING_MM[0]) & (dist <= RING_MM[1]) & allowed
        if not ring.any():
            out.append({"label": int(les["label"]), "contrast_db": None, "cnr": None, "pixels": int(inside.sum())})
            continue
        a, b = grey[inside], grey[ring]
        cnr = abs(a.mean() - b.mean()) / max(math.sqrt(a.var() + b.var()), 1e-9)
        out.append(
            {
                "label": int(les["label"]),
                "pixels": int(inside.sum()),
                **({"surface": True} if les.get("label_surface_mm") else {}),
                "contrast_db": round(float((a.mean() - b.mean()) * phys.dynamic_range_db / 255.0), 2),
                "cnr": round(float(cnr), 3),
            }
        )
    return out


def all_visible(figures: list[dict]) -> bool:
    """Every lesion that shows in the image reaches VISIBLE_CNR (one outside the field has no
    figures; a surface label, e.g. a bone's, is recorded but not held to it: its visibility is
    the surface echo's and the shadow's, not a region's contrast)."""
    return all(f["cnr"] is None or f.get("surface") or f["cnr"] >= VISIBLE_CNR for f in figures)


# ------------------------------------------------------------------ what a scanner shows (issue #24 item 3)


def _db(image: np.ndarray, phys: Physics) -> np.ndarray:
    return image.astype(np.float64) * phys.dynamic_range_db / 255.0


def _rows_mm(phys: Physics) -> float:
    return phys.pixel_mm[0]


def shadow_depth_db(image: np.ndarray, surface: np.ndarray, phys: Physics) -> float | None:
    """How far (dB) the image 3-8 mm below a reflecting surface (its first pixel per column) lies
    below the tissue 3-8 mm above it: the median over the surface's columns of the two medians'
    difference (None when too few columns have both windows inside the field)."""
    db, per_mm = _db(image, phys), 1 / _rows_mm(phys)
    a, b = int(round(3 * per_mm)), int(round(8 * per_mm))
    out = []
    for c in np.flatnonzero(surface.any(axis=0)):
        top = int(np.argmax(surface[:, c]))
        if top - b >= 0 and top + b <= db.shape[0]:
            out.append(np.median(db[top - b : top - a, c]) - np.median(db[top + a : top + b, c]))
    return float(np.median(out)) if len(out) >= 5 else None


def lumen_contrast_db(image: np.ndarray, lumen: np.ndarray, beside: np.ndarray, phys: Physics) -> float | None:
    """Median dB inside a lumen (eroded 0.3 mm, away from its wall) minus the median dB of the
    tissue `beside` it."""
    from scipy.ndimage import binary_erosion

    core = binary_erosion(lumen, iterations=max(1, int(round(0.3 / min(phys.pixel_mm)))))
    if core.sum() < 10 or beside.sum() < 10:
        return None
    db = _db(image, phys)
    return float(np.median(db[core]) - np.median(db[beside]))


def structure_masks(params: dict, phys: Physics) -> dict:
    """{structure name: (lumen, whole body)} on the pixel grid, for structures with an inner body."""
    from . import phantom

    z, x = phantom._grid_mm(phys.out_shape, phys.depth_m, phys.width_m)
    out = {}
    for body in params.get("structures", []):
        mask = phantom.lesion_mask(body, z, x)
        lumen, whole = out.get(body["name"], (None, None))
        if body.get("part") == "wall":
            out[body["name"]] = (lumen, mask)
        else:
            out[body["name"]] = (mask, mask if whole is None else whole)
    return out


def ring(mask: np.ndarray, phys: Physics, inner_mm: float, outer_mm: float) -> np.ndarray:
    dist = distance_transform_edt(~mask, sampling=phys.pixel_mm)
    return (dist > inner_mm) & (dist <= outer_mm)
