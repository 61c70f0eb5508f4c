"""Phantoms: draw a sample's geometry from a preset (JSON-able parameters), then
rasterise it into a label map (output pixel grid) and acoustic maps (simulation grid).

Geometry is continuous (mm), so the label grid and the simulation grid may differ
and still agree. Two random streams per sample: one draws the geometry, the other
the sub-resolution scatterers, so the geometry of a sample never depends on the
simulation grid.
"""
from __future__ import annotations

import math

import numpy as np

from . import anatomy2
from .physics import Physics
from .presets import get_preset


def _u(rng, lo_hi):
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi))


def _pick(rng, options: dict) -> str:
    names = list(options)
    w = np.array([options[n]["weight"] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _wobble(rng, amp_mm) -> list:
    """A smooth boundary undulation: two sinusoids of random wavelength and phase."""
    return [[_u(rng, (0.3, 1.0)) * amp_mm, _u(rng, (15.0, 60.0)), _u(rng, (0, 2 * math.pi))] for _ in range(2)]


def _curve(terms, x_mm):
    return sum(a * np.sin(2 * np.pi * x_mm / wl + ph) for a, wl, ph in terms)


def specimen_of(preset_name: str, index: int) -> int | None:
    """The specimen (a group of cases sharing one anatomy family) of sample `index`, for a
    preset that declares `specimens`; None otherwise. Consecutive indices share a specimen."""
    spec = get_preset(preset_name).get("specimens")
    return None if spec is None else int(index) // int(spec["cases_per_specimen"])


def specimen_rng(seed: int, specimen: int | None) -> np.random.Generator | None:
    """The random stream of one specimen's shared anatomy (independent of every sample's streams)."""
    if specimen is None:
        return None
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(specimen), 0x5EC1]))


def draw_phantom(preset_name: str, rng: np.random.Generator, phys: Physics,
                 specimen: np.random.Generator | None = None) -> dict:
    """Random geometry and tissue properties of one sample, as plain JSON data.

    `specimen` is the stream of the sample's specimen (`specimen_rng`) for a preset that
    declares `specimens`: its lesions' (e.g. the bone's) shape and tissue are drawn from it, so
    every case of one specimen shows the same anatomy, jittered per case. Presets without
    `structures` or `specimens` draw exactly what they always drew (sim-breast-lesion@1)."""
    preset = get_preset(preset_name)
    depth_mm, width_mm = phys.depth_m * 1e3, phys.width_m * 1e3
    boundaries, top = [], 0.0
    for layer in preset["layers"][:-1]:
        top += _u(rng, layer["thickness_mm"])
        amp = _u(rng, preset["interface_wobble_mm"]) if boundaries else 0.05
        boundaries.append({"base_mm": top, "wobble": _wobble(rng, amp)})
    ligaments = [_draw_ligament(rng, preset["ligaments"], boundaries, width_mm)
                 for _ in range(int(rng.integers(preset["ligaments"]["count"][0], preset["ligaments"]["count"][1] + 1)))]
    out = {"preset": preset_name, "layers": [l["tissue"] for l in preset["layers"]], "boundaries": boundaries,
           "ligaments": ligaments}
    if preset.get("structures"):
        out["mirrored"] = bool(rng.random() < 0.5) if preset.get("mirror") else False
        out["structures"] = _draw_structures(rng, preset, width_mm, out["mirrored"])
    lesions = _draw_lesions(rng, preset, boundaries, depth_mm, width_mm, out.get("structures", []), specimen)
    out.update(lesions=lesions, has_lesion=bool(lesions))
    if phys.image_formation >= 3:  # drawn last: the geometry above is image formation 2's
        anatomy2.apply(out, preset, rng, width_mm, depth_mm)
    return out


def _draw_ligament(rng, spec, boundaries, width_mm) -> dict:
    """A Cooper's ligament: a thin bright arc through fat and glandular tissue."""
    z0 = _u(rng, (boundaries[1]["base_mm"], boundaries[-2]["base_mm"]))
    x0 = _u(rng, (-0.2 * width_mm, 0.8 * width_mm))
    return {"z0_mm": z0, "x0_mm": x0, "x1_mm": x0 + _u(rng, (0.3, 0.8)) * width_mm,
            "slope": _u(rng, (-0.35, 0.35)), "amp_mm": _u(rng, (0.5, 3.0)), "wavelength_mm": _u(rng, (10.0, 40.0)),
            "phase": _u(rng, (0, 2 * math.pi)), "thickness_mm": _u(rng, spec["thickness_mm"]), "in": spec["in"]}


