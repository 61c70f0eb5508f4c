"""UNet 3+ (Huang et al., ICASSP 2020): full-scale skip connections.

Reference configuration (ZJUGiveLab UNet-Version, `UNet_3Plus`, 26.97 M
parameters): a U-Net encoder with widths 64..1024 (two 3x3 conv+BN+ReLU per
level). Every decoder level d gathers all five scales: shallower encoder
features max-pooled down to d's size (ceil mode), the same-level encoder
feature, and deeper decoder features (the bottleneck counts as decoder level 5)
bilinearly upsampled. Each input goes through a 3x3 conv to 64 channels + BN +
ReLU; the 5 x 64 = 320 channels are fused by a 3x3 conv+BN+ReLU. The head is a
3x3 conv on the finest level. Deep supervision and the classification-guided
module are off, as in the reference's default model.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from sonobench.zoo.layers import ConvBlock, conv_bn_relu


class FullScaleInput(nn.Sequential):
    """Resample one feature map to the decoder level's size, then 3x3 conv to `cat_ch`."""

    def __init__(self, in_ch: int, cat_ch: int, scale_log2: int):
        if scale_log2 > 0:  # deeper than the target: upsample
            resample: nn.Module = nn.Upsample(scale_factor=2 ** scale_log2, mode="bilinear")
        elif scale_log2 < 0:  # shallower: pool down
            k = 2 ** -scale_log2
            resample = nn.MaxPool2d(k, k, ceil_mode=True)
        else:
            resample = nn.Identity()
        super().__init__(resample, *conv_bn_relu(in_ch, cat_ch))


class UNet3Plus(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1,
                 widths: Sequence[int] = (64, 128, 256, 512, 1024), cat_channels: int = 64):
        super().__init__()
        widths = list(widths)
        n = len(widths)
        ins = [in_channels] + widths[:-1]
        self.encoder = nn.ModuleList(ConvBlock(i, o) for i, o in zip(ins, widths))
        self.pool = nn.MaxPool2d(2)
        up_ch = cat_channels * n
        self.inputs = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for level in reversed(range(n - 1)):  # decoder levels, deepest first
            sources = []
            for src in range(n):
                # shallower and same-level sources come from the encoder; deeper ones from
                # the decoder (320 channels), except the bottleneck, which is the encoder's
                src_ch = widths[src] if src <= level or src == n - 1 else up_ch
                sources.append(FullScaleInput(src_ch, cat_channels, src - level))
            self.inputs.append(nn.ModuleList(sources))
            self.fuse.append(nn.Sequential(*conv_bn_relu(up_ch, up_ch)))
        self.head = nn.Conv2d(up_ch, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            feats.append(x)
        n = len(feats)
        for k, (sources, fuse) in enumerate(zip(self.inputs, self.fuse)):
            level = n - 2 - k
            # feats[level] is replaced by the decoder output once it is computed, so
            # deeper entries of `feats` are decoder features from here on
            parts = [src(feats[i]) for i, src in enumerate(sources)]
            feats[level] = fuse(torch.cat(parts, dim=1))
        return self.head(feats[0])
