"""Image and label I/O plus the model I/O contract's pre- and post-processing."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from sonobench.kernel.errors import InvalidSubmission


def load_gray(path: str | Path) -> np.ndarray:
    """An 8-bit grayscale H x W array (colour images are converted to luminance)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def load_label(path: str | Path) -> np.ndarray:
    """Class indices, H x W uint8."""
    with Image.open(path) as im:
        if im.mode not in ("L", "P", "1", "I", "I;16"):
            im = im.convert("L")
        return np.asarray(im).astype(np.uint8)


def to_input(image: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """uint8 H x W -> float32 1 x C x h x w in [0, 1] (bilinear resize, channel repeated)."""
    h, w = size
    if image.shape != (h, w):
        image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    x = (image.astype(np.float32) / 255.0)[None, None]
    return np.repeat(x, channels, axis=1) if channels > 1 else x


def expected_channels(num_classes: int) -> tuple[int, ...]:
    return (1, num_classes) if num_classes == 2 else (num_classes,)


def check_output(y: np.ndarray, num_classes: int, size: tuple[int, int]) -> np.ndarray:
    """Validate one raw model output (batch 1); return it as float32 K x h x w."""
    allowed = expected_channels(num_classes)
    want = " or ".join(f"1x{k}x{size[0]}x{size[1]}" for k in allowed)
    if y.ndim != 4 or y.shape[0] != 1 or y.shape[1] not in allowed or tuple(y.shape[2:]) != tuple(size):
        raise InvalidSubmission(
            f"the model returned shape {'x'.join(map(str, y.shape))} but this task needs {want} "
            f"(N x K x H x W with K = {num_classes} classes, or 1 for a binary sigmoid output)"
        )
    if not np.isfinite(y).all():
        bad = int((~np.isfinite(y)).sum())
        raise InvalidSubmission(f"the model returned {bad} non-finite values (NaN or Inf); outputs must be finite")
    return y[0].astype(np.float32, copy=False)


def to_labels(y: np.ndarray, native: tuple[int, int], output: str = "logits") -> np.ndarray:
    """K x h x w scores -> H x W class indices at the case's native size."""
    if tuple(y.shape[1:]) != tuple(native):
        H, W = native
        y = np.stack([np.asarray(Image.fromarray(ch).resize((W, H), Image.BILINEAR)) for ch in y])
    if y.shape[0] == 1:
        threshold = 0.0 if output == "logits" else 0.5
        return (y[0] > threshold).astype(np.uint8)
    return y.argmax(axis=0).astype(np.uint8)


def label_png(labels: np.ndarray) -> bytes:
    """A class-index map as compact 8-bit PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(labels.astype(np.uint8)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im).astype(np.uint8)
