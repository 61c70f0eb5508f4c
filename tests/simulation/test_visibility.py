"""Lesion contrast and CNR on the displayed image (simulation.visibility), against known answers."""

import numpy as np
import pytest

from sonobench.simulation import phantom, visibility
from sonobench.simulation.physics import imaging_preset
from sonobench.simulation.sample import sample_rngs

PHYS = imaging_preset("if3-l7-4")


def _breast_case_with_a_lesion():
    for index in range(20):
        p = phantom.draw_phantom("breast-lesion", sample_rngs(2026, index)[0], PHYS)
        if len(p["lesions"]) == 1:
            return p
    raise AssertionError("no one-lesion case in the first 20")


def test_cnr_and_contrast_of_a_lesion_with_known_grey_levels():
    p = _breast_case_with_a_lesion()
    label = phantom.label_map(p, PHYS)
    inside = visibility.lesion_regions(p, PHYS)[0]
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(120, 20, PHYS.out_shape), 0, 255)
    image[inside] = np.clip(rng.normal(90, 20, inside.sum()), 0, 255)
    f = visibility.measure(image.astype(np.uint8), label, p, PHYS)[0]
    assert f["cnr"] == pytest.approx(30 / np.sqrt(2 * 20**2), abs=0.08)
    assert f["contrast_db"] == pytest.approx(-30 * PHYS.dynamic_range_db / 255, abs=0.5)
    assert not visibility.all_visible([dict(f, cnr=0.29)]) and visibility.all_visible([f])


def test_the_ring_is_restricted_to_background():
    """A bright structure beside the lesion (another label) does not enter its ring."""
    p = _breast_case_with_a_lesion()
    label = phantom.label_map(p, PHYS)
    inside = visibility.lesion_regions(p, PHYS)[0]
    image = np.full(PHYS.out_shape, 100, dtype=np.uint8)
    image[inside] = 60
    from scipy.ndimage import binary_dilation

    other = binary_dilation(inside, iterations=12) & ~binary_dilation(inside, iterations=6)
    other[:, : other.shape[1] // 2] = False  # half the ring belongs to another labelled structure
    image[other] = 250
    label = label.copy()
    label[other] = 3
    f = visibility.measure(image, label, p, PHYS)[0]
    assert f["contrast_db"] == pytest.approx(-40 * PHYS.dynamic_range_db / 255, abs=0.01)


def test_a_surface_label_is_recorded_but_not_held_to_the_floor():
    assert visibility.all_visible([{"label": 1, "cnr": 0.1, "contrast_db": 1.0, "surface": True}])
    assert not visibility.all_visible([{"label": 1, "cnr": 0.1, "contrast_db": 1.0}])
