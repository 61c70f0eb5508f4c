"""CMU-Net (Tang et al., ISBI 2023) and CMUNeXt (Tang et al., ISBI 2024).

CMU-Net is the U-Net of unet.py with a ConvMixer bottleneck (depth l, kernel k:
large-kernel depthwise conv with a residual, then a pointwise conv, each
followed by GELU and BatchNorm) and multi-scale attention gates (MSAG) on the
skips. Defaults l=7, k=7 as in the reference code (49.93 M parameters).

CMUNeXt is a lighter encoder-decoder: a 3x3 stem, five stages of CMUNeXt
blocks (depthwise kxk residual, inverted-bottleneck 1x1 convs with ratio 4,
then a 3x3 conv to the stage width), bilinear up-convs, and "fusion" blocks
(grouped 3x3 conv then an inverted bottleneck) in the decoder. Defaults
dims 16/32/128/160/256, depths 1/1/1/3/1, kernels 3/3/7/7/7 (3.15 M).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from sonobench.zoo.layers import ConvBlock, UpConv, conv_gelu_bn, depthwise_residual
from sonobench.zoo.unet import UNet


class MultiScaleAttentionGate(nn.Module):
    """MSAG: 1x1, 3x3 and dilated 3x3 views of a skip vote on a sigmoid gain."""

    def __init__(self, ch: int):
        super().__init__()

        def branch(kernel: int, dilation: int = 1) -> nn.Sequential:
            pad = dilation * (kernel // 2)
            return nn.Sequential(nn.Conv2d(ch, ch, kernel, padding=pad, dilation=dilation),
                                 nn.BatchNorm2d(ch))

        self.pointwise = branch(1)
        self.ordinary = branch(3)
        self.dilated = branch(3, dilation=2)
        self.vote = nn.Sequential(nn.Conv2d(3 * ch, ch, 1), nn.BatchNorm2d(ch), nn.Sigmoid())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, gating: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        views = torch.cat((self.pointwise(skip), self.ordinary(skip), self.dilated(skip)), dim=1)
        return skip + skip * self.vote(self.relu(views))


def conv_mixer(dim: int, depth: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(*(
        nn.Sequential(depthwise_residual(dim, kernel), *conv_gelu_bn(dim, dim))
        for _ in range(depth)
    ))


class CMUNet(UNet):
    def __init__(self, in_channels: int = 1, num_classes: int = 1, mixer_depth: int = 7,
                 mixer_kernel: int = 7, widths: Sequence[int] = (64, 128, 256, 512, 1024)):
        self._mixer = (mixer_depth, mixer_kernel)  # read by make_bottleneck during __init__
        super().__init__(in_channels, num_classes, widths)

    def make_gate(self, width: int) -> nn.Module:
        return MultiScaleAttentionGate(width)

    def make_bottleneck(self, width: int) -> nn.Module:
        return conv_mixer(width, *self._mixer)


class CMUNeXtBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, depth: int, kernel: int):
        mixers = [
            nn.Sequential(depthwise_residual(in_ch, kernel),
                          *conv_gelu_bn(in_ch, 4 * in_ch), *conv_gelu_bn(4 * in_ch, in_ch))
            for _ in range(depth)
        ]
        super().__init__(*mixers, ConvBlock(in_ch, out_ch, repeats=1))


class FusionConv(nn.Sequential):
    """Decoder fusion: grouped 3x3 over [skip, upsampled], then an inverted bottleneck."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(*conv_gelu_bn(in_ch, in_ch, 3, groups=2),
                         *conv_gelu_bn(in_ch, 4 * out_ch), *conv_gelu_bn(4 * out_ch, out_ch))


class CMUNeXt(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1,
                 dims: Sequence[int] = (16, 32, 128, 160, 256),
                 depths: Sequence[int] = (1, 1, 1, 3, 1),
                 kernels: Sequence[int] = (3, 3, 7, 7, 7)):
        super().__init__()
        dims = list(dims)
        if not len(dims) == len(depths) == len(kernels):
            raise ValueError("dims, depths and kernels must have the same length "
                             f"(got {len(dims)}, {len(depths)}, {len(kernels)})")
        self.stem = ConvBlock(in_channels, dims[0], repeats=1)
        ins = [dims[0]] + dims[:-1]
        self.encoder = nn.ModuleList(CMUNeXtBlock(i, o, d, k)
                                     for i, o, d, k in zip(ins, dims, depths, kernels))
        self.pool = nn.MaxPool2d(2)
        levels = list(reversed(range(len(dims) - 1)))
        self.ups = nn.ModuleList(UpConv(dims[i + 1], dims[i], mode="bilinear") for i in levels)
        self.decoder = nn.ModuleList(FusionConv(2 * dims[i], dims[i]) for i in levels)
        self.head = nn.Conv2d(dims[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, block in zip(self.ups, self.decoder):
            x = block(torch.cat((skips.pop(), up(x)), dim=1))
        return self.head(x)