def _draw_lesions(rng, preset, boundaries, depth_mm, width_mm, structures=(), specimen=None) -> list:
    spec = preset["lesions"]
    w = np.array(spec["count_weights"], dtype=float)
    n = int(rng.choice(len(w), p=w / w.sum()))
    if "within_structure" in spec:
        return _draw_lesions_in_structure(rng, spec, structures, n, preset["tissues"])
    band = [l["tissue"] for l in preset["layers"]].index(spec["within"])
    lo_z = boundaries[band - 1]["base_mm"]
    hi_z = boundaries[band]["base_mm"] if band < len(boundaries) else depth_mm  # the last layer fills the field
    host = preset["tissues"][spec["within"]]
    if specimen is not None:
        return _draw_specimen_lesions(rng, specimen, spec, host, n, (lo_z, hi_z), depth_mm, width_mm,
                                      preset["specimens"]["jitter"])
    lesions = []
    for _ in range(40):  # rejection sampling for non-overlapping lesions inside the field
        if len(lesions) == n:
            break
        les = _draw_lesion(rng, spec, host)
        extent = les["radius_mm"] * les["extent"]
        zc = _u(rng, (lo_z + 0.3 * extent, max(lo_z + 0.3 * extent + 0.1, min(hi_z, depth_mm - extent - spec["margin_mm"]))))
        xc = _u(rng, (extent + spec["margin_mm"], max(extent + spec["margin_mm"] + 0.1, width_mm - extent - spec["margin_mm"])))
        les.update(zc_mm=zc, xc_mm=xc)
        if all(math.hypot(zc - o["zc_mm"], xc - o["xc_mm"]) > extent + o["radius_mm"] * o["extent"] + spec["overlap_gap_mm"]
               for o in lesions):
            lesions.append(les)
    return lesions


def _draw_specimen_lesions(rng, specimen, spec, host, n, band_z, depth_mm, width_mm, jitter) -> list:
    """Lesions (e.g. a bone) whose shape and tissue belong to the specimen, placed per case:
    the specimen fixes shape, size, tilt and depth within the host layer; each case moves
    the probe a little (lateral and depth shift, tilt, scale)."""
    base = _draw_lesion(specimen, spec, host)  # a fresh specimen stream per case: the same for every case
    depth_frac, x_frac = _u(specimen, (0.25, 0.75)), _u(specimen, (0.35, 0.65))
    lesions = []
    for _ in range(n):
        les = dict(base)
        les["radius_mm"] = base["radius_mm"] * (1 + _u(rng, (-1, 1)) * jitter["radius_scale"])
        les["rotation_rad"] = base["rotation_rad"] + _u(rng, (-1, 1)) * jitter["rotation_rad"]
        lo_z, hi_z = band_z
        zc = lo_z + depth_frac * (min(hi_z, depth_mm) - lo_z) + _u(rng, (-1, 1)) * jitter["zc_mm"]
        les.update(zc_mm=float(min(max(zc, lo_z), depth_mm - spec["margin_mm"])),
                   xc_mm=float(x_frac * width_mm + _u(rng, (-1, 1)) * jitter["xc_mm"]))
        lesions.append(les)
    return lesions


def _draw_lesions_in_structure(rng, spec, structures, n, tissues) -> list:
    """Lesions inside a named structure (a thyroid nodule inside the lobe), centred within
    `inner_frac` of the structure's radii, in its tissue."""
    hosts = [b for b in structures if b["name"] == spec["within_structure"]]
    if not hosts:
        return []
    host_body = hosts[-1]
    lesions = []
    for _ in range(n):
        les = _draw_lesion(rng, spec, host_body["tissue"])
        a = math.sqrt(host_body["aspect"])
        ang, rad = _u(rng, (0, 2 * math.pi)), spec.get("inner_frac", 0.5) * math.sqrt(_u(rng, (0, 1)))
        les.update(zc_mm=host_body["zc_mm"] + rad * host_body["radius_mm"] / a * math.sin(ang),
                   xc_mm=host_body["xc_mm"] + rad * host_body["radius_mm"] * a * math.cos(ang))
        lesions.append(les)
    return lesions


