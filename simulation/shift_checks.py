"""Does each shift condition do what its name says? Measurements on (parent, shifted) image
pairs, and `check_shift_set`, which runs the condition's check over a frozen shift set and
its parent (or its `unshifted` sibling) case by case.

Every measure works on the displayed grey image, read back to decibels with the image's
own dynamic range (grey g -> g / 255 * DR - DR dB), as a person comparing the two images
on the scanner would: nothing from the simulator's insides is needed, except for the
attenuation check's prediction, which re-draws each case's phantom from the parent task's
recorded source (`sonobench simulate` phantoms are a function of preset, seed and index).

The claims (the condition's `claim` in its shift set's task.json):

- high-noise: Pearson correlation of each shifted image with its parent <= 0.85;
- low-dynamic-range: median grey within +-10 % of the parent's;
- strong-attenuation: the change of (deep minus shallow) brightness, 14-20 mm vs 6-10 mm
  (median per-pixel change), within 25 % of the extra two-way attenuation the phantom's
  tissues predict there; the top 5 mm within +-1 dB of the parent (the gain is fixed,
  nothing renormalises). Deeper bands are not used: in the breast phantoms the tissue past
  ~22 mm sits near the receiver-noise floor, which no attenuation darkens (measured with the
  fast model: the change there is 1/3 of the prediction with the 'low' noise level and
  exact without noise). For the same reason the check uses the cases of the 'low' noise
  level (all cases when there are none): at 'high' the 14-20 mm band is noise-limited too;
- low-frequency: speckle autocorrelation FWHM (axial, lateral) grows by the frequency
  ratio within 15 %, measured over windows of fully developed speckle (`speckle_windows`:
  3 x 4 mm tiles clear of labels whose envelope mean/std is Rayleigh-like), as the
  whole image's autocorrelation also holds the tissue's layers and interfaces, which do not
  scale with the frequency (whole image, fast model: 1.19-1.26x instead of 1.5x);
- sound-speed-mismatch: the grey step across lesion borders falls (edges blur), measured
  as the mean |grey inside - grey outside| in 0.5 mm bands either side of the border.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

from .physics import Physics
from .shift_physics import attenuation_profile

SHALLOW_MM, DEEP_MM, TOP_MM = (6.0, 10.0), (14.0, 20.0), 5.0   # bands where echoes stand above the noise
EDGE_BAND_MM = 0.5


@dataclass
class CheckResult:
    condition: str
    claim: str
    passed: bool
    value: float
    target: str
    per_case: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.condition}: {'PASS' if self.passed else 'FAIL'} {self.value:.3f} (target {self.target})"


# ------------------------------------------------------------------ measures

def grey_db(image: np.ndarray, phys: Physics) -> np.ndarray:
    """Grey levels back to dB below the image's 0 dB reference."""
    return image.astype(np.float64) / 255.0 * phys.dynamic_range_db - phys.dynamic_range_db


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def median_grey_ratio(parent: np.ndarray, shifted: np.ndarray) -> float:
    return float(np.median(shifted)) / max(float(np.median(parent)), 1e-9)


def _rows(phys: Physics, lo_mm: float, hi_mm: float) -> slice:
    dz = phys.pixel_mm[0]
    return slice(int(round(lo_mm / dz)), int(round(hi_mm / dz)))


def band_median_db(image: np.ndarray, phys: Physics, lo_mm: float, hi_mm: float) -> float:
    return float(np.median(grey_db(image, phys)[_rows(phys, lo_mm, hi_mm)]))


def band_change_db(parent: np.ndarray, p_phys: Physics, shifted: np.ndarray, s_phys: Physics,
                   lo_mm: float, hi_mm: float) -> float:
    """Median over a depth band of the per-pixel brightness change, shifted minus parent (dB),
    pixels clipped to black or white in either image left out. Both images share the
    phantom's scatterers, so the speckle cancels pixel by pixel."""
    rows = _rows(p_phys, lo_mm, hi_mm)
    a, b = parent[rows], shifted[rows]
    ok = (a > 0) & (a < 255) & (b > 0) & (b < 255)
    diff = grey_db(b, s_phys) - grey_db(a, p_phys)
    return float(np.median(diff[ok])) if ok.any() else math.nan


