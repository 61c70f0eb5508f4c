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
        out.append({"label": int(les["label"]), "pixels": int(inside.sum()),
                    "contrast_db": round(float((a.mean() - b.mean()) * phys.dynamic_range_db / 255.0), 2),
                    "cnr": round(float(cnr), 3)})
    return out


def all_visible(figures: list[dict]) -> bool:
    """Every lesion that shows in the image reaches VISIBLE_CNR (one outside the field has no figures)."""
    return all(f["cnr"] is None or f["cnr"] >= VISIBLE_CNR for f in figures)
