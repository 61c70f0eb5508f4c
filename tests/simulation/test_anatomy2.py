"""Anatomy 2 (image formation 3's phantoms): the geometry and labels of image formation 2's draw
kept; fat lobules with septa; air and bone; continuous interfaces; iso-echoic halos;
spicules no thinner than the system resolves."""

import numpy as np
import pytest

from sonobench.simulation import anatomy2, phantom
from sonobench.simulation.physics import Physics, imaging_preset
from sonobench.simulation.presets import get_preset
from sonobench.simulation.sample import sample_rngs

IF3 = imaging_preset("if3-l7-4")
# the same field and grid without image formation 3 (so without anatomy 2)
IF2_SAME_FIELD = Physics(f0_hz=IF3.f0_hz, dx_m=IF3.dx_m, pml=IF3.pml, rows=IF3.rows, cols=IF3.cols)


def _draw(preset, index, phys, seed=2026):
    spec = phantom.specimen_rng(seed, phantom.specimen_of(preset, index))
    return phantom.draw_phantom(preset, sample_rngs(seed, index)[0], phys, spec)


def _tissue(preset, params, phys):
    names = list(get_preset(preset)["tissues"])
    z, x = phantom._grid_mm((phys.rows, phys.cols), phys.depth_m, phys.width_m)
    return phantom.tissue_index(params, z, x, names), names, z, x


@pytest.mark.parametrize("preset", ["breast-lesion", "neck-thyroid", "bone-surface"])
def test_anatomy2_keeps_geometry_and_labels_of_unspiculated_cases(preset):
    for index in range(6):
        new, old = _draw(preset, index, IF3), _draw(preset, index, IF2_SAME_FIELD)
        assert new["anatomy"] == 2 and "anatomy" not in old
        assert new["boundaries"] == old["boundaries"] and new["ligaments"] == old["ligaments"]
        for a, b in zip(phantom.bodies(new), phantom.bodies(old)):
            assert (a["zc_mm"], a["xc_mm"], a["radius_mm"], a["harmonics"]) == (
                b["zc_mm"],
                b["xc_mm"],
                b["radius_mm"],
                b["harmonics"],
            )
        if not any(les["spicules"] for les in new["lesions"]):
            assert np.array_equal(phantom.label_map(new, IF3), phantom.label_map(old, IF3))


def test_fat_is_cut_into_lobules_by_septa():
    p = _draw("breast-lesion", 0, IF3)
    idx, names, z, x = _tissue("breast-lesion", p, IF3)
    fat_band = z < p["boundaries"][2]["base_mm"]  # gel, skin, subcutaneous fat
    septum = (idx == names.index("ligament")) & fat_band & (z > p["boundaries"][1]["base_mm"] + 0.3)
    fat = (idx == names.index("fat")) & fat_band
    share = septum.sum() / (septum.sum() + fat.sum())
    assert 0.03 < share < 0.2  # thin septa, not a fat layer of ligament
    # lobules: along a row through the fat, the septa cut it every few millimetres
    row = int(np.argmax(fat.sum(axis=1)))
    crossings = np.count_nonzero(np.diff(septum[row].astype(int)) == 1)
    assert crossings >= IF3.width_m * 1e3 / 12
    old = _draw("breast-lesion", 0, IF2_SAME_FIELD)
    idx_old, *_ = _tissue("breast-lesion", old, IF2_SAME_FIELD)
    ligament_before = (idx_old == names.index("ligament")) & fat_band & (z > old["boundaries"][1]["base_mm"] + 0.3)
    assert septum.sum() > 2 * ligament_before.sum()  # the septa are new, not the Cooper's ligaments


def test_trachea_lumen_is_air_and_bone_fills_below_its_surface():
    p = _draw("neck-thyroid", 0, IF3)
    maps = phantom.acoustic_maps(p, IF3, np.random.default_rng(0))
    lumen = [b for b in phantom.bodies(p) if b.get("name") == "trachea" and b.get("part") != "wall"][0]
    z, x = phantom._grid_mm((IF3.rows, IF3.cols), IF3.depth_m, IF3.width_m)
    inside = phantom.lesion_mask(dict(lumen, radius_mm=lumen["radius_mm"] - 0.3), z, x)
    assert np.mean(np.isclose(maps["density"][inside], anatomy2.AIR_RHO)) > 0.8  # the lobe overlaps its side
    b = _draw("bone-surface", 0, IF3)
    idx, names, z, x = _tissue("bone-surface", b, IF3)
    bone = idx == len(names)  # the bone is the first (only) body
    cols = np.flatnonzero(bone.any(axis=0))
    top = bone.argmax(axis=0)[cols]
    assert all(bone[t:, c].all() for t, c in zip(top, cols))  # no back wall: bone to the bottom
    rho = phantom.acoustic_maps(b, IF3, np.random.default_rng(0))["density"]
    assert np.median(rho[bone]) == pytest.approx(3900, rel=0.05)


def test_oblique_interfaces_are_partial_volume_ramps_not_staircases():
    """Area-weighted cells: across an oblique interface the density takes intermediate values."""
    p = _draw("bone-surface", 0, IF3)
    rng = np.random.default_rng(0)
    maps = phantom.acoustic_maps(p, IF3, rng)
    idx, names, *_ = _tissue("bone-surface", p, IF3)
    bone = idx == len(names)
    edge = bone & ~np.roll(bone, 1, axis=0)  # the first bone cell of each column
    c = maps["sound_speed"]  # capped at c_max in bone; soft tissue below it
    rho_edge = maps["density"][np.roll(edge, -1, axis=0)]  # the cell above the first full one
    partial = (rho_edge > 1300) & (rho_edge < 3500)
    assert partial.mean() > 0.5, "oblique surface cells should be partial-volume"
    assert np.isfinite(c).all()


def test_iso_lesions_get_a_halo_and_posterior_enhancement():
    found = 0
    for index in range(60):
        p = _draw("breast-lesion", index, IF3)
        for les in p["lesions"]:
            if les["echogenicity"] == "iso":
                halo = les[anatomy2.HALO_TISSUE_KEY]
                assert halo["tissue"]["scat_amp"] == pytest.approx(0.1 * les["tissue"]["scat_amp"])
                assert les["posterior"] != "none"
                found += 1
            else:
                assert anatomy2.HALO_TISSUE_KEY not in les
    assert found >= 3


def test_spicules_are_at_least_the_lateral_resolution_wide():
    les = {
        "zc_mm": 10.0,
        "xc_mm": 10.0,
        "radius_mm": 3.0,
        "aspect": 1.0,
        "rotation_rad": 0.0,
        "harmonics": [],
        "spicules": [[0.0, 0.8, 0.06]],
    }  # along +x, 0.8 radii long, 0.06 rad wide: a needle
    z, x = np.meshgrid(np.arange(0, 20, 0.02), np.arange(0, 20, 0.02), indexing="ij")
    for min_mm, ok in ((None, False), (anatomy2.SPICULE_MIN_MM, True)):
        mask = phantom.lesion_mask(dict(les, **({"spicule_min_mm": min_mm} if min_mm else {})), z, x)
        tip_x = x[mask].max()
        col = np.argmin(np.abs(x[0] - (tip_x - 0.1)))  # 0.1 mm behind the tip
        width = mask[:, col].sum() * 0.02
        assert (width >= anatomy2.SPICULE_MIN_MM - 0.04) == ok, width