def _tissue_draw(rng, t: dict) -> dict:
    """One tissue's properties: each a fixed number or a [lo, hi] range."""
    return {k: (_u(rng, v) if isinstance(v, (list, tuple)) else float(v)) for k, v in t.items()}


def _draw_structures(rng, preset, width_mm, mirrored) -> list:
    """Named anatomical structures (an organ, a vessel, the trachea), drawn in order; each is
    an ellipse-like body (the lesion shape model) in its own tissue, optionally with a wall
    (an outer body in the wall's tissue, the inner one `thickness_mm` smaller). A structure
    placed `beside` another starts `gap_mm` after that one's lateral extent (negative = overlap)."""
    bodies, placed = [], {}
    for st in preset["structures"]:
        if rng.random() >= st.get("p", 1.0):
            continue
        radius, aspect = _u(rng, st["radius_mm"]), _u(rng, st["aspect"])
        half_w = radius * math.sqrt(aspect)
        if "beside" in st:
            ref = placed[st["beside"]["of"]]
            x = ref["x_unmirrored"] + ref["half_w"] + _u(rng, st["beside"]["gap_mm"]) + half_w
        else:
            x = _u(rng, st["x_frac"]) * width_mm
        harmonics = [[k, _u(rng, (amin, amax)) / math.sqrt(kmax - kmin + 1), _u(rng, (0, 2 * math.pi))]
                     for kmin, kmax, amin, amax in st.get("harmonics", []) for k in range(kmin, kmax + 1)]
        rot = _u(rng, st.get("rotation_rad", [0.0, 0.0]))
        body = {"name": st["name"], "label": st["label"], "zc_mm": _u(rng, st["z_mm"]),
                "xc_mm": width_mm - x if mirrored else x, "radius_mm": radius, "aspect": aspect,
                "rotation_rad": -rot if mirrored else rot, "harmonics": harmonics, "spicules": [],
                "extent": (1.0 + sum(h[1] for h in harmonics)) * math.sqrt(max(aspect, 1 / aspect))}
        placed[st["name"]] = {"x_unmirrored": x, "half_w": half_w}
        inner_tissue = _tissue_draw(rng, st["tissue"])
        if "wall" in st:
            thickness = _u(rng, st["wall"]["thickness_mm"])
            bodies.append(dict(body, part="wall", tissue=_tissue_draw(rng, st["wall"]["tissue"])))
            body = dict(body, radius_mm=max(radius - thickness, 0.3))
        bodies.append(dict(body, tissue=inner_tissue))
    return bodies


def _draw_lesion(rng, spec, host) -> dict:
    shape = _pick(rng, spec["shapes"])
    sh = spec["shapes"][shape]
    harmonics = []
    for kmin, kmax, amin, amax in sh["harmonics"]:
        for k in range(kmin, kmax + 1):
            harmonics.append([k, _u(rng, (amin, amax)) / math.sqrt(kmax - kmin + 1), _u(rng, (0, 2 * math.pi))])
    spicules = [[_u(rng, (0, 2 * math.pi)), _u(rng, sh["spicule_len"]), _u(rng, sh["spicule_width_rad"])]
                for _ in range(int(rng.integers(sh["spicules"][0], sh["spicules"][1] + 1)))]
    echo = _pick(rng, spec["echogenicity"])
    post = _pick(rng, spec["posterior"])
    e, p = spec["echogenicity"][echo], spec["posterior"][post]
    extent = 1.0 + sum(h[1] for h in harmonics) + max((s[1] for s in spicules), default=0.0)
    aspect = _u(rng, sh["aspect"])
    return {
        "shape": shape, "radius_mm": _u(rng, spec["radius_mm"]), "aspect": aspect,
        "extent": extent * math.sqrt(max(aspect, 1 / aspect)),
        "rotation_rad": _u(rng, (-0.4, 0.4)), "harmonics": harmonics, "spicules": spicules,
        "echogenicity": echo, "posterior": post, "label": spec["label"],
        **({"label_surface_mm": spec["label_surface_mm"]} if spec.get("label_surface_mm") else {}),
        "tissue": {"c": _u(rng, spec["c"]), "rho": _u(rng, spec["rho"]), "alpha": _u(rng, p["alpha"]),
                   "scat_amp": host["scat_amp"] * _u(rng, e["amp_factor"]),
                   "scat_density": min(1.0, host["scat_density"] * _u(rng, e["density_factor"]))},
    }