def depth_contrast_change_db(parent: np.ndarray, p_phys: Physics, shifted: np.ndarray, s_phys: Physics) -> float:
    """Change of (deep minus shallow) brightness, shifted minus parent (dB)."""
    return (band_change_db(parent, p_phys, shifted, s_phys, *DEEP_MM)
            - band_change_db(parent, p_phys, shifted, s_phys, *SHALLOW_MM))


def top_change_db(parent: np.ndarray, p_phys: Physics, shifted: np.ndarray, s_phys: Physics) -> float:
    return band_change_db(parent, p_phys, shifted, s_phys, 0.0, TOP_MM)


def extra_attenuation_db(alpha_coeff: np.ndarray, phys: Physics, scale) -> np.ndarray:
    """(rows, cols) extra two-way attenuation (dB) at f0 when every tissue's coefficient is
    `scale` (a number or a per-row profile, `shift_physics.attenuation_profile`) x its own."""
    per_row = 2 * (np.asarray(scale) - 1) * alpha_coeff * (phys.f0_hz / 1e6) ** phys.alpha_power * phys.dx_m * 100
    return np.cumsum(per_row, axis=0)


def predicted_depth_change_db(alpha_coeff: np.ndarray, phys: Physics, scale) -> float:
    """The deep-minus-shallow change the extra attenuation predicts (negative: darker deep)."""
    extra = extra_attenuation_db(alpha_coeff, phys, scale)
    z_mm = (np.arange(extra.shape[0]) + 0.5) * phys.dx_m * 1e3

    def band(lo, hi):
        return float(np.mean(extra[(z_mm >= lo) & (z_mm < hi)]))

    return -(band(*DEEP_MM) - band(*SHALLOW_MM))


def _envelope(image: np.ndarray, phys: Physics) -> np.ndarray:
    e = 10 ** (grey_db(image, phys) / 20)
    e = e / e.mean(axis=1, keepdims=True)
    return e / e.mean(axis=0, keepdims=True)


def _gaussian_fwhm(profile: np.ndarray) -> float:
    """FWHM (samples) of the Gaussian through lags 1 and 2 of a symmetric autocovariance
    profile (peak in the middle): rho(k) ~ exp(-k^2 / 2 s^2) gives s^2 = 3 / (2 ln(rho1 / rho2)).
    Lag 0 is left out (it carries the uncorrelated part: grey quantisation, clipping), and a
    fit, unlike interpolating between samples, is not biased when the grain spans ~2 pixels."""
    mid = profile.size // 2
    r1, r2 = (profile[mid + 1] + profile[mid - 1]) / 2, (profile[mid + 2] + profile[mid - 2]) / 2
    if r2 <= 0 or r1 <= r2:
        return math.nan
    return 2.3548 * math.sqrt(3 / (2 * math.log(r1 / r2)))


WINDOW_MM = (3.0, 4.0)          # speckle windows (depth, width)
RAYLEIGH_BAND = (1.6, 2.3)      # envelope mean/std of a window of fully developed speckle (1.91)


def speckle_windows(image: np.ndarray, phys: Physics, mask: np.ndarray | None = None) -> list[tuple[slice, slice]]:
    """Windows of homogeneous, fully developed speckle: tiles of WINDOW_MM between 5 mm and
    the last 2 mm, clear of labelled structures (`mask`, grown by 1 mm), whose envelope
    mean/std lies in RAYLEIGH_BAND (interfaces, shadows and noise fall outside it)."""
    dz, dx = phys.pixel_mm
    hz, hx = int(round(WINDOW_MM[0] / dz)), int(round(WINDOW_MM[1] / dx))
    env = 10 ** (grey_db(image, phys) / 20)
    grown = None
    if mask is not None:
        grown = binary_dilation(mask > 0, iterations=max(1, int(round(1.0 / dx))))
    out = []
    r0, r1 = int(round(5.0 / dz)), image.shape[0] - int(round(2.0 / dz))
    for i in range(r0, r1 - hz + 1, hz):
        for j in range(0, image.shape[1] - hx + 1, hx):
            w = (slice(i, i + hz), slice(j, j + hx))
            if grown is not None and grown[w].any():
                continue
            e = env[w]
            clipped = np.mean((image[w] == 0) | (image[w] == 255))
            if clipped < 0.01 and RAYLEIGH_BAND[0] <= e.mean() / max(e.std(), 1e-12) <= RAYLEIGH_BAND[1]:
                out.append(w)
    return out


