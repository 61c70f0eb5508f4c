"""Reading source images and masks, and turning masks into class-index labels.

Images become 8-bit grayscale (colour is converted to luminance). Binary masks
are thresholded at half their maximum value, so 0/1, 0/255 and anti-aliased
0..255 masks all give the same lesion; several masks of one image are merged
(logical OR), as BUSI's `_mask_1.png`... files require.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from .base import Loaded, SourceCase, SourceProblem

READ_ERRORS = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)


def _open(path: Path, shown: str) -> Image.Image:
    try:
        im = Image.open(path)
        im.load()                          # decode now: truncated or corrupt files fail here
        return im
    except FileNotFoundError:
        raise SourceProblem(shown, "file is missing") from None
    except READ_ERRORS as e:
        raise SourceProblem(shown, f"cannot be read as an image ({e})") from None


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float64)
    top = a.max() if a.size else 0
    return (a if top <= 255 else a * (255.0 / top)).round().clip(0, 255).astype(np.uint8)


def gray(im: Image.Image) -> np.ndarray:
    """8-bit grayscale pixels of an opened image."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _to_uint8(np.asarray(im))
    return np.asarray(im if im.mode == "L" else im.convert("L"))


def mask_levels(im: Image.Image) -> np.ndarray:
    """Mask values as drawn: palette indices stay indices, colour masks use their brightest channel."""
    if im.mode in ("P", "L", "1"):
        return np.asarray(im.convert("L") if im.mode == "1" else im)
    if im.mode in ("RGB", "RGBA", "LA"):
        a = np.asarray(im.convert("RGB"))
        return a.max(axis=2)
    return gray(im)


def binary(levels: np.ndarray) -> np.ndarray:
    top = int(levels.max()) if levels.size else 0
    return (levels > top // 2).astype(np.uint8) if top > 0 else np.zeros(levels.shape, np.uint8)


def _same_size(mask: np.ndarray, image: np.ndarray, mask_path: str, image_path: str) -> None:
    if mask.shape[:2] != image.shape[:2]:
        (h, w), (H, W) = mask.shape[:2], image.shape[:2]
        raise SourceProblem(mask_path, f"mask is {w}x{h} px but its image {image_path} is {W}x{H} px")


# ---- decoders: opened mask images -> (label, stratum or None) ----------------------------

def binary_label(masks: list[Image.Image], paths: list[str]) -> tuple[np.ndarray, str | None]:
    label = binary(mask_levels(masks[0]))
    for im in masks[1:]:
        label |= binary(mask_levels(im))
    return label, None


def uclm_label(masks: list[Image.Image], paths: list[str]) -> tuple[np.ndarray, str | None]:
    """BUS-UCLM draws benign lesions green and malignant ones red on black."""
    rgb = np.asarray(masks[0].convert("RGB")).astype(np.int16)
    lit = rgb.max(axis=2) > 127
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    red, green = lit & (r > g) & (r > b), lit & (g > r) & (g > b)
    other = lit & ~red & ~green
    if other.any():
        y, x = np.argwhere(other)[0]
        raise SourceProblem(paths[0], f"{int(other.sum())} pixel(s) are neither black, green (benign) nor red "
                                      f"(malignant), e.g. RGB{tuple(int(v) for v in rgb[y, x])} at x={x}, y={y}")
    stratum = "malignant" if red.any() else ("benign" if green.any() else "normal")
    return (red | green).astype(np.uint8), stratum


def file_reader(decode: Callable = binary_label) -> Callable[[Path, SourceCase], Loaded]:
    """A `read` function for datasets stored as image files with separate mask files."""
    def read(root: Path, case: SourceCase) -> Loaded:
        with _open(root / case.image, case.image) as im:
            image = gray(im)
        opened = [_open(root / m, m) for m in case.masks]
        try:
            for im, m in zip(opened, case.masks):
                _same_size(np.asarray(im), image, m, case.image)
            label, stratum = decode(opened, list(case.masks))
        finally:
            for im in opened:
                im.close()
        return Loaded(image, label, stratum)
    return read


def check_indices(label: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    top = int(label.max()) if label.size else 0
    if top >= num_classes:
        raise SourceProblem(where, f"label holds class index {top} but the task has {num_classes} classes "
                                   f"(0..{num_classes - 1})")
    return label.astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> None:
    """Deterministic 8-bit PNG: the same pixels always give the same bytes (and SHA-256)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(path, format="PNG", compress_level=6)