def lesion_mask(les: dict, z_mm: np.ndarray, x_mm: np.ndarray) -> np.ndarray:
    """Points inside a lesion's star-shaped boundary r(phi)."""
    dz, dx = z_mm - les["zc_mm"], x_mm - les["xc_mm"]
    c, s = math.cos(les["rotation_rad"]), math.sin(les["rotation_rad"])
    u, v = c * dx + s * dz, -s * dx + c * dz
    a = math.sqrt(les["aspect"])
    ru, rv = les["radius_mm"] * a, les["radius_mm"] / a
    rho = np.hypot(u / ru, v / rv)
    phi = np.arctan2(v / rv, u / ru)
    r = np.ones_like(phi)
    for k, amp, ph in les["harmonics"]:
        r += amp * np.cos(k * phi + ph)
    min_mm = les.get("spicule_min_mm")
    for ang, length, width in les["spicules"]:
        d = np.abs(np.angle(np.exp(1j * (phi - ang))))
        if min_mm:  # a flat tip at least min_mm wide (anatomy 2): full length within half the width
            width = max(width, min_mm / (les["radius_mm"] * min(a, 1 / a) * (1 + length)))
            r += length * np.clip(2 * (1 - d / width), 0, 1)
        else:
            r += length * np.clip(1 - d / width, 0, None)
    return rho <= r


def _grid_mm(shape, depth_m, width_m):
    rows, cols = shape
    z = (np.arange(rows) + 0.5) * depth_m * 1e3 / rows
    x = (np.arange(cols) + 0.5) * width_m * 1e3 / cols
    return np.meshgrid(z, x, indexing="ij")


def tissue_index(params: dict, z_mm: np.ndarray, x_mm: np.ndarray, tissue_names: list) -> np.ndarray:
    """Index into `tissue_names` per point; lesions get len(tissue_names) + i."""
    layer_of = np.zeros(z_mm.shape, dtype=np.int64)
    for b in params["boundaries"]:
        layer_of += z_mm >= b["base_mm"] + _curve(b["wobble"], x_mm)
    idx = np.array([tissue_names.index(t) for t in params["layers"]])[layer_of]
    _lobule_septa(params, idx, z_mm, x_mm, tissue_names)
    for lig in params["ligaments"]:
        zc = lig["z0_mm"] + lig["slope"] * (x_mm - lig["x0_mm"]) + lig["amp_mm"] * np.sin(
            2 * np.pi * x_mm / lig["wavelength_mm"] + lig["phase"])
        host = np.isin(idx, [tissue_names.index(t) for t in lig["in"]])
        on = (np.abs(z_mm - zc) < lig["thickness_mm"] / 2) & (x_mm >= lig["x0_mm"]) & (x_mm <= lig["x1_mm"]) & host
        idx[on] = tissue_names.index("ligament")
    all_bodies = bodies(params)
    for i, body in enumerate(all_bodies):
        mask = lesion_mask(body, z_mm, x_mm)
        idx[anatomy2.fill_below(mask) if body.get("fill_below") else mask] = len(tissue_names) + i
        if anatomy2.HALO_TISSUE_KEY in body:  # halo tissues follow the bodies' in the table
            idx[mask & ~lesion_mask(anatomy2.halo_inner(body), z_mm, x_mm)] = len(tissue_names) + len(all_bodies) + i
    return idx


def _lobule_septa(params: dict, idx: np.ndarray, z_mm, x_mm, tissue_names: list) -> None:
    """Anatomy 2: septa between fat lobules, in the layers the phantom's `lobules` names."""
    lob = params.get("lobules")
    if not lob:
        return
    host = np.isin(idx, [tissue_names.index(t) for t in lob["in"]])
    if host.any():
        idx[host & anatomy2.septum_mask(lob, z_mm, x_mm)] = tissue_names.index("ligament")


