"""Image-formation fidelity, measured: PSF widths, speckle autocorrelation, envelope statistics.

The measurements run the B-mode pipeline of `image_formation` (RF -> fine-grid DAS ->
Hilbert envelope -> anti-aliased resampling -> TGC) on channel RF of a point target and
of homogeneous speckle, from `synthetic_rf` (analytic echoes) or from k-Wave, and compare
with theory:

- axial -6 dB width of the PSF: the echo's envelope is the burst's, exp(-t^2 / 2 sigma^2),
  whose full width at half amplitude is 2 sqrt(2 ln 2) sigma = cycles / f0 (the definition
  of `Physics.cycles`); in depth, c * cycles / (2 f0)  (0.385 mm at 3 MHz, 1.5 cycles).
- lateral -6 dB width: plane-wave transmit (no transmit focus), dynamic receive aperture
  D = z / F with Hann apodisation: 2.00 * lambda * z / D (a rectangular aperture would give
  1.21; both one-way, amplitude).
- speckle: for a Gaussian-like PSF the normalised autocovariance of the intensity is
  |PSF autocorrelation|^2, which has the PSF amplitude's own -6 dB width, and the envelope's
  is within a few % of it (Goodman, Speckle Phenomena in Optics, 4.5); so the autocovariance
  FWHM should equal the PSF's -6 dB widths.
- fully developed speckle: Rayleigh envelope, mean / std = sqrt(pi/2) / sqrt(2 - pi/2) = 1.913.

    python -m sonobench.simulation.fidelity [--kwave] [--png docs/assets/fidelity.png]   # the simulator docs' table
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.signal import resample

from . import image_formation, synthetic_rf
from .beamform import RAYLEIGH_MEAN_OVER_STD, pixel_grid
from .physics import Physics


def half_max_width(profile: np.ndarray, spacing: float, upsample: int = 16) -> float:
    """Full width at half the peak amplitude (-6 dB) of a single-peaked, band-limited
    profile; Fourier-upsampled, crossings interpolated linearly."""
    p = np.asarray(profile, dtype=np.float64)
    fine = np.abs(resample(p, p.size * upsample))
    step = spacing / upsample
    i = int(np.argmax(fine))
    half = fine[i] / 2
    lo = i
    while lo > 0 and fine[lo] > half:
        lo -= 1
    hi = i
    while hi < fine.size - 1 and fine[hi] > half:
        hi += 1
    left = lo + (half - fine[lo]) / (fine[lo + 1] - fine[lo])
    right = hi - (half - fine[hi]) / (fine[hi - 1] - fine[hi])
    return (right - left) * step


def psf_widths(env: np.ndarray, phys: Physics, around=None) -> tuple[float, float]:
    """(axial, lateral) -6 dB widths (m) through the envelope's maximum (optionally the
    maximum inside the window `around` = (row slice, col slice))."""
    sub = env if around is None else env[around]
    r, c = np.unravel_index(int(np.argmax(sub)), sub.shape)
    if around is not None:
        r, c = r + (around[0].start or 0), c + (around[1].start or 0)
    dz, dx = phys.pixel_mm[0] * 1e-3, phys.pixel_mm[1] * 1e-3
    w = 12  # half-window in pixels: several PSF widths, few side lobes
    return (half_max_width(env[max(r - w, 0):r + w + 1, c], dz), half_max_width(env[r, max(c - w, 0):c + w + 1], dx))


def autocovariance(patches: list[np.ndarray]) -> np.ndarray:
    """Normalised (unbiased) 2-D autocovariance, averaged over patches, zero lag at [0, 0]."""
    total, count = 0.0, 0.0
    for p in patches:
        a = p / p.mean() - 1.0
        shape = [2 * n for n in a.shape]
        fa = np.fft.rfft2(a, shape)
        fm = np.fft.rfft2(np.ones_like(a), shape)
        total = total + np.fft.irfft2(np.abs(fa) ** 2, shape)
        count = count + np.fft.irfft2(np.abs(fm) ** 2, shape)
    ac = total / np.maximum(count, 1e-9)
    return ac / ac[0, 0]


def _lag_at_half(curve: np.ndarray) -> float:
    below = np.flatnonzero(curve <= 0.5)
    if below.size == 0:
        return float("nan")
    j = int(below[0])
    return j - 1 + (curve[j - 1] - 0.5) / (curve[j - 1] - curve[j])


def autocovariance_widths(patches: list[np.ndarray], phys: Physics) -> tuple[float, float]:
    """(axial, lateral) FWHM (m) of the envelope's normalised autocovariance."""
    ac = autocovariance(patches)
    dz, dx = phys.pixel_mm[0] * 1e-3, phys.pixel_mm[1] * 1e-3
    return 2 * _lag_at_half(ac[:, 0]) * dz, 2 * _lag_at_half(ac[0, :]) * dx