def speckle_fwhm_mm(image: np.ndarray, phys: Physics, windows: list) -> tuple[float, float]:
    """(axial, lateral) FWHM (mm) of the envelope's autocovariance, summed over `windows`
    (each window's envelope over its own mean, mean removed), by a Gaussian through lags 1-2."""
    dz, dx = phys.pixel_mm
    env = 10 ** (grey_db(image, phys) / 20)
    total = None
    for w in windows:
        e = env[w] / env[w].mean()
        e = e - e.mean()
        f = np.fft.rfft2(e, s=(2 * e.shape[0], 2 * e.shape[1]))
        ac = np.fft.irfft2(np.abs(f) ** 2, s=(2 * e.shape[0], 2 * e.shape[1]))
        total = ac if total is None else total + ac
    if total is None:
        return math.nan, math.nan
    ac = np.fft.fftshift(total)
    c0, c1 = ac.shape[0] // 2, ac.shape[1] // 2
    return _gaussian_fwhm(ac[c0 - 3:c0 + 4, c1]) * dz, _gaussian_fwhm(ac[c0, c1 - 3:c1 + 4]) * dx


def edge_step(image: np.ndarray, label: np.ndarray, phys: Physics) -> float | None:
    """Mean |grey inside - grey outside| over the bands EDGE_BAND_MM either side of the
    labelled structures' borders (None without a labelled structure)."""
    fg = label > 0
    if fg.sum() < 20:
        return None
    n = max(1, int(round(EDGE_BAND_MM / min(phys.pixel_mm))))
    inner = fg & ~binary_erosion(fg, iterations=n)
    outer = binary_dilation(fg, iterations=n) & ~fg
    if not inner.any() or not outer.any():
        return None
    g = image.astype(np.float64)
    return abs(float(g[inner].mean()) - float(g[outer].mean()))


# ------------------------------------------------------------------ on frozen sets

def _pairs(parent_folder, shifted_folder):
    from PIL import Image

    from sonobench.evaluator.tasks import load_task_folder

    parent, shifted = load_task_folder(parent_folder), load_task_folder(shifted_folder)
    by_id = {c.meta.get("source_case", c.id): c for c in parent.cases}
    for case in shifted.cases:
        src = case.meta.get("source_case", case.id)
        if src not in by_id:
            raise ValueError(f"{shifted.ref} case {case.id} has no parent case {src} in {parent.ref}")
        p = by_id[src]
        with Image.open(parent.image_path(p)) as a, Image.open(shifted.image_path(case)) as b, \
                Image.open(shifted.label_path(case)) as lab:
            yield src, np.asarray(a), np.asarray(b), np.asarray(lab), _physics(parent, p), _physics(shifted, case)


def _physics(task, case) -> Physics:
    meta = task.folder / "data" / "meta" / f"{case.id}.json"
    if meta.exists() and "physics" in json.loads(meta.read_text()):
        return Physics.from_json(json.loads(meta.read_text())["physics"])
    return Physics.from_json(task.source["physics"])


def check_shift_set(parent_folder, shifted_folder) -> CheckResult:
    """Run the check of the shifted set's condition over every case (`parent_folder`: the
    parent task's or its `unshifted` set's version folder)."""
    from sonobench.evaluator.tasks import load_task_folder

    from .shifts import CONDITIONS

    shifted = load_task_folder(shifted_folder)
    condition = CONDITIONS.get(shifted.condition["name"])
    pairs = list(_pairs(parent_folder, shifted_folder))
    return CHECKS[condition.name](pairs, condition, shifted)


def _check_noise(pairs, condition, shifted) -> CheckResult:
    r = {cid: correlation(p, s) for cid, p, s, *_ in pairs}
    worst = max(r.values())
    return CheckResult(condition.name, condition.claim, worst <= 0.85, worst, "max correlation <= 0.85", r)


def _check_range(pairs, condition, shifted) -> CheckResult:
    r = {cid: median_grey_ratio(p, s) for cid, p, s, *_ in pairs}
    worst = max(r.values(), key=lambda v: abs(v - 1))
    return CheckResult(condition.name, condition.claim, abs(worst - 1) <= 0.10, worst,
                       "median grey ratio 0.90-1.10 in every case", r)