def bodies(params: dict) -> list:
    """Every labelled body of a phantom in drawing order (structures, then lesions): a later
    body overwrites an earlier one where they overlap, in the tissue and in the label."""
    return list(params.get("structures", [])) + list(params["lesions"])


def top_surface(mask: np.ndarray, z_mm: np.ndarray, band_mm: float) -> np.ndarray:
    """The part of `mask` within `band_mm` below its first pixel in each column: the surface
    an echo comes back from (a bone's top, facing the probe); what lies deeper is in shadow."""
    if not mask.any():
        return mask
    top = np.where(mask, z_mm, np.inf).min(axis=0, keepdims=True)
    return mask & (z_mm < top + band_mm)


def label_map(params: dict, phys: Physics) -> np.ndarray:
    z, x = _grid_mm(phys.out_shape, phys.depth_m, phys.width_m)
    label = np.zeros(phys.out_shape, dtype=np.uint8)
    for body in bodies(params):
        mask = lesion_mask(body, z, x)
        if body.get("label_surface_mm"):
            mask = top_surface(mask, z, body["label_surface_mm"])
        label[mask] = body["label"]
    return label


def acoustic_maps(params: dict, phys: Physics, rng: np.random.Generator) -> dict:
    """Sound speed, density, attenuation and scatterers on the simulation grid interior."""
    tissues = get_preset(params["preset"])["tissues"]
    names = list(tissues)
    body_list = bodies(params)
    props = ([tissues[n] for n in names] + [body["tissue"] for body in body_list]
             + [b.get(anatomy2.HALO_TISSUE_KEY, {}).get("tissue", b["tissue"]) for b in body_list])
    z, x = _grid_mm((phys.rows, phys.cols), phys.depth_m, phys.width_m)
    idx = tissue_index(params, z, x, names)
    table = lambda key: np.array([p[key] for p in props], dtype=np.float64)[idx]
    if params.get("anatomy", 1) >= 2:  # area-weighted properties: interfaces continuous below the grid step
        base = _cell_means(params, phys, names, props)
    else:
        base = {k: table(k) for k in ("c", "rho", "alpha")}
    has = rng.random(idx.shape) < table("scat_density")
    fluct = table("scat_amp") * rng.standard_normal(idx.shape) * has
    if phys.image_formation == 3:  # scatterers off the grid lattice (fully developed speckle)
        from . import image_formation3 as if3

        positions = if3.scatterer_positions(fluct, rng)
        fluct = if3.render_scatterers(positions, fluct.shape)
    maps = {"sound_speed": np.clip(base["c"] * (1 + fluct), phys.c_min, phys.c_max),
            "density": base["rho"] * (1 + fluct),
            "alpha_coeff": base["alpha"],
            "tissue_index": idx}
    if phys.image_formation == 3:  # the k-Wave path's own, axially finer grid (if3.AXIAL_REFINE says why)
        maps["kwave"] = if3.kwave_maps(base, positions, phys)
    if params.get("anatomy", 1) >= 2:  # the fast backend's specular part (its interfaces, partial volumes included)
        maps["impedance_base"] = np.clip(base["c"], phys.c_min, phys.c_max) * base["rho"]
    return maps


SUBCELLS = 3  # anatomy 2: tissue sampled 3 x 3 times per grid cell, properties averaged


def _cell_means(params, phys: Physics, names: list, props: list) -> dict:
    """Sound speed, density and attenuation averaged over SUBCELLS^2 points per grid cell
    (area-weighted rasterisation): an oblique interface becomes a continuous ramp of
    partial-volume cells instead of a staircase, so its echo is a line, not a row of beads.
    The density is averaged harmonically across air (a pressure-release cell stays one)."""
    s = SUBCELLS
    z, x = _grid_mm((phys.rows * s, phys.cols * s), phys.depth_m, phys.width_m)
    idx = tissue_index(params, z, x, names)
    out = {}
    for key in ("c", "rho", "alpha"):
        v = np.array([p[key] for p in props], dtype=np.float64)[idx]
        out[key] = v.reshape(phys.rows, s, phys.cols, s).mean(axis=(1, 3))
    return out
