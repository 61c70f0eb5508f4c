"""Training-free sim -> real style adaptation of simulated B-mode images toward a
folder of unlabelled target-domain images. Labels are never touched: only image
intensities change, pixel for pixel in place.

Methods (`STYLES`):

- ``fda``: Fourier Domain Adaptation (Yang & Soatto, "FDA: Fourier Domain
  Adaptation for Semantic Segmentation", CVPR 2020). The centred low-frequency
  square of the source's amplitude spectrum, of half-width floor(beta * min(H, W)),
  is replaced by the target's; the source's phase (its geometry) is kept. beta = 0
  is the identity; the paper uses beta in 0.01-0.09.
- ``histogram``: classical histogram matching (the source's empirical CDF mapped
  onto the target's, the algorithm of skimage.exposure.match_histograms, written
  in numpy because scikit-image is not a dependency).
- ``speckle``: speckle-contrast matching. Fully developed speckle has a fixed
  contrast (std / mean 0.52 for a Rayleigh envelope: Burckhardt 1978; Wagner et al.
  1983), so after log compression the local standard deviation of speckle is set
  by the scanner's dynamic range and compression; simulators and scanners differ
  in it. The fluctuation around the local mean (a `size` x `size` box) is scaled
  so that the median local std equals the target's; the local mean (anatomy,
  lesion contrast) is kept. It matches speckle contrast, not grain size.

Interface: an adapter is a callable ``image -> image`` (float HxW in [0, 1]) taking
a ``numpy.random.Generator`` that picks the target image, with ``fit(folder)`` to
read the targets. A learned style model plugs in with the same interface: the
seeds' CycleGAN + APSA generator would be trained on a GPU outside SonoBench, and
its adapter's ``fit`` would load the trained generator (nothing is downloaded),
``__call__`` run it on the image; registering it in `STYLES` makes it usable by
`sonobench style-adapt` and `--style-target`. It is not provided here.

Determinism: for one seed the same target is drawn for the same image, so the
output bytes repeat (`adapt_folder` seeds image i with (seed, i)).
"""
from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import Registry, parse_choice

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class StyleError(SonoBenchError):
    """A style target folder or option that cannot be used."""


class StyleMethod(str, Enum):
    FDA = "fda"
    HISTOGRAM = "histogram"
    SPECKLE = "speckle"


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_gray(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=np.float64) / 255.0


