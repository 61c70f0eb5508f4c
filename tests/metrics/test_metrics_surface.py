"""NSD and ASSD: equal to DeepMind's surface-distance package on 1,000+ non-empty mask
pairs (isotropic and anisotropic pixels), known answers on squares and discs, and the
empty-mask policy."""
import math

import numpy as np
import pytest

from sonobench.evaluator.metrics import assd, image_diagonal, nsd, surface_distances
from sonobench.evaluator.metrics.surface import contour_lengths

from .mask_factory import disc, mask_pairs

SPACINGS = [(1.0, 1.0), (0.5, 0.5), (0.3, 0.7), (1.7, 0.45)]
TOLERANCES_PX = [0.5, 1.0, 2.0, 3.5]


@pytest.fixture(scope="module")
def deepmind():
    sd = pytest.importorskip("surface_distance")
    if not hasattr(np, "Inf"):  # the package spells np.inf the numpy-1 way (used only for empty borders)
        np.Inf = np.inf
    return sd


@pytest.mark.slow  # the reference package takes ~10 s for these pairs
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the package imports scipy.ndimage.filters
@pytest.mark.parametrize("chunk", range(4))
def test_nsd_and_assd_equal_deepmind_on_1000_pairs(deepmind, chunk):
    pairs = mask_pairs(seed=11, n=1000)
    for i, (name, pred, gt) in list(enumerate(pairs))[chunk::4]:
        spacing = SPACINGS[(i // 4) % len(SPACINGS)]
        ref = deepmind.compute_surface_distances(gt, pred, spacing)
        for tau_px in TOLERANCES_PX:
            tau = tau_px * min(spacing)
            expected = deepmind.compute_surface_dice_at_tolerance(ref, tau)
            assert nsd(pred, gt, tau, spacing) == pytest.approx(expected, abs=1e-9), (i, name, spacing, tau)
        expected = float(np.mean(deepmind.compute_average_surface_distance(ref)))
        assert assd(pred, gt, spacing) == pytest.approx(expected, rel=1e-9, abs=1e-12), (i, name, spacing)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("spacing", SPACINGS, ids=str)
def test_surface_elements_equal_deepmind(deepmind, spacing):
    """The same multiset of (distance, contour length) per direction, not just the same sums."""
    for name, pred, gt in mask_pairs(seed=12, n=60):
        ref = deepmind.compute_surface_distances(gt, pred, spacing)
        ours = surface_distances(pred, gt, spacing)
        for d, l, rd, rl in ((ours.gt_to_pred, ours.lengths_gt, "distances_gt_to_pred", "surfel_areas_gt"),
                             (ours.pred_to_gt, ours.lengths_pred, "distances_pred_to_gt", "surfel_areas_pred")):
            mine, theirs = _by_distance(d, l), _by_distance(ref[rd], ref[rl])
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, err_msg=name)


def _by_distance(distances, lengths):
    """(distance, length) rows sorted by distance, ties (to 1e-9) by length."""
    order = np.lexsort((lengths, np.round(distances, 9)))
    return np.stack((distances[order], lengths[order]), axis=1)


def test_contour_length_table():
    t = contour_lengths((0.3, 0.7))
    half = 0.5 * math.hypot(0.3, 0.7)
    assert t[0] == t[15] == 0.0
    assert [t[c] for c in (1, 2, 4, 8, 7, 11, 13, 14)] == pytest.approx([half] * 8)
    assert (t[0b0011], t[0b1100], t[0b0101], t[0b1010]) == (0.7, 0.7, 0.3, 0.3)
    assert t[0b0110] == t[0b1001] == pytest.approx(2 * half)


def test_square_perimeter():
    """A 20 x 20 square: 4 x 19 straight unit elements and 4 cut corners of sqrt(2)/2."""
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True
    s = surface_distances(m, m)
    assert s.lengths_gt.sum() == pytest.approx(4 * 19 + 4 * math.sqrt(2) / 2)
    assert not s.gt_to_pred.any() and not s.pred_to_gt.any()


@pytest.mark.parametrize("spacing,unit", [(None, 1.0), ((0.5, 0.5), 0.5)], ids=["px", "mm"])
def test_concentric_squares_three_apart(spacing, unit):
    """Every element of the inner square is exactly 3 from the outer one and every outer
    element 3 to sqrt(18) (its cut corners) from the inner: NSD is 0 below tau = 3, takes
    all of the inner contour and most of the outer at 3, and is 1 from sqrt(18) on."""
    inner = np.zeros((40, 40), bool)
    inner[10:30, 10:30] = True
    outer = np.zeros((40, 40), bool)
    outer[7:33, 7:33] = True
    s = surface_distances(outer, inner, spacing)
    assert s.gt_to_pred == pytest.approx(np.full(s.gt_to_pred.size, 3 * unit))
    assert s.pred_to_gt.min() == pytest.approx(3 * unit)
    assert nsd(outer, inner, 2.99 * unit, spacing) == 0.0
    inner_share = s.lengths_gt.sum() / (s.lengths_gt.sum() + s.lengths_pred.sum())
    assert inner_share < nsd(outer, inner, 3 * unit, spacing) < 1.0
    assert nsd(outer, inner, math.sqrt(18) * unit, spacing) == 1.0
    assert s.pred_to_gt.max() == pytest.approx(math.sqrt(18) * unit)
    # outer corners lie farther than 3 (up to sqrt(18)), so the mean exceeds 3 but stays below sqrt(18)
    assert 3 * unit < assd(outer, inner, spacing) < math.sqrt(18) * unit


@pytest.mark.parametrize("shift", [1, 2, 3, 5])
@pytest.mark.parametrize("axis", [0, 1])
def test_shifted_disc_within_the_shift(shift, axis):
    a = disc((100, 100), (50, 50), 20)
    b = np.roll(a, shift, axis=axis)
    assert nsd(a, b, shift) == 1.0  # every element moved by exactly the shift
    assert nsd(a, b, shift - 0.01) < 1.0  # the sides perpendicular to the shift are `shift` away
    assert 0 < assd(a, b) < shift
    assert nsd(a, b, shift, (0.5, 0.5)) == nsd(a, b, 0.5 * shift, (0.5, 0.5)) == 1.0


@pytest.mark.parametrize("spacing,gap", [(None, 23.0), ((0.5, 0.25), 23 * 0.25)], ids=["px", "mm"])
def test_separate_discs_at_a_known_gap(spacing, gap):
    """Discs of radius 8 centred 40 apart on one row: pixels end at column 38 and start at
    62, so the nearest corner elements are 39 and 62, 23 pixels apart."""
    a = disc((60, 100), (30, 30), 8)
    b = disc((60, 100), (30, 70), 8)
    assert surface_distances(a, b, spacing).gt_to_pred.min() == pytest.approx(gap)
    assert nsd(a, b, gap * 0.999, spacing) == 0.0
    assert 0.0 < nsd(a, b, gap, spacing) < 1.0
    assert nsd(a, b, 1000.0, spacing) == 1.0
    assert assd(a, b, spacing) > gap


def test_symmetry():
    for _, a, b in mask_pairs(seed=13, n=40):
        assert nsd(a, b, 2.0, (0.3, 0.7)) == pytest.approx(nsd(b, a, 2.0, (0.3, 0.7)), abs=1e-12)
        assert assd(a, b, (0.3, 0.7)) == pytest.approx(assd(b, a, (0.3, 0.7)), rel=1e-12)


def test_masks_touching_the_image_edge():
    """Border elements on the image's last row/column come from the zero padding."""
    full = np.ones((12, 15), bool)
    s = surface_distances(full, full)
    assert s.lengths_gt.sum() == pytest.approx(2 * 11 + 2 * 14 + 4 * math.sqrt(2) / 2)
    half = full.copy()
    half[:, 8:] = False
    assert nsd(full, half, 7.0) == 1.0 and nsd(full, half, 6.9) < 1.0


EMPTY = np.zeros((30, 40), bool)
SOME = np.zeros((30, 40), bool)
SOME[5:9, 10:20] = True


def test_empty_policy():
    for pred in (EMPTY, SOME):  # an empty reference: not applicable (None), never 1 or 0
        assert nsd(pred, EMPTY, 2.0) is None and assd(pred, EMPTY) is None
    assert nsd(EMPTY, SOME, 2.0) == 0.0 and nsd(EMPTY, SOME, 1e9) == 0.0  # a present one missed: failure
    assert assd(EMPTY, SOME) == pytest.approx(50.0)
    assert assd(EMPTY, SOME, (0.5, 0.25)) == pytest.approx(image_diagonal((30, 40), (0.5, 0.25)))
    s = surface_distances(SOME, EMPTY)
    assert s.lengths_gt.size == 0 and np.isinf(s.pred_to_gt).all() and s.lengths_pred.sum() > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_equal_deepmind_with_very_anisotropic_pixels(deepmind):
    for name, pred, gt in mask_pairs(seed=14, n=40):
        ref = deepmind.compute_surface_distances(gt, pred, (0.02, 3.0))
        assert nsd(pred, gt, 1.0, (0.02, 3.0)) == pytest.approx(
            deepmind.compute_surface_dice_at_tolerance(ref, 1.0), abs=1e-9), name
        assert assd(pred, gt, (0.02, 3.0)) == pytest.approx(
            float(np.mean(deepmind.compute_average_surface_distance(ref))), rel=1e-9), name
