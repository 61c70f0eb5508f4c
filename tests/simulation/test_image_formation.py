"""Image formation 2, measured: PSF, speckle, envelope statistics, TGC, receiver noise.

The channel RF is analytic (`sonobench.simulation.synthetic_rf`: delayed bursts from point
scatterers), so these tests exercise the beamformer, envelope detection, resampling and
TGC exactly, in seconds; tests/simulation/test_kwave_physics.py repeats the point target
through k-Wave. Theory is written out here, not taken from the code under test.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import hilbert

from sonobench.simulation import beamform, fidelity, image_formation, synthetic_rf
from sonobench.simulation.beamform import pixel_grid
from sonobench.simulation.physics import InvalidPhysics, Physics

RAYLEIGH = math.sqrt(math.pi / 2) / math.sqrt(2 - math.pi / 2)  # 1.913


@pytest.fixture(scope="module")
def phys():
    return fidelity.fidelity_physics()  # 14.4 x 19.2 mm, 0.15 mm pixels, 3 MHz, F/1


@pytest.fixture(scope="module")
def speckle(phys):
    """Four realisations of homogeneous speckle (attenuating like the TGC assumes), no TGC."""
    return fidelity.speckle_envelopes_synthetic(phys, range(4), tgc=False)


def aperture_fwhm(window: np.ndarray) -> float:
    """-6 dB width of |FT(window)| in units of 1 / aperture (= lambda z / D)."""
    n = window.size
    spec = np.abs(np.fft.fftshift(np.fft.fft(window, 64 * n)))
    f = np.fft.fftshift(np.fft.fftfreq(64 * n, 1 / n))
    above = f[spec >= spec.max() / 2]
    return float(above.max() - above.min())


def test_hann_aperture_factor_is_the_textbook_value():
    u = np.linspace(-0.5, 0.5, 4001)
    assert aperture_fwhm(np.cos(np.pi * u) ** 2) == pytest.approx(2.00, abs=0.03)
    assert aperture_fwhm(np.ones_like(u)) == pytest.approx(1.207, abs=0.03)  # rectangular, for comparison
    assert image_formation.HANN_FWHM_FACTOR == pytest.approx(aperture_fwhm(np.cos(np.pi * u) ** 2), abs=0.03)


def test_fine_grid_resolves_the_rf():
    for p in (Physics(), Physics(f0_hz=2.5e6), fidelity.fidelity_physics()):
        kz, kx = image_formation.fine_factors(p)
        z, x = image_formation.fine_grid(p)
        lam = p.c_beamform / p.f0_hz
        assert kz % 2 == 1 and kx % 2 == 1
        assert np.diff(z).max() <= lam / 8 * 1.0001   # >= 4 samples per period of the two-way RF
        assert np.diff(x).max() <= lam / 2 * 1.0001
        # the fine samples kz//2, kz//2 + kz, ... sit on the output pixel centres
        np.testing.assert_allclose(z[kz // 2::kz], pixel_grid(p)[0], rtol=1e-9)


@pytest.mark.parametrize("z_mm", [7.0, 11.0])
def test_point_target_psf_matches_theory(phys, z_mm):
    z0, x0 = z_mm * 1e-3, phys.width_m / 2
    env = fidelity.point_envelope_synthetic(phys, z0, x0)
    axial, lateral = fidelity.psf_widths(env, phys)
    # axial: the echo envelope is the burst's, exp(-t^2 / 2 sigma^2); FWHM 2 sqrt(2 ln 2) sigma in time, halved in depth
    theory_axial = phys.c_beamform * 2 * math.sqrt(2 * math.log(2)) * phys.pulse_sigma_s / 2
    assert theory_axial == pytest.approx(phys.c_beamform * phys.cycles / (2 * phys.f0_hz), rel=1e-3)
    # lateral: plane-wave transmit, Hann receive aperture D = z / F: 2.00 lambda z / D
    theory_lateral = 2.00 * (phys.c_beamform / phys.f0_hz) * z0 / (z0 / phys.f_number)
    assert axial == pytest.approx(theory_axial, rel=0.25)
    assert lateral == pytest.approx(theory_lateral, rel=0.25)
    # and at its place: the brightest pixel is the target's
    r, c = np.unravel_index(np.argmax(env), env.shape)
    z, x = pixel_grid(phys)
    assert abs(z[r] - z0) <= phys.pixel_mm[0] * 1e-3 and abs(x[c] - x0) <= phys.pixel_mm[1] * 1e-3


def test_speckle_autocovariance_matches_the_psf(phys, speckle):
    psf = fidelity.psf_widths(fidelity.point_envelope_synthetic(phys, 7e-3, phys.width_m / 2), phys)
    region = fidelity.speckle_region(phys)
    patches = [image_formation.apply_tgc(e, phys)[region] for e in speckle]
    axial, lateral = fidelity.autocovariance_widths(patches, phys)
    assert axial == pytest.approx(psf[0], rel=0.25)
    assert lateral == pytest.approx(psf[1], rel=0.25)


def test_fully_developed_speckle_is_rayleigh(phys, speckle):
    region = fidelity.speckle_region(phys)
    snr = fidelity.envelope_snr([image_formation.apply_tgc(e, phys)[region] for e in speckle])
    assert snr == pytest.approx(RAYLEIGH, rel=0.05)


def test_fast_backend_speckle_is_rayleigh_with_the_beamformers_grain(phys):
    """The fast backend's speckle (breast-like tissue, scatterers jittered inside their grid
    cells) has the DAS PSF's grain and Rayleigh statistics."""
    psf = fidelity.psf_widths(fidelity.point_envelope_synthetic(phys, 7e-3, phys.width_m / 2), phys)
    region = fidelity.speckle_region(phys)
    patches = [e[region] for e in fidelity.speckle_envelopes_fast(phys, range(6))]
    axial, lateral = fidelity.autocovariance_widths(patches, phys)
    assert axial == pytest.approx(psf[0], rel=0.25) and lateral == pytest.approx(psf[1], rel=0.25)
    assert fidelity.envelope_snr(patches) == pytest.approx(RAYLEIGH, rel=0.05)