def envelope_snr(patches: list[np.ndarray]) -> float:
    """mean / std of the envelope, each patch normalised by its RMS (so realisations pool)."""
    v = np.concatenate([(p / np.sqrt(np.mean(p ** 2))).ravel() for p in patches])
    return float(v.mean() / v.std())


def theory_widths(phys: Physics, z_m: float, aperture_m: float | None = None) -> tuple[float, float]:
    """(axial, lateral) -6 dB widths (m) predicted for a point at depth z."""
    d = aperture_m if aperture_m is not None else z_m / phys.f_number
    axial = phys.c_beamform * phys.cycles / (2 * phys.f0_hz)
    lateral = image_formation.HANN_FWHM_FACTOR * phys.wavelength_m * z_m / d
    return axial, lateral


# ----------------------------------------------------------------------------- scenes

FIDELITY_PHYSICS = dict(rows=96, cols=128, out_shape=(96, 128))  # 14.4 x 19.2 mm, 0.15 mm pixels
SPECKLE_PER_MM2 = 25.0  # ~10 scatterers per resolution cell (0.385 mm x 1.03 mm)


def fidelity_physics(**changes) -> Physics:
    return Physics(**{**FIDELITY_PHYSICS, **changes})


def point_envelope_synthetic(phys: Physics, z_m: float, x_m: float) -> np.ndarray:
    rf, t_peak = synthetic_rf.channel_rf(phys, [z_m], [x_m], [1.0])
    return image_formation.envelope(rf, phys, t_peak)


def speckle_envelopes_synthetic(phys: Physics, seeds, alpha_db_mhz_cm: float | None = None, tgc: bool = True):
    """Envelopes (output grid, TGC'd unless tgc=False) of homogeneous speckle, one per seed,
    in a medium of attenuation `alpha_db_mhz_cm` (default: the one the TGC assumes)."""
    alpha_db_mhz_cm = phys.tgc_alpha if alpha_db_mhz_cm is None else alpha_db_mhz_cm
    out = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        z, x, a = synthetic_rf.speckle_scatterers(rng, (1.0e-3, phys.depth_m), (0.0, phys.width_m), SPECKLE_PER_MM2)
        rf, t_peak = synthetic_rf.channel_rf(phys, z, x, a, alpha_db_mhz_cm=alpha_db_mhz_cm)
        env = image_formation.envelope(rf, phys, t_peak)
        out.append(image_formation.apply_tgc(env, phys) if tgc else env)
    return out


def homogeneous_tissue(phys: Physics, rng: np.random.Generator, alpha: float) -> dict:
    """Glandular-like tissue as the breast preset draws it: 60 % of grid points hold a
    scatterer, relative std 0.875 % of density and sound speed."""
    shape = (phys.rows, phys.cols)
    fl = 0.00875 * rng.standard_normal(shape) * (rng.random(shape) < 0.6)
    return {"sound_speed": 1520.0 * (1 + fl), "density": 1040.0 * (1 + fl), "alpha_coeff": np.full(shape, alpha)}


