"""Phantom presets: plain data, looked up by name. The phantom code reads these
dicts and never branches on a preset's name.

Units: sound speed m/s, density kg/m^3, attenuation dB/(MHz^y cm), lengths mm.
A tissue's scatterers: `scat_density` is the fraction of grid points holding a
sub-resolution scatterer, `scat_amp` the relative std of its density and sound
speed fluctuation (k-Wave's usual speckle model). Ranges [lo, hi] are drawn
uniformly per sample.

Values follow published soft-tissue ranges (e.g. Duck, *Physical Properties of
Tissue*; Szabo, *Diagnostic Ultrasound Imaging*); echogenicities are tuned so the
B-mode contrast between layers resembles a clinical breast scan.
"""
from __future__ import annotations

from sonobench.kernel.registry import Registry

BREAST_TISSUES = {
    "gel": {"c": 1540.0, "rho": 1000.0, "alpha": 0.05, "scat_density": 0.0, "scat_amp": 0.0},
    "skin": {"c": 1615.0, "rho": 1090.0, "alpha": 1.5, "scat_density": 0.9, "scat_amp": 0.01125},
    "fat": {"c": 1450.0, "rho": 950.0, "alpha": 0.5, "scat_density": 0.12, "scat_amp": 0.00625},
    "gland": {"c": 1520.0, "rho": 1040.0, "alpha": 0.75, "scat_density": 0.6, "scat_amp": 0.00875},
    "muscle": {"c": 1580.0, "rho": 1065.0, "alpha": 1.0, "scat_density": 0.35, "scat_amp": 0.00625},
    "ligament": {"c": 1600.0, "rho": 1100.0, "alpha": 1.2, "scat_density": 0.9, "scat_amp": 0.015},
}

_PRESETS: dict[str, dict] = {
    "breast-lesion": {
        "title": "Breast with 0-2 lesions (skin, subcutaneous fat, glandular tissue, retromammary fat, muscle)",
        "family": "breast",  # the task family its datasets join (task.json "family"; `sonobench crosseval`)
        # What a task frozen from a k-Wave run of this preset says about itself (simulation.task).
        "task": {"title": "Simulated breast ultrasound lesion segmentation ({n} k-Wave B-mode images)",
                 "note": "About a quarter of the cases are normal (no lesion).", "primary_metric": "dice"},
        "classes": ["background", "lesion"],
        "tissues": BREAST_TISSUES,
        # Layers from the skin surface down; the last one fills the rest of the field.
        "layers": [
            {"tissue": "gel", "thickness_mm": [1.1, 1.4]},   # coupling gel under the array
            {"tissue": "skin", "thickness_mm": [1.4, 2.2]},
            {"tissue": "fat", "thickness_mm": [3.0, 8.0]},
            {"tissue": "gland", "thickness_mm": [12.0, 20.0]},
            {"tissue": "fat", "thickness_mm": [1.5, 4.0]},
            {"tissue": "muscle", "thickness_mm": None},
        ],
        "interface_wobble_mm": [0.5, 2.5],     # amplitude of the smooth undulation of each boundary
        "ligaments": {"count": [2, 6], "thickness_mm": [0.25, 0.45], "in": ["fat", "gland"]},
        "lesions": {
            "count_weights": [0.25, 0.55, 0.20],           # P(0), P(1), P(2) lesions
            "label": 1,
            "within": "gland",                             # centres drawn inside this tissue's depth band
            "margin_mm": 1.0,
            "radius_mm": [2.5, 8.0],
            "shapes": {
                "round": {"weight": 0.2, "aspect": [0.9, 1.1], "harmonics": [[2, 3, 0.0, 0.04]], "spicules": [0, 0]},
                "oval": {"weight": 0.3, "aspect": [1.3, 2.0], "harmonics": [[2, 3, 0.0, 0.05]], "spicules": [0, 0]},
                "lobulated": {"weight": 0.25, "aspect": [1.0, 1.6], "harmonics": [[3, 5, 0.08, 0.18]], "spicules": [0, 0]},
                "irregular": {"weight": 0.25, "aspect": [0.8, 1.4], "harmonics": [[2, 4, 0.05, 0.12], [6, 14, 0.02, 0.06]],
                              "spicules": [4, 10], "spicule_len": [0.3, 0.8], "spicule_width_rad": [0.06, 0.14]},
            },
            "echogenicity": {   # scatter amplitude and density relative to glandular tissue
                "hypo": {"weight": 0.6, "amp_factor": [0.05, 0.25], "density_factor": [0.3, 1.0]},
                "iso": {"weight": 0.2, "amp_factor": [0.75, 1.1], "density_factor": [0.8, 1.2]},
                "hyper": {"weight": 0.2, "amp_factor": [1.5, 2.2], "density_factor": [1.0, 1.5]},
            },
            "posterior": {      # lesion attenuation drives posterior shadowing / enhancement physically
                "shadowing": {"weight": 0.35, "alpha": [2.5, 4.5]},
                "enhancement": {"weight": 0.3, "alpha": [0.05, 0.25]},
                "none": {"weight": 0.35, "alpha": [0.6, 0.9]},
            },
            "c": [1510.0, 1580.0],
            "rho": [1020.0, 1080.0],
            "overlap_gap_mm": 1.5,
        },
        # image formation 3's anatomy (simulation/anatomy2.py): fat lobules with septa; iso-echoic
        # lesions with a hypo-echoic halo 0.7 mm thick (a tenth of the lesion's scatter amplitude)
        # and, where they had none, posterior enhancement
        "anatomy2": {"lobules": {"in": ["fat"], "size_mm": 5.0, "aspect": 1.8, "septum_mm": 0.2},
                     "halo": {"iso": {"thickness_mm": 0.7, "amp_factor": 0.1, "posterior_alpha": 0.2}},
                     "echo_scale": {"hyper": 1.4}},
    },
}