def load_targets(folder) -> list[np.ndarray]:
    folder = Path(folder)
    if not folder.is_dir():
        raise StyleError(f"style target {folder} is not a folder; pass a folder of unlabelled target-domain images")
    files = image_files(folder)
    if not files:
        raise StyleError(f"style target {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return [read_gray(p) for p in files]


def _resized(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if image.shape == tuple(shape):
        return image
    img = Image.fromarray(image.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR)
    return np.asarray(img, dtype=np.float64)


def fda_window(shape: tuple[int, int], beta: float) -> tuple[slice, slice]:
    """The centred (fftshift-ed) low-frequency square FDA swaps: frequencies -b..b on each axis.
    Symmetric about DC, so the swapped spectrum stays Hermitian and the image real."""
    h, w = shape
    b = min(int(np.floor(min(h, w) * beta)), min(h, w) // 2 - 1)
    return slice(h // 2 - b, h // 2 + b + 1), slice(w // 2 - b, w // 2 + b + 1)


def fda_swap(source: np.ndarray, target: np.ndarray, beta: float) -> np.ndarray:
    """Source with its low-frequency amplitude replaced by the target's (float, not clipped)."""
    if not 0 <= beta < 0.5:
        raise StyleError(f"FDA beta must lie in [0, 0.5), got {beta}")
    source = np.asarray(source, dtype=np.float64)
    if beta == 0:
        return source.copy()
    fs = np.fft.fftshift(np.fft.fft2(source))
    ft = np.fft.fftshift(np.fft.fft2(_resized(np.asarray(target, np.float64), source.shape)))
    amp, phase = np.abs(fs), np.angle(fs)
    win = fda_window(source.shape, beta)
    amp[win] = np.abs(ft)[win]
    return np.fft.ifft2(np.fft.ifftshift(amp * np.exp(1j * phase))).real


def match_histogram(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map the source's empirical CDF onto the target's (same algorithm as skimage's)."""
    s_vals, s_idx, s_counts = np.unique(np.asarray(source).ravel(), return_inverse=True, return_counts=True)
    t_vals, t_counts = np.unique(np.asarray(target).ravel(), return_counts=True)
    s_q = np.cumsum(s_counts) / source.size
    t_q = np.cumsum(t_counts) / target.size
    return np.interp(s_q, t_q, t_vals)[s_idx].reshape(source.shape)


def local_stats(image: np.ndarray, size: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and standard deviation over a size x size box (mirrored at the borders)."""
    from scipy.ndimage import uniform_filter

    image = np.asarray(image, np.float64)
    mean = uniform_filter(image, size, mode="reflect")
    var = uniform_filter(image * image, size, mode="reflect") - mean * mean
    return mean, np.sqrt(np.clip(var, 0.0, None))


def speckle_gain(source: np.ndarray, target: np.ndarray, size: int = 7) -> float:
    """Factor that brings the source's median local std to the target's."""
    return float(np.median(local_stats(target, size)[1]) / max(np.median(local_stats(source, size)[1]), 1e-8))


def match_speckle(source: np.ndarray, target: np.ndarray, size: int = 7) -> np.ndarray:
    """Source with its fluctuation around the local mean scaled to the target's speckle contrast."""
    mean, _ = local_stats(source, size)
    return mean + speckle_gain(source, target, size) * (np.asarray(source, np.float64) - mean)


class _TargetAdapter:
    """Shared part: the target images and the seeded choice of one per call."""
    method: StyleMethod

    def __init__(self):
        self.targets: list[np.ndarray] = []

    def fit(self, folder) -> "_TargetAdapter":
        import hashlib

        self.targets = load_targets(folder)
        h = hashlib.sha256()
        for p in image_files(Path(folder)):  # what the targets are, for records and caches keyed on them
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        self.targets_sha256 = h.hexdigest()
        return self

    def pick(self, rng: np.random.Generator) -> np.ndarray:
        if not self.targets:
            raise StyleError("the style adapter has no targets: call fit(folder) first")
        return self.targets[int(rng.integers(len(self.targets)))]

    def describe(self) -> dict:
        return {"method": self.method.value, "targets": len(self.targets),
                "targets_sha256": getattr(self, "targets_sha256", None)}


class FDA(_TargetAdapter):
    method = StyleMethod.FDA

    def __init__(self, beta: float = 0.01):
        super().__init__()
        fda_swap(np.zeros((4, 4)), np.zeros((4, 4)), beta)  # checks beta now, not at the first image
        self.beta = beta

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(fda_swap(image, self.pick(rng), self.beta), 0.0, 1.0)

    def describe(self) -> dict:
        return {**super().describe(), "beta": self.beta, "reference": "Yang & Soatto, CVPR 2020"}


class HistogramMatch(_TargetAdapter):
    method = StyleMethod.HISTOGRAM

    def __init__(self, beta: float = 0.0):  # beta unused: one signature for every factory
        super().__init__()

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(match_histogram(np.asarray(image, np.float64), self.pick(rng)), 0.0, 1.0)


class SpeckleMatch(_TargetAdapter):
    method = StyleMethod.SPECKLE

    def __init__(self, beta: float = 0.0, size: int = 7):  # beta unused: one signature for every factory
        super().__init__()
        self.size = size

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(match_speckle(image, self.pick(rng), self.size), 0.0, 1.0)

    def describe(self) -> dict:
        return {**super().describe(), "window": self.size}


STYLES: Registry[Callable[..., _TargetAdapter]] = Registry("style method", StyleError)
STYLES.register(StyleMethod.FDA.value, FDA)
STYLES.register(StyleMethod.HISTOGRAM.value, HistogramMatch)
STYLES.register(StyleMethod.SPECKLE.value, SpeckleMatch)


def make_adapter(method: str, target_dir, beta: float = 0.01):
    method = parse_choice(StyleMethod, method, "style method", StyleError)
    return STYLES.get(method.value)(beta=beta).fit(target_dir)


class StyleBatches:
    """Train-time use: restyle each sample of a batch with probability `p`. Draws the same
    number of values from the torch generator whatever is chosen, so runs repeat."""

    def __init__(self, adapter, p: float = 0.5):
        self.adapter, self.p = adapter, p

    def __call__(self, x, g):
        import torch

        coins = torch.rand(x.shape[0], generator=g)
        seeds = torch.randint(0, 2**31 - 1, (x.shape[0],), generator=g)
        out = x.clone()
        for i in range(x.shape[0]):
            if coins[i] < self.p:
                for c in range(x.shape[1]):  # a fresh generator per channel: every channel gets the same target
                    rng = np.random.default_rng(int(seeds[i]))
                    out[i, c] = torch.from_numpy(self.adapter(x[i, c].numpy(), rng).astype(np.float32))
        return out

    def describe(self) -> dict:
        return {**self.adapter.describe(), "p": self.p}

    @property
    def tag(self) -> str:
        """Names a style-adapted run apart from the plain one: method and the targets' content."""
        return f"style-{self.adapter.method.value}-{str(self.adapter.describe()['targets_sha256'])[:8]}"


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def adapt_folder(source, out, adapter, seed: int = 0) -> dict:
    """Write adapted copies of the images of `source` (a `sonobench simulate` folder with
    images/ and labels/, or a plain folder of images) to out/images; labels are copied
    byte for byte. Image i (sorted by name) is adapted with the generator seeded (seed, i)."""
    source, out = Path(source), Path(out)
    img_dir = source / "images" if (source / "images").is_dir() else source
    files = image_files(img_dir)
    if not files:
        raise StyleError(f"{img_dir} holds no images to adapt")
    if out.resolve() == source.resolve():
        raise StyleError("--out must differ from the source folder: the simulated images stay as they are")
    (out / "images").mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(files):
        adapted = adapter(read_gray(path), np.random.default_rng([seed, i]))
        Image.fromarray(to_uint8(adapted)).save(out / "images" / f"{path.stem}.png")
    labels = 0
    if (source / "labels").is_dir():
        shutil.copytree(source / "labels", out / "labels", dirs_exist_ok=True)
        labels = len(image_files(out / "labels"))
    return {"images": len(files), "labels_copied": labels, "out": str(out), **adapter.describe()}


def contact_sheet(rows: list[list[np.ndarray]], path, titles: list[str] | None = None, size: int = 160) -> Path:
    """A grid PNG: one row per example, one column per stage (e.g. source | FDA | histogram | target)."""
    from PIL import ImageDraw

    head = 18 if titles else 0
    cols = max(len(r) for r in rows)
    sheet = Image.new("L", (cols * (size + 4), head + len(rows) * (size + 4)), 255)
    draw = ImageDraw.Draw(sheet)
    for j, t in enumerate(titles or []):
        draw.text((j * (size + 4) + 4, 3), t, fill=0)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            tile = Image.fromarray(to_uint8(img)).resize((size, size), Image.BILINEAR)
            sheet.paste(tile, (j * (size + 4), head + i * (size + 4)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def write_sheet(source, out, target_dir, path, seed: int = 0, n: int = 4) -> Path:
    """Contact sheet of `adapt_folder`'s result: source | adapted | a target image, per row."""
    source, out = Path(source), Path(out)
    img_dir = source / "images" if (source / "images").is_dir() else source
    targets = image_files(Path(target_dir))
    rows = [[read_gray(p), read_gray(out / "images" / f"{p.stem}.png"), read_gray(targets[i % len(targets)])]
            for i, p in enumerate(image_files(img_dir)[:n])]
    return contact_sheet(rows, path, ["simulated", "adapted", "a target"])