def speckle_envelopes_fast(phys: Physics, seeds) -> list[np.ndarray]:
    """TGC'd fast-backend envelopes of homogeneous tissue (attenuating as the TGC assumes)."""
    from .fast_backend import fast_envelope

    tissue = np.zeros((phys.rows, phys.cols), dtype=np.int64)
    return [image_formation.apply_tgc(fast_envelope(homogeneous_tissue(phys, np.random.default_rng(s), phys.tgc_alpha),
                                                    phys, 0.0, np.random.default_rng([s, 1]), tissue), phys)
            for s in seeds]


def speckle_envelopes_kwave(phys: Physics, seeds) -> list[np.ndarray]:
    """The same tissue through k-Wave (scatterers on the simulation grid) and image formation 2."""
    from .kwave_backend import channel_rf

    out = []
    for s in seeds:
        rf, t_peak = channel_rf(phys, homogeneous_tissue(phys, np.random.default_rng(s), phys.tgc_alpha))
        out.append(image_formation.apply_tgc(image_formation.envelope(rf, phys, t_peak), phys))
    return out


def speckle_region(phys: Physics, z_mm=(5.0, 9.0)) -> tuple[slice, slice]:
    """Rows z_mm and the columns where the F-number aperture is complete at the deepest row."""
    z, x = pixel_grid(phys)
    half = z_mm[1] * 1e-3 / (2 * phys.f_number)
    rows = np.flatnonzero((z >= z_mm[0] * 1e-3) & (z <= z_mm[1] * 1e-3))
    cols = np.flatnonzero((x >= half) & (x <= phys.width_m - half))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def measure(kwave: bool = False, seeds=range(4)) -> list[dict]:
    """The rows of the fidelity table (theory vs measured, mm), with their costs."""
    phys = fidelity_physics()
    z0, x0 = 7.0e-3, phys.width_m / 2
    rows = []
    t = time.process_time()
    env = point_envelope_synthetic(phys, z0, x0)
    ax, lat = psf_widths(env, phys)
    th = theory_widths(phys, z0)
    rows.append({"what": "PSF, synthetic RF", "theory": th, "measured": (ax, lat), "cpu_s": time.process_time() - t})
    t = time.process_time()
    envs = speckle_envelopes_synthetic(phys, seeds)
    region = speckle_region(phys)
    patches = [e[region] for e in envs]
    rows.append({"what": "speckle autocovariance FWHM, synthetic RF", "theory": (ax, lat),
                 "measured": autocovariance_widths(patches, phys), "snr": envelope_snr(patches),
                 "cpu_s": time.process_time() - t})
    t = time.process_time()
    patches = [e[region] for e in speckle_envelopes_fast(phys, seeds)]
    rows.append({"what": "speckle autocovariance FWHM, fast backend", "theory": (ax, lat),
                 "measured": autocovariance_widths(patches, phys), "snr": envelope_snr(patches),
                 "cpu_s": time.process_time() - t})
    if kwave:
        t = time.process_time()
        patches = [e[region] for e in speckle_envelopes_kwave(phys, seeds)]
        rows.append({"what": "speckle autocovariance FWHM, k-Wave", "theory": (ax, lat),
                     "measured": autocovariance_widths(patches, phys), "snr": envelope_snr(patches),
                     "cpu_s": time.process_time() - t})
        t = time.process_time()
        kphys, zk = kwave_point_physics(), 6.0e-3
        env = point_envelope_kwave(kphys, zk)
        rows.append({"what": "PSF, k-Wave", "theory": theory_widths(kphys, zk),
                     "measured": psf_widths(env, kphys, around=kwave_point_window(kphys, zk)),
                     "cpu_s": time.process_time() - t})
    return rows


def kwave_point_physics() -> Physics:
    return Physics(rows=80, cols=80, out_shape=(80, 80))