MSK_TISSUES = {
    "gel": BREAST_TISSUES["gel"],
    "skin": BREAST_TISSUES["skin"],
    "fat": BREAST_TISSUES["fat"],
    "muscle": {"c": 1580.0, "rho": 1065.0, "alpha": 1.0, "scat_density": 0.5, "scat_amp": 0.008},
    "ligament": {"c": 1600.0, "rho": 1100.0, "alpha": 1.2, "scat_density": 0.9, "scat_amp": 0.012},
}

# Bone: a flat, slightly curved cortical plate. Its impedance (density ~1900
# kg/m^3; sound speed capped at the grid's c_max) gives the bright surface echo, its
# attenuation the acoustic shadow beneath. Label = the bone's surface facing the probe,
# a band `label_surface_mm` thick (UltraBones100k labels the surface, not the bone: what
# lies below the first echo is shadow). Cases come in specimens of 10: one bone shape and
# tissue per specimen, the probe moved a little per case; the split is by specimen.
_PRESETS["bone-surface"] = {
    "title": "Bone surface under skin, fat and muscle (UltraBones-like)",
    "family": "bone",
    "task": {"title": "Simulated musculoskeletal ultrasound bone-surface segmentation ({n} k-Wave B-mode images)",
             "note": ("The label is the bone surface facing the probe as a 0.5 mm band; cases come in "
                      "specimens of 10 sharing one bone, split by specimen; about 15 % show no bone."),
             # ranked by the thin-structure F1 (evaluator/metrics/thin.py) within 0.5 mm (the band's own thickness)
             "primary_metric": "surface_f1", "surface_tolerance": 0.5,
             "board": "thin-structure"},  # the leaderboard's columns (evaluator.metrics.defaults.BOARDS)
    "classes": ["background", "bone"],
    "specimens": {"cases_per_specimen": 10,
                  # per case: the probe moves laterally / in depth, tilts, and the bone's scale varies
                  "jitter": {"xc_mm": 3.0, "zc_mm": 1.5, "rotation_rad": 0.1, "radius_scale": 0.08}},
    "tissues": MSK_TISSUES,
    "layers": [
        {"tissue": "gel", "thickness_mm": [1.1, 1.4]},
        {"tissue": "skin", "thickness_mm": [1.2, 2.0]},
        {"tissue": "fat", "thickness_mm": [2.0, 6.0]},
        {"tissue": "muscle", "thickness_mm": None},
    ],
    "interface_wobble_mm": [0.3, 1.5],
    "ligaments": {"count": [2, 8], "thickness_mm": [0.2, 0.35], "in": ["muscle"]},
    "lesions": {
        "count_weights": [0.15, 0.85, 0.0],
        "label": 1,
        "label_surface_mm": 0.5,
        "within": "muscle",
        "margin_mm": 0.5,
        "radius_mm": [3.0, 5.0],
        "shapes": {
            "plate": {"weight": 0.7, "aspect": [5.0, 8.0], "harmonics": [[2, 3, 0.0, 0.03]], "spicules": [0, 0]},
            "ridge": {"weight": 0.3, "aspect": [3.5, 5.0], "harmonics": [[2, 4, 0.03, 0.1]], "spicules": [0, 0]},
        },
        "echogenicity": {"hyper": {"weight": 1.0, "amp_factor": [2.0, 3.0], "density_factor": [1.0, 1.5]}},
        "posterior": {"shadowing": {"weight": 1.0, "alpha": [15.0, 25.0]}},
        "c": [1650.0, 1650.0],
        "rho": [1800.0, 1950.0],
        "overlap_gap_mm": 1.5,
    },
    # image formation 3 (simulation/anatomy2.py): cortical bone's impedance, 1650 m/s x 3900 kg/m^3
    # = 6.4 MRayl (cortex ~3500 m/s x 1900 kg/m^3; the grid caps the speed, the density carries
    # the impedance: reflection 0.58 against muscle), and bone filling everything below its surface,
    # absorbing 40 dB/(MHz^y cm) with no scatterers: k-Wave's power-law absorption saturates for
    # strong absorption (3 mm of bone at the drawn 16.7 took a deep echo down 21 dB, not the 61 dB
    # nominal; 40 and 80 both ~34 dB), and the bone's own scatterers showed as speckle below the
    # surface (a 5 dB "shadow" on the first k-Wave frames)
    "anatomy2": {"lobules": {"in": ["fat"], "size_mm": 5.0, "aspect": 1.8, "septum_mm": 0.2}, "lesion_tissue": {"rho": 3900.0, "alpha": 40.0, "scat_density": 0.0},
                 "fill_below": True},
}

