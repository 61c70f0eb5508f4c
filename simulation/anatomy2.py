"""Anatomy 2: what image formation 3 draws on top of a phantom's geometry (issue #24, items 3-5).

A phantom drawn for image formation 3 carries ``"anatomy": 2``; everything here is
applied after the phantom's earlier draws (the lobule seeds are the geometry stream's
last draws), so the layers, structures, lesions and labels of a case are those of the
same (seed, index) under image formation 2, except where listed below:

- **Fat lobules with septa**: each fat layer named in the preset's ``anatomy2.lobules``
  is cut into lobules (an anisotropic Voronoi tessellation, cells ~3-8 mm wide and flatter
  than wide) separated by thin echogenic septa (the preset's ``ligament`` tissue).
- **Air** (``structure_tissue``, e.g. the trachea's lumen): a pressure-release region, as light
  as the solver allows: 100 kg/m^3 (reflection -0.84 against soft tissue; the 29 % of the energy
  that enters is absorbed, ~75 dB on the way down and back). Lighter lumens make the k-Wave run
  diverge on this grid (measured on a 376 x 128 crop of neck case 0: 30 kg/m^3 grows to 1e28,
  100 and 300 stay bounded; on a free-standing disc 10 kg/m^3 stays bounded, 5 does not); the
  sound speed stays at the grid's lowest (1440 m/s).
- **Bone** (``lesion_tissue`` + ``fill_below``): the cortex's impedance (~6.4 MRayl; the
  density carries it, the sound speed being capped at the grid's 1650 m/s) and the bone
  filling everything below its surface, so no back wall exists to be imaged; inside it no
  scatterers and 40 dB/(MHz^y cm) (k-Wave's absorption saturates near that: see the preset), so
  the shadow holds only what the solver and the receiver noise leave. The label (the surface facing the probe) is unchanged.
- **Iso-echoic lesions** get a thin hypo-echoic halo (capsule) inside their boundary and
  posterior enhancement where they had no posterior feature: what makes them visible on a
  scanner.
- **Hyper-echoic lesions** (``echo_scale``) scatter 1.4x more (+3 dB): +6.4 to +9.7 dB over the
  host in the breast instead of +3.5 to +6.8, which the log-compressed speckle's 5.6 dB grey
  std left below the visibility floor in about a third of them.
- **Spicules** are at least `SPICULE_MIN_MM` wide (about the system's lateral resolution),
  in the label and the tissue alike.
"""

from __future__ import annotations

import contextlib

import numpy as np

SPICULE_MIN_MM = 0.5  # the L7-4 system's lateral -6 dB width is ~0.48 mm (image_formation3)
AIR_RHO = 100.0  # kg/m^3: as light as k-Wave stays stable with here (see the module docstring)
HALO_TISSUE_KEY = "halo"  # a lesion's halo tissue, stored on the lesion


_BOOST = {"level": 0}
BOOST_FACTOR = {"hyper": 1.6}  # per boost level: hyper-echoic lesions brighter, all others darker
BOOST_DEFAULT = 0.45


@contextlib.contextmanager
def visibility_boost(level: int):
    """Phantoms drawn inside this block have every lesion's scatter amplitude pushed away from
    its host's by `level` steps (x 1.6 per step for a hyper-echoic lesion, x 0.45 for the
    others): the re-simulation rule of `dataset.render` for a lesion below the visibility floor.
    The level is recorded in the phantom (``visibility_boost``), geometry and label unchanged."""
    previous, _BOOST["level"] = _BOOST["level"], int(level)
    try:
        yield
    finally:
        _BOOST["level"] = previous


