"""Our Dice, IoU and HD95 equal medpy's dc, jc and hd95 on non-empty mask pairs."""
import numpy as np
import pytest

medpy = pytest.importorskip("medpy.metric.binary")

from sonobench.evaluator.metrics import dice, hd95, iou

from .mask_factory import mask_pairs

PAIRS = mask_pairs(seed=0, n=300)
SPACINGS = [None, (1.0, 1.0), (0.5, 0.5), (0.3, 0.7), (1.7, 0.45)]


@pytest.mark.parametrize("chunk", range(6))
def test_dice_and_iou_equal_medpy(chunk):
    for name, a, b in PAIRS[chunk::6]:
        assert dice(a, b) == pytest.approx(medpy.dc(a, b), abs=1e-9), name
        assert iou(a, b) == pytest.approx(medpy.jc(a, b), abs=1e-9), name


@pytest.mark.parametrize("spacing", SPACINGS, ids=str)
def test_hd95_equals_medpy(spacing):
    for i, (name, a, b) in enumerate(PAIRS):
        expected = medpy.hd95(a, b, voxelspacing=spacing)
        assert hd95(a, b, spacing=spacing) == pytest.approx(expected, rel=1e-6, abs=1e-12), (i, name)


def test_hd95_is_symmetric_like_medpy():
    for _, a, b in PAIRS[:50]:
        assert hd95(a, b, (0.3, 0.7)) == pytest.approx(hd95(b, a, (0.3, 0.7)), rel=1e-12)


@pytest.mark.parametrize("spacing", [None, (0.6, 0.9)], ids=str)
def test_hd95_equals_medpy_on_large_and_edge_touching_masks(spacing):
    """Dense borders (distance-transform path), masks cut by the image edge, full masks."""
    from .mask_factory import blob, speckle

    rng = np.random.default_rng(3)
    full = np.ones((40, 50), bool)
    cases = [(speckle(rng, (160, 130)), blob(rng, (160, 130))), (full, blob(rng, (40, 50))), (full, full)]
    corner = np.zeros((60, 60), bool)
    corner[:10, :7] = True
    cases.append((corner, np.roll(corner, 3, axis=1)))
    one = np.zeros((30, 30), bool)
    one[0, 29] = True
    cases.append((one, corner[:30, :30]))
    for a, b in cases:
        assert hd95(a, b, spacing) == pytest.approx(medpy.hd95(a, b, voxelspacing=spacing), rel=1e-6, abs=1e-12)


# A fixed random pair (multi-component ellipses and a perturbed copy, 32 x 40) with
# values computed once by medpy 0.5 and checked in.
GOLDEN_A = (
    "00000007fc00000007fc00000007f800100003f807bc0001f00ffc0000001ffe0000001ffe0000001ffe0000000ffe00000007fe"
    "00000000fe00000000fe00000000fe000000007e000000007c00000000380000000000000000000000000000000000000000000000"
    "0000000000000000000000e000000001f000000001f000000000e00000000040000000000000000000000003e000000007e000000007f0"
)
GOLDEN_B = (
    "0008003f800000003fe00000003fe00000003fc00080001fc03de0000f807fe0000000fff0000000fff0000000fff00000007ff000"
    "00003ff000000007f000000007f000000007f000040003f000000003e000000001c0000000000000000000000000000000000000800"
    "00000000000000000000000000007000000000f800000000f800000000700000000020000000000000200000000001f000000003f00"
)


def _unpack(hexstr):
    return np.unpackbits(np.frombuffer(bytes.fromhex(hexstr), np.uint8))[: 32 * 40].reshape(32, 40).astype(bool)


def test_golden_pair():
    a, b = _unpack(GOLDEN_A), _unpack(GOLDEN_B)
    assert (a.sum(), b.sum()) == (184, 188)
    assert dice(a, b) == pytest.approx(0.5376344086021505, abs=1e-12)
    assert iou(a, b) == pytest.approx(0.36764705882352944, abs=1e-12)
    assert hd95(a, b) == pytest.approx(3.1622776601683795, rel=1e-12)
    assert hd95(a, b, spacing=(0.3, 0.7)) == pytest.approx(2.121320343559642, rel=1e-12)


@pytest.mark.parametrize("setting", [
    {"_ALL_PAIRS": 0},  # every point without a window hit goes to the k-d tree
    {"_ALL_PAIRS": 10**12},  # ... or to the all-pairs comparison
    {"_RING_LOOKUPS": 0, "_MOSTLY_FAR": 0.0},  # only the first two stages of the window
    {"_MOSTLY_FAR": 1.0},  # straight from the first stage to the far search
    {"_DENSE_SHARE": 0.0},  # the distance transform for every pair
], ids=["tree", "all-pairs", "two-stages", "no-window", "edt"])
def test_hd95_equals_medpy_on_each_search_path(monkeypatch, setting):
    """The window lookup, the far search (tree or all pairs) and the distance transform
    each give medpy's values, whichever handles a point."""
    from sonobench.evaluator.metrics import _nearest

    for name, value in setting.items():
        monkeypatch.setattr(_nearest, name, value)
    for spacing in (None, (0.3, 0.7)):
        for i, (name, a, b) in enumerate(PAIRS[::5]):
            expected = medpy.hd95(a, b, voxelspacing=spacing)
            assert hd95(a, b, spacing=spacing) == pytest.approx(expected, rel=1e-6, abs=1e-12), (i, name, spacing)


@pytest.mark.parametrize("spacing", [(0.02, 3.0), (4.0, 0.05)], ids=str)
def test_hd95_equals_medpy_with_very_anisotropic_pixels(spacing):
    """The search window is longer than the image along the fine axis; it is cut to the image."""
    for i, (name, a, b) in enumerate(PAIRS[:60]):
        expected = medpy.hd95(a, b, voxelspacing=spacing)
        assert hd95(a, b, spacing=spacing) == pytest.approx(expected, rel=1e-6, abs=1e-12), (i, name)