def test_scatterers_on_the_grid_lattice_are_not_fully_developed(phys):
    """Why the fast backend jitters its scatterers: on the 0.15 mm lattice the two-way phase
    steps 3.67 rad (pi + 0.53) per row, ~2.6 rows per axial cell: nearly antiphase rows,
    a nearly real echo, mean/std ~1.6. (k-Wave's scatterers sit on this lattice too.)"""
    region = fidelity.speckle_region(phys)
    patches = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        # every grid point around the measured region (5-9 mm deep) and a PSF beyond it
        zc, xc = (np.arange(23, 71) + 0.5) * phys.dx_m, (np.arange(18, 110) + 0.5) * phys.dx_m
        z, x = (g.ravel() for g in np.meshgrid(zc, xc, indexing="ij"))
        rf, t_peak = synthetic_rf.channel_rf(phys, z, x, rng.standard_normal(z.size), spreading=False)
        patches.append(image_formation.envelope(rf, phys, t_peak)[region])
    assert fidelity.envelope_snr(patches) < 0.9 * RAYLEIGH


def test_tgc_flattens_a_homogeneous_phantom(phys, speckle):
    """Mean envelope per 1.5 mm depth band, 2-14 mm, where the receive aperture is complete:
    within +-1.5 dB of its average after TGC (it spans > 10 dB without)."""
    z, x = pixel_grid(phys)
    half = 14e-3 / (2 * phys.f_number)
    cols = (x >= half) & (x <= phys.width_m - half)

    def band_db(envs):
        e = np.stack(envs)
        means = np.array([e[:, (z >= a) & (z < a + 1.5e-3)][:, :, cols].mean() for a in np.arange(2e-3, 14e-3, 1.5e-3)])
        return 20 * np.log10(means / means.mean())

    flat = band_db([image_formation.apply_tgc(e, phys) for e in speckle])
    raw = band_db(speckle)
    assert np.abs(flat).max() <= 1.5, flat
    assert raw.max() - raw.min() > 10, raw


def test_tgc_formula():
    p = Physics(tgc_alpha=0.75, alpha_power=1.1, f0_hz=3e6)
    z = np.array([0.5e-3, 1e-2, 2e-2])
    expected = 2 * 0.75 * 3.0 ** 1.1 * z * 100 + 10 * np.log10(np.maximum(z, 1e-3) / p.depth_m)
    np.testing.assert_allclose(image_formation.tgc_gain_db(z, p), expected, rtol=1e-12)
    np.testing.assert_allclose(image_formation.tgc_gain_db(z, p.scaled(tgc_spreading=False)),
                               2 * 0.75 * 3.0 ** 1.1 * z * 100, rtol=1e-12)


