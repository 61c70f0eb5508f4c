"""Batch sampling and paired augmentations, in torch, driven by one seeded
`torch.Generator` (CPU) so a run is reproducible draw for draw.

Every call draws the same number of random values whatever is switched on or
selected, so changing one probability never shifts the others' draws.

Speckle: ultrasound speckle is multiplicative, Rayleigh-distributed amplitude
noise with a grain of a few pixels. We multiply the image by a mean-1 Rayleigh
field smoothed over 3x3 pixels, blended in with a random strength.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..recipes import Augment

RAYLEIGH_MEAN = math.sqrt(math.pi / 2)  # of a unit-scale Rayleigh variable


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def crop_origins(targets: np.ndarray, index: list[int], crop: tuple[int, int], foreground: float,
                 g: torch.Generator) -> list[tuple[int, int]]:
    """Top-left corner per sample; with probability `foreground` the patch is centred on
    a random foreground pixel (nnU-Net-style oversampling), otherwise anywhere."""
    H, W = targets.shape[1:]
    ch, cw = crop
    coin, pick, uy, ux = (torch.rand(len(index), generator=g) for _ in range(4))
    out = []
    for j, i in enumerate(index):
        fg = np.flatnonzero(targets[i])
        if coin[j] < foreground and fg.size:
            cy, cx = divmod(int(fg[min(int(pick[j] * fg.size), fg.size - 1)]), W)
            y, x = cy - ch // 2, cx - cw // 2
        else:
            y, x = int(uy[j] * (H - ch + 1)), int(ux[j] * (W - cw + 1))
        out.append((min(max(y, 0), H - ch), min(max(x, 0), W - cw)))
    return out


def make_batch(images: np.ndarray, targets: np.ndarray, index: list[int], crop, foreground: float,
               g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Float images N x C x h x w and int64 targets N x h x w (patches when `crop` is set)."""
    if crop is not None:  # a patch never exceeds the image (small tasks train on whole images)
        crop = (min(crop[0], targets.shape[1]), min(crop[1], targets.shape[2]))
    if crop is None or crop == tuple(targets.shape[1:]):
        return torch.from_numpy(images[index]), torch.from_numpy(targets[index].astype(np.int64))
    ch, cw = crop
    origins = crop_origins(targets, index, crop, foreground, g)
    x = np.stack([images[i, :, y:y + ch, x0:x0 + cw] for i, (y, x0) in zip(index, origins)])
    t = np.stack([targets[i, y:y + ch, x0:x0 + cw] for i, (y, x0) in zip(index, origins)])
    return torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))


def _flip(x, y, chosen, dim):
    chosen = chosen.to(x.device)
    x = torch.where(chosen.view(-1, 1, 1, 1), x.flip(dim), x)
    y = torch.where(chosen.view(-1, 1, 1), y.flip(dim), y)
    return x, y


def _affine(x, y, aug: Augment, chosen, g):
    n = x.shape[0]
    angle = torch.deg2rad(_uniform(n, -aug.rotate_deg, aug.rotate_deg, g))
    scale = _uniform(n, *aug.scale, g)
    shift = _uniform(2 * n, -2 * aug.translate, 2 * aug.translate, g).view(n, 2)  # [-1, 1] coordinates
    if not chosen.any():
        return x, y
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    eye = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(n, 2, 3)
    theta = torch.where(chosen.view(-1, 1, 1), theta, eye).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    y = F.grid_sample(y[:, None].to(x.dtype), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return x, y[:, 0].round().long()


def _intensity(x, aug: Augment, chosen, g):
    n = x.shape[0]
    gamma = _uniform(n, *aug.gamma, g).view(-1, 1, 1, 1).to(x.device)
    contrast = _uniform(n, *aug.contrast, g).view(-1, 1, 1, 1).to(x.device)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    changed = ((x.clamp(0, 1) ** gamma - mean) * contrast + mean).clamp(0, 1)
    return torch.where(chosen.view(-1, 1, 1, 1).to(x.device), changed, x)


def _speckle(x, aug: Augment, chosen, g):
    n, _, h, w = x.shape
    strength = _uniform(n, 0.0, aug.speckle_strength, g).view(-1, 1, 1, 1)
    u = torch.rand(n, 1, h, w, generator=g).clamp_min(1e-7)
    rayleigh = torch.sqrt(-2.0 * torch.log(u)) / RAYLEIGH_MEAN
    grain = F.avg_pool2d(rayleigh, 3, stride=1, padding=1, count_include_pad=False)
    field = (1 - strength + strength * grain).to(x.device, x.dtype)
    return torch.where(chosen.view(-1, 1, 1, 1).to(x.device), (x * field).clamp(0, 1), x)


def augment(x: torch.Tensor, y: torch.Tensor, aug: Augment, g: torch.Generator):
    """Flips, light affine, gamma/contrast and speckle, each applied per sample with its probability."""
    n = x.shape[0]
    coins = torch.rand(5, n, generator=g)
    x, y = _flip(x, y, coins[0] < aug.hflip, -1)
    x, y = _flip(x, y, coins[1] < aug.vflip, -2)
    x, y = _affine(x, y, aug, coins[2] < aug.affine, g)
    x = _intensity(x, aug, coins[3] < aug.intensity, g)
    x = _speckle(x, aug, coins[4] < aug.speckle, g)
    return x, y