def apply(out: dict, preset: dict, rng: np.random.Generator, width_mm: float, depth_mm: float) -> dict:
    """Add anatomy 2 to a drawn phantom `out` (in place, and returned)."""
    spec = preset.get("anatomy2", {})
    out["anatomy"] = 2
    if _BOOST["level"]:
        out["visibility_boost"] = _BOOST["level"]
    if "lobules" in spec:
        out["lobules"] = _draw_lobules(rng, spec["lobules"], out, width_mm, depth_mm)
    for body in out.get("structures", []):
        override = spec.get("structure_tissue", {}).get(body["name"])
        if override and body.get("part") != "wall":
            body["tissue"] = dict(body["tissue"], **override)
    for les in out["lesions"]:
        les["tissue"] = dict(les["tissue"], **spec.get("lesion_tissue", {}))
        scale = spec.get("echo_scale", {}).get(les.get("echogenicity"))
        if scale:
            les["tissue"]["scat_amp"] = les["tissue"]["scat_amp"] * scale
        if _BOOST["level"]:
            factor = BOOST_FACTOR.get(les.get("echogenicity"), BOOST_DEFAULT) ** _BOOST["level"]
            les["tissue"]["scat_amp"] = les["tissue"]["scat_amp"] * factor
        if spec.get("fill_below"):
            les["fill_below"] = True
        if les["spicules"]:
            les["spicule_min_mm"] = SPICULE_MIN_MM
        halo = spec.get("halo", {}).get(les.get("echogenicity"))
        if halo:
            if les.get("posterior") == "none" and "posterior_alpha" in halo:
                les["posterior"] = "enhancement"
                les["tissue"]["alpha"] = halo["posterior_alpha"]
            les[HALO_TISSUE_KEY] = {
                "thickness_mm": halo["thickness_mm"],
                "tissue": dict(les["tissue"], scat_amp=les["tissue"]["scat_amp"] * halo["amp_factor"]),
            }
    return out


def _draw_lobules(rng, spec: dict, out: dict, width_mm: float, depth_mm: float) -> dict:
    """Lobule centres over the field (the septa are drawn only inside the named layers)."""
    size = spec["size_mm"]  # mean lobule width
    aspect = spec["aspect"]
    n = int(round(width_mm * depth_mm / (size * size / aspect)))
    z = rng.uniform(-2.0, depth_mm + 2.0, n)
    x = rng.uniform(-2.0, width_mm + 2.0, n)
    return {
        "in": list(spec["in"]),
        "aspect": aspect,
        "septum_mm": spec["septum_mm"],
        "centres_mm": [[round(float(a), 4), round(float(b), 4)] for a, b in zip(z, x)],
    }


def septum_mask(lobules: dict, z_mm: np.ndarray, x_mm: np.ndarray) -> np.ndarray:
    """Points within half a septum's thickness of a boundary between two lobules: the
    perpendicular bisector of the two nearest centres, in coordinates where the lobules are
    round (x divided by the aspect, so lobules are `aspect` times wider than tall)."""
    from scipy.spatial import cKDTree

    a = lobules["aspect"]
    c = np.asarray(lobules["centres_mm"], dtype=np.float64)
    seeds = np.stack([c[:, 0], c[:, 1] / a], axis=1)
    pts = np.stack([z_mm.ravel(), x_mm.ravel() / a], axis=1)
    d, i = cKDTree(seeds).query(pts, k=2)
    gap = np.linalg.norm(seeds[i[:, 1]] - seeds[i[:, 0]], axis=1)
    to_bisector = (d[:, 1] ** 2 - d[:, 0] ** 2) / (2 * np.maximum(gap, 1e-9))
    # the bisector distance in the round coordinates; the septum is thinnest where it runs
    # horizontally (no stretch), at most `aspect` x thicker where vertical: scale it back
    return (to_bisector < lobules["septum_mm"] / 2).reshape(z_mm.shape)


def fill_below(mask: np.ndarray) -> np.ndarray:
    """`mask` extended down (axis 0 = depth) from its first point in each column."""
    return np.maximum.accumulate(mask, axis=0)


def halo_inner(les: dict) -> dict:
    """The body inside a lesion's halo: the same shape, `thickness_mm` smaller in radius."""
    t = les[HALO_TISSUE_KEY]["thickness_mm"]
    return dict(les, radius_mm=max(les["radius_mm"] - t, 0.2))