def _check_attenuation(pairs, condition, shifted) -> CheckResult:
    from sonobench.evaluator.tasks import get_task

    low = {c.meta.get("source_case", c.id) for c in shifted.cases if c.meta.get("noise_level") == "low"}
    pairs = [p for p in pairs if p[0] in low] or pairs  # see the module docstring: the noise floor
    alphas = parent_alpha_maps(get_task(shifted.parent), [cid for cid, *_ in pairs])
    per, tops = {}, {}
    for cid, p, s, _, pp, sp in pairs:
        scale = attenuation_profile(condition.attenuation_scale, condition.attenuation_from_mm, pp)
        predicted = predicted_depth_change_db(alphas[cid], pp, scale)
        per[cid] = depth_contrast_change_db(p, pp, s, sp) / predicted
        tops[cid] = top_change_db(p, pp, s, sp)
    ratio, top = float(np.median(list(per.values()))), max(tops.values(), key=abs)
    return CheckResult(condition.name, condition.claim, abs(ratio - 1) <= 0.25 and abs(top) <= 1.0, ratio,
                       f"median measured/predicted 0.75-1.25 and |top 5 mm| <= 1 dB (worst {top:+.2f} dB)",
                       {"ratio": per, "top_db": tops})


def parent_alpha_maps(parent, case_ids) -> dict:
    """Each case's attenuation-coefficient map, re-drawn from the parent's recorded source."""
    from . import phantom
    from .sample import sample_rngs

    src = parent.source
    phys, preset, seed = Physics.from_json(src["physics"]), src["preset"], int(src["seed"])
    out = {}
    for cid in case_ids:
        index = int(cid.rsplit("-", 1)[1])
        g_rng, s_rng, _, _ = sample_rngs(seed, index)
        specimen = phantom.specimen_of(preset, index)
        params = phantom.draw_phantom(preset, g_rng, phys, phantom.specimen_rng(seed, specimen))
        out[cid] = np.asarray(phantom.acoustic_maps(params, phys, s_rng)["alpha_coeff"], dtype=np.float64)
    return out


def _check_frequency(pairs, condition, shifted) -> CheckResult:
    expected = 1 / condition.physics_scale["f0_hz"]
    per = {}
    for cid, p, s, lab, pp, sp in pairs:
        windows = speckle_windows(p, pp, lab)     # chosen on the parent, the same tiles measured on both
        (a0, l0), (a1, l1) = speckle_fwhm_mm(p, pp, windows), speckle_fwhm_mm(s, sp, windows)
        per[cid] = (a1 / a0, l1 / l0)
    ax, lat = (float(np.median([v[i] for v in per.values()])) for i in (0, 1))
    worst = max((ax, lat), key=lambda v: abs(v / expected - 1))
    ok = all(abs(v / expected - 1) <= 0.15 for v in (ax, lat))
    return CheckResult(condition.name, condition.claim, ok, worst,
                       f"axial {ax:.2f}x, lateral {lat:.2f}x; each {expected:.2f}x +-15 %", per)


def _check_mismatch(pairs, condition, shifted) -> CheckResult:
    per = {}
    for cid, p, s, lab, pp, sp in pairs:
        a, b = edge_step(p, lab, pp), edge_step(s, lab, sp)
        if a is not None and b is not None and a > 0:
            per[cid] = b / a
    ratio = float(np.median(list(per.values()))) if per else math.nan
    return CheckResult(condition.name, condition.claim, bool(per) and ratio < 1.0, ratio,
                       "median edge-step ratio < 1 (borders blur)", per)


def _check_reference(pairs, condition, shifted) -> CheckResult:
    """The parent's image again, up to the last grey level of a few pixels (the order of
    floating-point sums differs with the thread count)."""
    same = {cid: float(np.mean(p == s)) for cid, p, s, *_ in pairs}
    close = all(np.abs(p.astype(int) - s).max() <= 1 for _, p, s, *_ in pairs)
    worst = min(same.values())
    return CheckResult(condition.name, condition.claim, close and worst >= 0.99, worst,
                       ">= 99 % of pixels identical, none off by more than 1 grey level", same)


CHECKS = {"unshifted": _check_reference, "high-noise": _check_noise, "low-dynamic-range": _check_range,
          "strong-attenuation": _check_attenuation, "low-frequency": _check_frequency,
          "sound-speed-mismatch": _check_mismatch}


def check_folders(parent_folder, shifted_folders) -> list[CheckResult]:
    return [check_shift_set(parent_folder, Path(f)) for f in shifted_folders]
