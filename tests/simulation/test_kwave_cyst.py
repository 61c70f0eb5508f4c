"""The k-Wave path of image formation 3 on its axially refined grid: scatterers off the lattice
keep their echo's shape (no aliased backscatter), and an anechoic cyst is as dark as pymust's.

The grid step along the beam must put the backscatter's spatial frequency 2k below the grid's
Nyquist frequency over the probe's band; on the phantom's 0.09 mm grid it did not (above
4.3 MHz), and a cyst read -9.3 dB against pymust's -15.8 with one plane wave
(docs/guides/generation-if3.md, "Known shortfalls")."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import fft as sfft

from sonobench.simulation import image_formation3 as if3
from sonobench.simulation.physics import imaging_preset

from . import psf_tools as pt

BAND_TOP_HZ = 7.0e6   # the L7-4's pulse-echo spectrum is 12 dB down here (measured on k-Wave echoes)


def _smooth(n: int) -> bool:
    return if3._smooth(n)


def test_kwave_grid_resolves_backscatter_over_the_band():
    """f_c = c / (4 dz), where backscatter starts to alias, lies above the band even in fat
    (c_min); the depth has FFT-friendly sizes, and the time step satisfies the k-space scheme's
    bound dt <= 2 asin(c_ref / c_max) / (c_ref k_max) (a reference speed below c_max, 1540 m/s,
    diverged on a bone frame all the same: c_ref is c_max)."""
    phys = imaging_preset("if3-l7-4")
    dz = phys.dx_m / if3.AXIAL_REFINE
    assert phys.c_min / (4 * dz) > BAND_TOP_HZ
    assert phys.c_min / (4 * phys.dx_m) < BAND_TOP_HZ          # the phantom's own grid does not
    pml = if3.kwave_pml_rows(phys)
    assert pml >= phys.pml * if3.AXIAL_REFINE and _smooth(phys.rows * if3.AXIAL_REFINE + 2 * pml)
    c_ref = if3.kwave_c_ref(phys)
    assert c_ref == phys.c_max
    k_max = math.pi * math.hypot(1 / dz, 1 / phys.dx_m)
    assert phys.dt_s <= 2 * math.asin(c_ref / phys.c_max) / (c_ref * k_max)


def test_fine_rendering_keeps_the_phase_of_the_continuous_position():
    """A scatterer at a continuous depth, rendered on the k-Wave rows: its axial spectrum up
    to the band's top has the phase of that depth (on the phantom's rows the band above f_c
    is not representable at all)."""
    amp = np.zeros((40, 9))
    amp[20, 4] = 1.0
    positions = if3.scatterer_positions(amp, np.random.default_rng(11))
    depth_rows = if3.AXIAL_REFINE * (positions[0][0] + 0.5)     # in fine rows from the array
    fine = if3.render_scatterers(positions, (40 * if3.AXIAL_REFINE, 9), if3.AXIAL_REFINE).sum(axis=1)
    assert fine.sum() == pytest.approx(1.0, abs=0.02)
    dz = imaging_preset("if3-l7-4").dx_m / if3.AXIAL_REFINE
    rows = np.arange(fine.size)
    for f in (3.5e6, 5.2e6, BAND_TOP_HZ):
        q = 2 * (2 * math.pi * f / 1540.0) * dz                     # 2k, radians per fine row
        value = np.sum(fine * np.exp(-1j * q * rows)) * np.exp(1j * q * depth_rows)
        assert abs(np.angle(value)) < 0.05 and 0.9 < abs(value) < 1.05


def test_kwave_maps_interpolate_cells_between_their_centres():
    phys = pt.test_physics().scaled(rows=4, cols=216)
    base = {"c": np.array([1500.0, 1600.0, 1600.0, 1600.0])[:, None] * np.ones((1, phys.cols)),
            "rho": np.full((4, phys.cols), 1000.0), "alpha": np.full((4, phys.cols), 0.5)}
    none = (np.zeros(0), np.zeros(0), np.zeros(0))
    fine = if3.kwave_maps(base, none, phys)
    assert fine["sound_speed"].shape == (8, phys.cols)
    # fine row j is at depth j dx / 2; cell r's centre at (r + 1/2) dx, i.e. fine row 2 r + 1
    assert fine["sound_speed"][:4, 0] == pytest.approx([1500.0, 1500.0, 1550.0, 1600.0])
    scaled = if3.kwave_interior(phys, {"kwave": fine, "alpha_coeff": 2 * base["alpha"]})
    assert scaled["alpha_coeff"] == pytest.approx(np.full((8, phys.cols), 1.0))   # shifts scale the attenuation


@pytest.mark.slow
def test_offgrid_point_echo_is_the_on_grid_echo_delayed():
    """A point half a phantom cell deeper than a cell centre: its echo (centre elements, through
    the receive filter) is the centred point's echo delayed by the extra path, within -15 dB.
    On the phantom's own grid the band above 4.3 MHz came back inverted (+172 deg, +3.9 dB
    residual)."""
    phys = pt.test_physics(angles=(0.0,)).scaled(rows=130)
    spectra = {}
    for u in (0.0, 0.5):
        point = (np.array([88.0 + u]), np.array([phys.cols // 2 - 0.5]), np.array([0.05]))
        rf, _ = if3.channel_rf(phys, pt.kwave_maps(phys, point))
        centre = rf[0, 31:33].mean(axis=0)
        f = sfft.rfftfreq(centre.size, phys.dt_s)
        spectra[u] = sfft.rfft(centre) * if3.probe_response(phys, f) * if3.flat_scattering_filter(phys, f)
    band = (f > 3.5e6) & (f < BAND_TOP_HZ)
    expected = spectra[0.0] * np.exp(-2j * np.pi * f * 2 * 0.5 * phys.dx_m / 1540.0)
    residual = np.sum(np.abs(spectra[0.5] - expected)[band] ** 2) / np.sum(np.abs(expected[band]) ** 2)
    assert 10 * np.log10(residual) < -15


def _cyst_benchmark():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "cyst_contrast.py"
    spec = importlib.util.spec_from_file_location("cyst_contrast", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_kwave_cyst_is_within_3_db_of_pymust():
    """benchmarks/cyst_contrast.py with one 0-degree plane wave and weak scatterers (0.25 % c and
    rho: single scattering, as pymust's model; at 1 % the 2-D medium's multiple scattering adds
    ~1.5 dB, see the guide): our k-Wave path within 3 dB of pymust (measured -13.2 vs -15.4 dB
    for these seeds; -14.1 vs -15.5 over three). On the phantom's own grid: -9.3 vs -15.4 dB."""
    pytest.importorskip("pymust")
    bench = _cyst_benchmark()
    phys = pt.test_physics(angles=(0.0,))
    ours, ref = bench.kwave_contrast(phys, 3, 0.0025), bench.pymust_contrast(phys, 5)
    print(f"cyst contrast: k-Wave path {ours:.1f} dB, pymust {ref:.1f} dB")
    assert ref < -13.0                  # the reference itself shows a cyst
    assert ours - ref < 3.0