def kwave_point_window(phys: Physics, z_m: float) -> tuple[slice, slice]:
    r = int(z_m / (phys.pixel_mm[0] * 1e-3))
    return slice(r - 8, r + 9), slice(phys.out_shape[1] // 2 - 8, phys.out_shape[1] // 2 + 9)


def point_envelope_kwave(phys: Physics, z_m: float) -> np.ndarray:
    """A sound-speed point scatterer (a monopole: no dipole directivity) in water-like
    tissue, centred laterally, through k-Wave and the same pipeline."""
    from .kwave_backend import channel_rf

    shape = (phys.rows, phys.cols)
    maps = {"sound_speed": np.full(shape, 1540.0), "density": np.full(shape, 1000.0),
            "alpha_coeff": np.full(shape, 0.05)}
    maps["sound_speed"][int(z_m / phys.dx_m), phys.cols // 2] = 1600.0
    rf, t_peak = channel_rf(phys, maps)
    return image_formation.envelope(rf, phys, t_peak)


def format_table(rows: list[dict]) -> str:
    """Markdown: theory vs measured (the speckle rows compare with the measured synthetic PSF)."""
    lines = ["| measurement | axial: theory | axial: measured | lateral: theory | lateral: measured | envelope mean/std | CPU-s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        (ta, tl), (ma, ml) = r["theory"], r["measured"]
        snr = f"{r['snr']:.3f} (Rayleigh {RAYLEIGH_MEAN_OVER_STD:.3f})" if "snr" in r else "-"
        lines.append(f"| {r['what']} | {ta * 1e3:.3f} mm | {ma * 1e3:.3f} mm ({ma / ta - 1:+.0%}) | "
                     f"{tl * 1e3:.3f} mm | {ml * 1e3:.3f} mm ({ml / tl - 1:+.0%}) | {snr} | {r['cpu_s']:.1f} |")
    return "\n".join(lines)


def figure(path, kwave: bool = False, scale: int = 2):
    """A PNG: the point target's PSF (40 dB) and B-modes of homogeneous speckle (synthetic RF,
    fast backend, k-Wave), each 14.4 x 19.2 mm, through the same pipeline and log compression."""
    from PIL import Image, ImageDraw

    from .beamform import compress_db

    phys = fidelity_physics()
    psf = point_envelope_synthetic(phys, 7e-3, phys.width_m / 2)
    tiles = [("PSF, 40 dB", compress_db(psf, phys.scaled(dynamic_range_db=40.0), reference=float(psf.max()))),
             ("speckle, synthetic RF", image_formation.bmode(speckle_envelopes_synthetic(phys, [0], tgc=False)[0], phys))]
    from .fast_backend import fast_envelope

    tissue = np.zeros((phys.rows, phys.cols), dtype=np.int64)
    fast = fast_envelope(homogeneous_tissue(phys, np.random.default_rng(0), phys.tgc_alpha), phys, 0.0,
                         np.random.default_rng([0, 1]), tissue)
    tiles.append(("speckle, fast backend", image_formation.bmode(fast, phys)))
    if kwave:
        from .kwave_backend import channel_rf

        rf, t_peak = channel_rf(phys, homogeneous_tissue(phys, np.random.default_rng(0), phys.tgc_alpha))
        tiles.append(("speckle, k-Wave", image_formation.bmode(image_formation.envelope(rf, phys, t_peak), phys)))
    h, w = phys.out_shape[0] * scale, phys.out_shape[1] * scale
    sheet = Image.new("L", (len(tiles) * (w + 4), h + 14), 0)
    draw = ImageDraw.Draw(sheet)
    for k, (title, img) in enumerate(tiles):
        sheet.paste(Image.fromarray(img).resize((w, h), Image.NEAREST), (k * (w + 4), 14))
        draw.text((k * (w + 4) + 2, 1), title, fill=255)
    sheet.save(path, optimize=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kwave", action="store_true", help="also k-Wave: point target and speckle (a few CPU-s)")
    ap.add_argument("--png", help="also write the PSF / speckle figure here")
    a = ap.parse_args()
    print(format_table(measure(kwave=a.kwave)))
    if a.png:
        print(figure(a.png, kwave=a.kwave))


if __name__ == "__main__":
    main()
