"""Phantom anatomy: named structures (neck), surface-band labels and specimens (bone), and
that the breast preset still draws exactly what sim-breast-lesion@1 recorded (and @2,
which re-images the same phantoms, records)."""
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sonobench.simulation import dataset, phantom
from sonobench.simulation.dataset import _round
from sonobench.simulation.physics import Physics
from sonobench.simulation.presets import get_preset
from sonobench.simulation.sample import Backend, make_sample, sample_rngs

ROOT = Path(__file__).resolve().parents[2]


def _draw(preset, index, seed=2026, phys=None):
    phys = phys or Physics()
    spec = phantom.specimen_rng(seed, phantom.specimen_of(preset, index))
    return phantom.draw_phantom(preset, sample_rngs(seed, index)[0], phys, spec)


@pytest.mark.parametrize("index", [0, 1, 7, 42, 299])
def test_breast_phantoms_are_the_ones_the_committed_task_recorded(index):
    """The anatomy changes must not move a single draw of the breast preset."""
    meta = json.loads((ROOT / f"splits/sim-breast-lesion/v2/data/meta/breast-lesion-{index:05d}.json").read_text())
    phys = Physics.from_json(meta["physics"])
    drawn = phantom.draw_phantom("breast-lesion", sample_rngs(meta["seed"], index)[0], phys)
    assert _round(drawn) == meta["phantom"]
    assert phantom.specimen_of("breast-lesion", index) is None


def test_neck_has_every_class_with_realistic_imbalance():
    phys = Physics()
    areas = Counter()
    present = Counter()
    for i in range(12):
        label = phantom.label_map(_draw("neck-thyroid", i), phys)
        for c, n in zip(*np.unique(label, return_counts=True)):
            areas[int(c)] += int(n)
            present[int(c)] += 1
    classes = get_preset("neck-thyroid")["classes"]
    assert len(classes) == 6 and set(areas) == set(range(6))
    assert present[1] == present[3] == present[5] == 12  # lobe, artery and trachea always in view
    assert 0 < present[2] < 12 and present[4] >= 8      # nodules in some lobes; the vein mostly seen
    # the lobe is the largest structure, the nodule the smallest (imbalance as in a real scan)
    fg = {c: areas[c] for c in range(1, 6)}
    assert max(fg, key=fg.get) in (1, 5) and min(fg, key=fg.get) == 2


def test_nodule_lies_inside_the_lobe_and_vessel_walls_carry_the_vessel_label():
    phys = Physics()
    z, x = phantom._grid_mm(phys.out_shape, phys.depth_m, phys.width_m)
    seen_nodule = False
    for i in range(12):
        p = _draw("neck-thyroid", i)
        lobe = [b for b in p["structures"] if b["name"] == "thyroid"][0]
        lobe_mask = phantom.lesion_mask(lobe, z, x)
        label = phantom.label_map(p, phys)
        for les in p["lesions"]:
            seen_nodule = True
            nodule = label == 2
            assert nodule.any() and (lobe_mask[nodule].mean() > 0.9)
        walls = [b for b in p["structures"] if b.get("part") == "wall"]
        assert {b["name"] for b in walls} >= {"carotid-artery", "trachea"}
        artery = [b for b in p["structures"] if b["name"] == "carotid-artery"]
        wall, lumen = artery
        ring = phantom.lesion_mask(wall, z, x) & ~phantom.lesion_mask(lumen, z, x)
        assert wall["tissue"]["scat_density"] > 0 and lumen["tissue"]["scat_density"] == 0  # anechoic blood
        assert (label[ring] == 3).mean() > 0.9
    assert seen_nodule


def test_mirroring_puts_the_trachea_on_either_side():
    width = Physics().width_m * 1e3
    sides = {("left" if b["xc_mm"] < width / 2 else "right") == ("left" if not p["mirrored"] else "right")
             for p in (_draw("neck-thyroid", i) for i in range(12))
             for b in p["structures"] if b["name"] == "trachea"}
    assert sides == {True}
    assert {_draw("neck-thyroid", i)["mirrored"] for i in range(12)} == {True, False}


def test_top_surface_keeps_a_band_of_the_given_depth():
    z = np.repeat(np.arange(40, dtype=float)[:, None] * 0.1, 30, axis=1)  # 0.1 mm rows
    mask = np.zeros((40, 30), bool)
    mask[10:30, 5:25] = True
    band = phantom.top_surface(mask, z, 0.5)
    assert band[10:15, 5:25].all() and not band[15:].any() and not band[:, :5].any()
    assert not phantom.top_surface(np.zeros_like(mask), z, 0.5).any()


def test_bone_label_is_a_thin_band_on_the_surface_facing_the_probe():
    phys = Physics()
    z, x = phantom._grid_mm(phys.out_shape, phys.depth_m, phys.width_m)
    band_mm = get_preset("bone-surface")["lesions"]["label_surface_mm"]
    checked = 0
    for i in range(0, 40, 3):
        p = _draw("bone-surface", i)
        label = phantom.label_map(p, phys)
        if not p["lesions"]:
            assert not label.any()
            continue
        bone = phantom.lesion_mask(p["lesions"][0], z, x)
        fg = label == 1
        assert fg.any() and (fg <= bone).all()
        cols = np.flatnonzero(fg.any(axis=0))
        for c in cols:
            rows = np.flatnonzero(fg[:, c])
            assert rows[0] == np.flatnonzero(bone[:, c])[0]            # starts at the bone's top
            assert (rows[-1] - rows[0] + 1) * phys.pixel_mm[0] <= band_mm + phys.pixel_mm[0]
        checked += 1
    assert checked >= 8


def test_a_specimen_shares_its_bone_and_the_split_follows_the_specimen():
    per = get_preset("bone-surface")["specimens"]["cases_per_specimen"]
    bones = {}
    for i in range(3 * per):
        p = _draw("bone-surface", i)
        for les in p["lesions"]:
            bones.setdefault(i // per, []).append(les)
    for spec, items in bones.items():
        assert len({(b["shape"], b["aspect"], json.dumps(b["tissue"], sort_keys=True)) for b in items}) == 1
        assert len({round(b["xc_mm"], 6) for b in items}) > 1  # the probe moved between cases
    assert bones[0][0]["aspect"] != bones[1][0]["aspect"]
    split = dataset.assign_splits("bone-surface", 2026, 240, Physics())
    by_specimen = {}
    for i, s in split.items():
        by_specimen.setdefault(i // per, set()).add(s)
    assert all(len(v) == 1 for v in by_specimen.values())
    assert Counter(split.values())["test"] >= 80


def test_new_presets_make_samples_on_the_fast_backend():
    phys = Physics(rows=96, cols=64, out_shape=(96, 64))
    for preset in ("neck-thyroid", "bone-surface"):
        s = make_sample(preset, 1, 3, phys, Backend.FAST)
        assert s.image.shape == s.label.shape == (96, 64) and s.image.dtype == np.uint8
        assert int(s.label.max()) < len(get_preset(preset)["classes"])
    assert make_sample("bone-surface", 1, 3, phys, Backend.FAST).meta["specimen"] == 0
    assert math.isfinite(make_sample("neck-thyroid", 1, 3, phys, Backend.FAST).meta["seconds"])
