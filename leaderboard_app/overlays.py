"""Label overlays for qualitative views: filled classes at low opacity plus a solid border."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

# One colour per foreground class (index 1, 2, ...); colour-blind friendly (Okabe-Ito).
PALETTE = np.array([
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
    (0, 114, 178), (213, 94, 0), (204, 121, 167),
], dtype=np.float32)


def class_color(index: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in PALETTE[(index - 1) % len(PALETTE)])


def overlay(image: np.ndarray, labels: np.ndarray | None, alpha: float = 0.35) -> np.ndarray:
    """uint8 H x W grayscale + class-index mask -> uint8 H x W x 3."""
    rgb = np.repeat(image[..., None].astype(np.float32), 3, axis=2)
    if labels is None:
        return rgb.astype(np.uint8)
    for k in np.unique(labels):
        if k == 0:
            continue
        mask = labels == k
        color = PALETTE[(int(k) - 1) % len(PALETTE)]
        rgb[mask] = (1 - alpha) * rgb[mask] + alpha * color
        border = mask & ~ndimage.binary_erosion(mask)
        rgb[border] = color
    return np.clip(rgb, 0, 255).astype(np.uint8)
