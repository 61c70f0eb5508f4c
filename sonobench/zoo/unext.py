"""UNeXt (Valanarasu & Patel, MICCAI 2022): conv stages plus tokenized MLP stages.

Reference configuration (UNeXt-pytorch `UNext`, 1.47 M parameters): three conv
stages (3x3 conv, BN, 2x2 max-pool, ReLU) with 16/32/128 channels; two
tokenized stages whose tokens come from an overlapping 3x3 stride-2 patch
embedding (conv + LayerNorm) to 160 and 256 channels. A shifted-MLP block
shifts channel groups along H, applies a token-wise linear layer, a depthwise
3x3 conv and GELU, shifts along W and applies a second linear layer, with a
residual around a pre-LayerNorm (MLP ratio 1, shift size 5). The decoder mirrors
the encoder: 3x3 conv, BN, bilinear x2, ReLU, add the skip; the two deepest
decoder stages are again shifted-MLP blocks followed by LayerNorm.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def shift_channels(x: torch.Tensor, dim: int, groups: int) -> torch.Tensor:
    """Split channels into `groups` chunks and roll chunk g by g - groups//2 pixels
    along `dim` (2 = H, 3 = W), zero-filling the pixels that enter (not wrapping)."""
    pad = groups // 2
    h, w = x.shape[2], x.shape[3]
    x = F.pad(x, (pad, pad, pad, pad))
    chunks = torch.chunk(x, groups, dim=1)
    shifted = [torch.roll(c, s, dim) for c, s in zip(chunks, range(-pad, pad + 1))]
    x = torch.cat(shifted, dim=1)
    return x[:, :, pad:pad + h, pad:pad + w]


def to_tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)


def to_map(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)


class ShiftedMLPBlock(nn.Module):
    def __init__(self, dim: int, mlp_ratio: float = 1.0, shift_size: int = 5):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.shift_size = shift_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x C x H x W feature map; returns the same shape."""
        h, w = x.shape[2], x.shape[3]
        tokens = to_tokens(x)
        y = to_map(self.norm(tokens), h, w)
        y = to_map(self.fc1(to_tokens(shift_channels(y, 2, self.shift_size))), h, w)
        y = self.act(self.dwconv(y))
        y = self.fc2(to_tokens(shift_channels(y, 3, self.shift_size)))
        return to_map(tokens + y, h, w)


class TokenNorm(nn.LayerNorm):
    """LayerNorm over the channels of an N x C x H x W map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return to_map(super().forward(to_tokens(x)), x.shape[2], x.shape[3])


class PatchEmbed(nn.Sequential):
    def __init__(self, in_ch: int, dim: int):
        super().__init__(nn.Conv2d(in_ch, dim, 3, stride=2, padding=1), TokenNorm(dim))


class UNeXt(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1,
                 dims: Sequence[int] = (16, 32, 128, 160, 256), shift_size: int = 5):
        super().__init__()
        c = list(dims)
        if len(c) != 5:
            raise ValueError(f"UNeXt has 3 conv and 2 tokenized stages: dims needs 5 widths, got {c}")
        self.enc_convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1)
                                       for i, o in zip([in_channels] + c[:2], c[:3]))
        self.enc_bns = nn.ModuleList(nn.BatchNorm2d(o) for o in c[:3])
        self.embeds = nn.ModuleList([PatchEmbed(c[2], c[3]), PatchEmbed(c[3], c[4])])
        self.enc_blocks = nn.ModuleList(ShiftedMLPBlock(d, 1.0, shift_size) for d in c[3:])
        self.enc_norms = nn.ModuleList(TokenNorm(d) for d in c[3:])
        outs = [c[3], c[2], c[1], c[0], c[0]]
        self.dec_convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1)
                                       for i, o in zip(c[::-1], outs))
        self.dec_bns = nn.ModuleList(nn.BatchNorm2d(o) for o in outs[:4])
        self.dec_blocks = nn.ModuleList(ShiftedMLPBlock(d, 1.0, shift_size) for d in (c[3], c[2]))
        self.dec_norms = nn.ModuleList(TokenNorm(d) for d in (c[3], c[2]))
        self.head = nn.Conv2d(c[0], num_classes, 1)

    @staticmethod
    def up(x: torch.Tensor) -> torch.Tensor:
        return F.relu(F.interpolate(x, scale_factor=2.0, mode="bilinear"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for conv, bn in zip(self.enc_convs, self.enc_bns):
            x = F.relu(F.max_pool2d(bn(conv(x)), 2, 2))
            skips.append(x)
        for embed, block, norm in zip(self.embeds, self.enc_blocks, self.enc_norms):
            x = norm(block(embed(x)))
            skips.append(x)
        x = skips.pop()  # the bottleneck is not a skip
        for i, conv in enumerate(self.dec_convs):
            if i < len(self.dec_bns):
                x = self.up(self.dec_bns[i](conv(x))) + skips.pop()
            else:
                x = self.up(conv(x))
            if i < len(self.dec_blocks):
                x = self.dec_norms[i](self.dec_blocks[i](x))
        return self.head(x)
