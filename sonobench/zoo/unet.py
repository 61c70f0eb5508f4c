"""U-Net (Ronneberger et al., MICCAI 2015) and Attention U-Net (Oktay et al., MIDL 2018).

Both follow the reference configuration used by the breast-ultrasound benchmarks
(seed 002, after the Image_Segmentation / CMU-Net code): widths 64..1024, two
3x3 conv+BN+ReLU per level, decoder upsampling by nearest-neighbour x2 followed
by a 3x3 conv (not a transposed conv), a 1x1 head. That choice is what gives
34.53 M parameters; a transposed-conv U-Net would have 31.0 M.

`UNet` is also the skeleton of CMU-Net (see cmunet.py): subclasses swap the
skip gates and the bottleneck, the encoder/decoder stay the same.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from sonobench.zoo.layers import ConvBlock, UpConv


class SkipPassthrough(nn.Module):
    """A skip gate that leaves the encoder feature untouched (plain U-Net)."""

    def forward(self, gating: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return skip


class AttentionGate(nn.Module):
    """Additive attention gate: the decoder feature decides which skip pixels pass."""

    def __init__(self, gate_ch: int, skip_ch: int, inter_ch: int):
        super().__init__()
        self.w_gate = nn.Sequential(nn.Conv2d(gate_ch, inter_ch, 1), nn.BatchNorm2d(inter_ch))
        self.w_skip = nn.Sequential(nn.Conv2d(skip_ch, inter_ch, 1), nn.BatchNorm2d(inter_ch))
        self.psi = nn.Sequential(nn.Conv2d(inter_ch, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, gating: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        alpha = self.psi(self.relu(self.w_gate(gating) + self.w_skip(skip)))
        return skip * alpha


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1,
                 widths: Sequence[int] = (64, 128, 256, 512, 1024)):
        super().__init__()
        widths = list(widths)
        ins = [in_channels] + widths[:-1]
        self.encoder = nn.ModuleList(ConvBlock(i, o) for i, o in zip(ins, widths))
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = self.make_bottleneck(widths[-1])
        levels = list(reversed(range(len(widths) - 1)))  # deepest skip first
        self.ups = nn.ModuleList(UpConv(widths[i + 1], widths[i]) for i in levels)
        self.gates = nn.ModuleList(self.make_gate(widths[i]) for i in levels)
        self.decoder = nn.ModuleList(ConvBlock(2 * widths[i], widths[i]) for i in levels)
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def make_gate(self, width: int) -> nn.Module:
        return SkipPassthrough()

    def make_bottleneck(self, width: int) -> nn.Module:
        return nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = self.bottleneck(skips.pop())
        for up, gate, block in zip(self.ups, self.gates, self.decoder):
            d = up(x)
            x = block(torch.cat((gate(d, skips.pop()), d), dim=1))
        return self.head(x)


class AttentionUNet(UNet):
    """U-Net whose skips pass through attention gates (intermediate width = width / 2)."""

    def make_gate(self, width: int) -> nn.Module:
        return AttentionGate(width, width, width // 2)
