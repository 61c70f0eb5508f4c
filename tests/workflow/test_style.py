"""Style adaptation (sim -> real): FDA and histogram matching on small synthetic targets,
checked against the definitions (spectra, CDFs), not against stored outputs."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from sonobench.simulation.style import (
    FDA,
    HistogramMatch,
    StyleBatches,
    StyleError,
    adapt_folder,
    fda_swap,
    fda_window,
    make_adapter,
    match_histogram,
)


def _speckle(rng, size=48, scale=1.0, offset=0.0):
    img = np.clip(offset + 0.25 * scale * rng.rayleigh(1.0, (size, size)), 0, 1)
    return img


@pytest.fixture
def target_dir(tmp_path):
    """Unlabelled 'clinical' targets: brighter, smoother speckle than the sources, another size."""
    rng = np.random.default_rng(7)
    folder = tmp_path / "target"
    folder.mkdir()
    for i in range(3):
        y = np.linspace(0, 1, 64)[:, None]
        img = np.clip(0.5 + 0.3 * y + 0.1 * rng.standard_normal((64, 64)), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"t{i}.png")
    return folder


@pytest.fixture
def sim_dir(tmp_path):
    """A `sonobench simulate`-like folder: images/ and labels/."""
    rng = np.random.default_rng(3)
    folder = tmp_path / "sim"
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i in range(4):
        Image.fromarray((_speckle(rng) * 255).astype(np.uint8)).save(folder / "images" / f"s{i}.png")
        lab = np.zeros((48, 48), np.uint8)
        lab[10 + i:30, 12:30] = 1
        Image.fromarray(lab).save(folder / "labels" / f"s{i}.png")
    return folder


def _digest(folder):
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*.png")))).hexdigest()


def test_fda_with_beta_zero_is_the_identity():
    rng = np.random.default_rng(0)
    src, tgt = _speckle(rng), _speckle(rng, scale=2)
    np.testing.assert_array_equal(fda_swap(src, tgt, 0.0), src)


def test_fda_low_frequency_amplitude_is_the_targets_and_the_rest_is_the_sources():
    rng = np.random.default_rng(1)
    src, tgt = _speckle(rng, size=64), np.clip(0.6 + 0.2 * rng.standard_normal((64, 64)), 0, 1)
    out = fda_swap(src, tgt, 0.05)
    spec = lambda a: np.fft.fftshift(np.fft.fft2(a))  # noqa: E731
    win = fda_window(out.shape, 0.05)
    assert win[0].stop - win[0].start == 2 * 3 + 1  # floor(64 * 0.05) = 3 frequencies each side of DC
    np.testing.assert_allclose(np.abs(spec(out))[win], np.abs(spec(tgt))[win], rtol=1e-9, atol=1e-9)
    outside = np.ones(out.shape, bool)
    outside[win] = False
    np.testing.assert_allclose(np.abs(spec(out))[outside], np.abs(spec(src))[outside], rtol=1e-9, atol=1e-9)
    # the source's phase (its geometry) is kept everywhere the amplitude is not ~0
    keep = np.abs(spec(src)) > 1e-6
    np.testing.assert_allclose(np.angle(spec(out))[keep], np.angle(spec(src))[keep], atol=1e-6)
    # the mean intensity (the DC amplitude) is now the target's
    assert out.mean() == pytest.approx(tgt.mean(), abs=1e-12)


def test_fda_rejects_a_window_beyond_nyquist():
    with pytest.raises(StyleError, match="beta"):
        FDA(beta=0.6)


def test_histogram_matched_cdf_is_close_to_the_targets():
    rng = np.random.default_rng(2)
    src = _speckle(rng, size=64)
    tgt = np.clip(0.7 + 0.1 * rng.standard_normal((80, 80)), 0, 1)
    out = match_histogram(src, tgt)
    grid = np.linspace(0, 1, 101)
    cdf = lambda a: np.searchsorted(np.sort(a.ravel()), grid, side="right") / a.size  # noqa: E731
    assert np.max(np.abs(cdf(out) - cdf(tgt))) < 0.02
    assert np.max(np.abs(cdf(src) - cdf(tgt))) > 0.5  # it was far off before
    # monotone: the order of the source's pixels (its structure) is kept
    order = np.argsort(src.ravel(), kind="stable")
    assert np.all(np.diff(out.ravel()[order]) >= -1e-12)


def test_same_seed_same_bytes_and_labels_untouched(sim_dir, target_dir, tmp_path):
    for method in ("fda", "histogram"):
        a, b, c = (tmp_path / f"{method}-{k}" for k in "abc")
        adapt_folder(sim_dir, a, make_adapter(method, target_dir, 0.05), seed=0)
        adapt_folder(sim_dir, b, make_adapter(method, target_dir, 0.05), seed=0)
        adapt_folder(sim_dir, c, make_adapter(method, target_dir, 0.05), seed=1)
        assert _digest(a / "images") == _digest(b / "images")
        for p in (sim_dir / "labels").iterdir():
            assert (a / "labels" / p.name).read_bytes() == p.read_bytes()
        assert _digest(a / "images") != _digest(sim_dir / "images")  # the images did change
        assert _digest(a / "images") != _digest(c / "images")  # another seed draws other targets


def test_train_time_batches_repeat_for_a_seed_and_follow_the_probability(target_dir):
    import torch

    x = torch.from_numpy(np.random.default_rng(0).random((6, 1, 32, 32)).astype(np.float32))
    style = StyleBatches(make_adapter("histogram", target_dir), p=0.5)
    one = style(x, torch.Generator().manual_seed(0))
    two = style(x, torch.Generator().manual_seed(0))
    assert torch.equal(one, two)
    changed = [not torch.equal(one[i], x[i]) for i in range(6)]
    assert 0 < sum(changed) < 6
    assert torch.equal(StyleBatches(style.adapter, p=0.0)(x, torch.Generator().manual_seed(0)), x)


def test_an_empty_target_folder_is_refused_with_the_reason(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StyleError, match="holds no images"):
        HistogramMatch().fit(tmp_path / "empty")
    with pytest.raises(StyleError, match="Valid choices: fda, histogram, speckle"):
        make_adapter("cyclegan", tmp_path / "empty")


def test_cli_writes_adapted_images_and_a_contact_sheet(sim_dir, target_dir, tmp_path):
    from click.testing import CliRunner

    from sonobench.cli import cli

    out, sheet = tmp_path / "out", tmp_path / "sheet.png"
    res = CliRunner().invoke(cli, ["style-adapt", str(sim_dir), "--target", str(target_dir), "--out", str(out),
                                   "--method", "fda", "--beta", "0.05", "--sheet", str(sheet)])
    assert res.exit_code == 0, res.output
    assert "4 images adapted with fda" in res.output and "4 labels copied unchanged" in res.output
    assert Image.open(sheet).size == (3 * 164, 18 + 4 * 164)


def test_every_channel_of_a_sample_gets_the_same_target(target_dir, tmp_path):
    import torch

    gray = torch.from_numpy(np.random.default_rng(4).random((3, 1, 24, 24)).astype(np.float32))
    style = StyleBatches(make_adapter("histogram", target_dir), p=1.0)
    rgb = style(gray.repeat(1, 3, 1, 1), torch.Generator().manual_seed(0))
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 1], rgb[:, 2])


def test_the_record_names_the_targets_by_content(target_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for p in target_dir.iterdir():
        img = np.asarray(Image.open(p)).copy()
        img[0, 0] ^= 1
        Image.fromarray(img).save(other / p.name)
    a, b = make_adapter("fda", target_dir).describe(), make_adapter("fda", other).describe()
    assert a["targets"] == b["targets"] == 3 and a["targets_sha256"] != b["targets_sha256"]
    assert make_adapter("fda", target_dir).describe() == a


def test_speckle_matching_gives_the_targets_speckle_contrast_and_keeps_the_local_mean():
    from sonobench.simulation.style import local_stats, match_speckle

    rng = np.random.default_rng(5)
    yy = np.linspace(0, 1, 96)[:, None] * np.ones((1, 96))
    src = 0.3 + 0.3 * yy + 0.15 * rng.standard_normal((96, 96))   # strong speckle on a depth ramp
    tgt = 0.5 + 0.04 * rng.standard_normal((80, 80))               # faint speckle
    out = match_speckle(src, tgt)
    med = lambda a: float(np.median(local_stats(a)[1]))  # noqa: E731
    assert med(src) > 3 * med(tgt)
    assert med(out) == pytest.approx(med(tgt), rel=0.1)
    # the slow structure (the mean over a larger box than the speckle window) is the source's, not the
    # target's; inside only: the box is mirrored at the border
    inner = (slice(8, -8), slice(8, -8))
    np.testing.assert_allclose(local_stats(out, 15)[0][inner], local_stats(src, 15)[0][inner], atol=0.015)
    assert abs(out[inner].mean() - src[inner].mean()) < 0.005 < abs(src.mean() - tgt.mean())
    assert np.allclose(match_speckle(src, src), src)  # matching an image to itself changes nothing