# Neck, transverse view of one thyroid lobe (a linear probe over the thyroid, as in thyroid
# and carotid screening). Same field and grid as the breast task, so a k-Wave frame costs the
# same; the anatomy fits a 33.6 mm field: trachea at the medial edge (its anterior wall, the
# only part a plane wave sees back, inside the field), the lobe wrapping against it,
# the common carotid artery lateral to the lobe, the internal jugular vein superficial and
# lateral to the artery. Acoustics: thyroid parenchyma homogeneous and brighter than the strap
# muscles; blood anechoic with little attenuation (posterior enhancement); vessel walls
# echogenic; tracheal cartilage hypoechoic with air behind it (low impedance: a bright curved
# echo and a full shadow). Sizes (adult; Duck, Szabo, thyroid/carotid sonography references):
# lobe ~15-20 mm wide and 10-15 mm deep, CCA 6-8 mm, IJV 5-12 mm and flattened, trachea ~18 mm.
NECK_TISSUES = {
    "gel": BREAST_TISSUES["gel"],
    "skin": BREAST_TISSUES["skin"],
    "fat": BREAST_TISSUES["fat"],
    "strap": {"c": 1580.0, "rho": 1065.0, "alpha": 1.0, "scat_density": 0.3, "scat_amp": 0.006},
    "connective": {"c": 1540.0, "rho": 1040.0, "alpha": 0.8, "scat_density": 0.35, "scat_amp": 0.0065},
    "muscle": {"c": 1580.0, "rho": 1065.0, "alpha": 1.0, "scat_density": 0.35, "scat_amp": 0.006},
    "ligament": BREAST_TISSUES["ligament"],
}
_BLOOD = {"c": 1584.0, "rho": 1060.0, "alpha": 0.15, "scat_density": 0.0, "scat_amp": 0.0}
_VESSEL_WALL = {"c": 1600.0, "rho": 1100.0, "alpha": 1.2, "scat_density": 0.9, "scat_amp": [0.011, 0.015]}