def test_receiver_noise_is_band_limited_and_beamforms_into_speckle_grain(phys):
    """The high-noise streaks of image formation 1: white channel noise has most of its power
    far above the transducer band, and beamforms into grain finer than a pixel axially and
    ~2x wider laterally (horizontal dashes). Band-limited noise has the PSF's grain."""
    shape, t_peak = (phys.cols, phys.n_steps()), 3 * phys.pulse_sigma_s
    noise = image_formation.receiver_noise(shape, phys, np.random.default_rng(1))
    spec = np.abs(np.fft.rfft(noise, axis=1)) ** 2
    f = np.fft.rfftfreq(shape[1], phys.dt_s)
    sigma_f = 1 / (2 * math.pi * phys.pulse_sigma_s)
    # unit-variance white noise through a Gaussian band-pass of unit peak gain keeps the
    # power in its equivalent noise bandwidth sqrt(pi) sigma_f, out of fs / 2
    assert np.sqrt(np.mean(noise ** 2)) == pytest.approx(math.sqrt(math.sqrt(math.pi) * sigma_f * 2 * phys.dt_s), rel=0.03)
    in_band = spec[:, np.abs(f - phys.f0_hz) < 3 * sigma_f].sum() / spec.sum()
    assert in_band > 0.99
    psf = fidelity.psf_widths(fidelity.point_envelope_synthetic(phys, 7e-3, phys.width_m / 2), phys)
    region = fidelity.speckle_region(phys)
    grain = fidelity.autocovariance_widths([image_formation.envelope(noise.astype(np.float32), phys, t_peak)[region]], phys)
    assert grain[0] == pytest.approx(psf[0], rel=0.25) and grain[1] == pytest.approx(psf[1], rel=0.25)
    white = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    white_grain = fidelity.autocovariance_widths([beamform.envelope(white, phys, t_peak)[region]], phys)
    assert white_grain[0] < 0.6 * psf[0] and white_grain[1] < 0.5 * psf[1]


def test_fine_grid_envelope_agrees_with_image_formation_1_on_the_same_rf(phys):
    """Summing analytic channel data onto the pixel grid (v1) and the fine-grid RF pipeline (v2)
    give the same envelope: v1's speckle texture did not come from its beamforming grid."""
    rng = np.random.default_rng(9)
    z, x, a = synthetic_rf.speckle_scatterers(rng, (1e-3, phys.depth_m), (0, phys.width_m), 25.0)
    rf, t_peak = synthetic_rf.channel_rf(phys, z, x, a)
    region = fidelity.speckle_region(phys)
    e1, e2 = beamform.envelope(rf, phys, t_peak)[region], image_formation.envelope(rf, phys, t_peak)[region]
    assert np.corrcoef(e1.ravel(), e2.ravel())[0, 1] > 0.99


def test_synthetic_rf_echo_arrives_at_the_round_trip_time():
    p = fidelity.fidelity_physics()
    rf, t_peak = synthetic_rf.channel_rf(p, [5e-3], [p.width_m / 2], [1.0], spreading=False)
    e = p.cols // 2
    env = np.abs(hilbert(rf[e].astype(float)))
    xe = beamform.element_x(p)[e]
    expected = (5e-3 + math.hypot(5e-3, xe - p.width_m / 2)) / p.c_beamform + t_peak
    assert abs(np.argmax(env) * p.dt_s - expected) <= 1.5 * p.dt_s


def test_image_formation_version_is_recorded_and_v1_physics_reads_as_version_1():
    splits = Path(__file__).resolve().parents[2] / "splits" / "sim-breast-lesion"
    v1 = json.loads((splits / "v1" / "task.json").read_text())["source"]["physics"]  # archived; its spec stays
    assert "image_formation" not in v1 and Physics.from_json(v1).image_formation == 1
    v2 = json.loads((splits / "v2" / "task.json").read_text())["source"]["physics"]
    assert Physics.from_json(v2).image_formation == 2
    assert Physics().image_formation == 2
    assert Physics.from_json(Physics().to_json()) == Physics()
    assert Physics.from_json({k: v for k, v in Physics().to_json().items() if k != "image_formation"}).image_formation == 1
    with pytest.raises(InvalidPhysics, match="image_formation"):
        Physics(image_formation=7)


def test_das_matrix_built_in_blocks_is_the_same_matrix():
    p = Physics(rows=40, cols=32, out_shape=(40, 32))
    z, x = image_formation.fine_grid(p)
    t_peak, n_t = 3 * p.pulse_sigma_s, p.n_steps()
    whole = beamform._build_das_matrix(p, t_peak, 0.0, n_t, z, x)
    blocks = beamform.das_matrix(p, t_peak, 0.0, n_t, grid=(z, x), block_rows=7)
    assert whole.shape == blocks.shape and (whole != blocks).nnz == 0