_PRESETS["neck-thyroid"] = {
    "title": "Neck, transverse thyroid view: thyroid lobe, nodule, carotid artery, jugular vein, trachea",
    "family": "neck",
    "task": {"title": "Simulated neck ultrasound: thyroid, nodule, carotid artery, jugular vein, trachea "
                      "({n} k-Wave B-mode images)",
             "note": "Half the lobes hold a nodule; the jugular vein is absent (collapsed) in about 15 %.",
             "primary_metric": "dice"},
    "classes": ["background", "thyroid", "nodule", "carotid-artery", "jugular-vein", "trachea"],
    "tissues": NECK_TISSUES,
    "layers": [
        {"tissue": "gel", "thickness_mm": [1.1, 1.4]},
        {"tissue": "skin", "thickness_mm": [1.2, 2.0]},
        {"tissue": "fat", "thickness_mm": [1.0, 3.0]},
        {"tissue": "strap", "thickness_mm": [2.0, 4.0]},       # sternohyoid / sternothyroid
        {"tissue": "connective", "thickness_mm": [17.0, 22.0]},
        {"tissue": "muscle", "thickness_mm": None},            # longus colli / prevertebral
    ],
    "interface_wobble_mm": [0.3, 1.2],
    "ligaments": {"count": [0, 2], "thickness_mm": [0.2, 0.35], "in": ["fat", "connective"]},
    "mirror": True,  # left or right lobe: the trachea at the left or the right edge
    "structures": [  # drawn in order; a later one overwrites an earlier one where they overlap
        {"name": "trachea", "label": 5, "x_frac": [0.0, 0.1], "z_mm": [15.0, 19.0],
         "radius_mm": [8.0, 9.5], "aspect": [1.0, 1.2],
         "wall": {"thickness_mm": [1.2, 1.8],   # cartilage ring
                  "tissue": {"c": 1640.0, "rho": 1100.0, "alpha": 1.5, "scat_density": 0.1, "scat_amp": 0.004}},
         "tissue": {"c": 1450.0, "rho": 100.0, "alpha": 4.0, "scat_density": 0.0, "scat_amp": 0.0}},  # air, as far as the grid allows (see the task README)
        {"name": "thyroid", "label": 1, "beside": {"of": "trachea", "gap_mm": [-6.0, -3.5]}, "z_mm": [13.0, 16.5],
         "radius_mm": [5.5, 7.0], "aspect": [1.2, 1.7], "rotation_rad": [-0.15, 0.15],
         "harmonics": [[2, 3, 0.0, 0.06]],
         "tissue": {"c": 1560.0, "rho": 1050.0, "alpha": 1.0, "scat_density": [0.8, 0.95], "scat_amp": [0.012, 0.015]}},
        {"name": "jugular-vein", "label": 4, "p": 0.85, "beside": {"of": "thyroid", "gap_mm": [-3.0, 1.0]},
         "z_mm": [8.0, 11.0], "radius_mm": [2.5, 4.5], "aspect": [1.4, 2.6], "rotation_rad": [-0.2, 0.2],
         "wall": {"thickness_mm": [0.25, 0.35], "tissue": _VESSEL_WALL}, "tissue": _BLOOD},
        {"name": "carotid-artery", "label": 3, "beside": {"of": "thyroid", "gap_mm": [0.3, 2.0]},
         "z_mm": [16.0, 20.0], "radius_mm": [3.0, 4.0], "aspect": [0.95, 1.08],
         "wall": {"thickness_mm": [0.6, 0.9], "tissue": _VESSEL_WALL}, "tissue": _BLOOD},
    ],
    "lesions": {  # the nodule, inside the lobe
        "count_weights": [0.5, 0.5, 0.0],
        "label": 2,
        "within_structure": "thyroid",
        "inner_frac": 0.45,
        "margin_mm": 0.5,
        "radius_mm": [1.5, 4.0],
        "shapes": {
            "round": {"weight": 0.4, "aspect": [0.9, 1.15], "harmonics": [[2, 3, 0.0, 0.04]], "spicules": [0, 0]},
            "oval": {"weight": 0.35, "aspect": [1.2, 1.7], "harmonics": [[2, 3, 0.0, 0.05]], "spicules": [0, 0]},
            "irregular": {"weight": 0.25, "aspect": [0.8, 1.3], "harmonics": [[2, 4, 0.05, 0.12], [6, 12, 0.02, 0.05]],
                          "spicules": [0, 0]},
        },
        "echogenicity": {  # relative to the thyroid parenchyma
            "hypo": {"weight": 0.5, "amp_factor": [0.2, 0.5], "density_factor": [0.5, 1.0]},
            "iso": {"weight": 0.2, "amp_factor": [0.8, 1.1], "density_factor": [0.9, 1.1]},
            "hyper": {"weight": 0.1, "amp_factor": [1.4, 1.9], "density_factor": [1.0, 1.2]},
            "cystic": {"weight": 0.2, "amp_factor": [0.0, 0.05], "density_factor": [0.0, 0.2]},
        },
        "posterior": {
            "none": {"weight": 0.6, "alpha": [0.8, 1.1]},
            "enhancement": {"weight": 0.25, "alpha": [0.05, 0.3]},
            "shadowing": {"weight": 0.15, "alpha": [2.5, 4.0]},
        },
        "c": [1530.0, 1580.0],
        "rho": [1030.0, 1070.0],
        "overlap_gap_mm": 1.0,
    },
    # image formation 3 (simulation/anatomy2.py): the trachea's lumen is air (pressure release),
    # iso-echoic nodules get a halo and posterior enhancement, the thin fat layer its lobules
    "anatomy2": {"lobules": {"in": ["fat"], "size_mm": 5.0, "aspect": 1.8, "septum_mm": 0.2}, "structure_tissue": {"trachea": {"rho": 100.0}},
                 "halo": {"iso": {"thickness_mm": 0.6, "amp_factor": 0.1, "posterior_alpha": 0.3}},
                 "echo_scale": {"hyper": 1.4}},
}

PRESETS: Registry[dict] = Registry("phantom preset")
for _name, _entry in _PRESETS.items():
    PRESETS.register(_name, _entry)


def get_preset(name: str) -> dict:
    return PRESETS.get(name)
