"""UNet++ (Zhou et al., DLMIA/MICCAI workshop 2018): nested dense skip pathways.

The configuration is the one behind seed 002's figure (26.90 M parameters): the
UNet++ of the Medical-Image-Segmentation-Benchmarks code, a ResNet-34 encoder
with a nested decoder. Node X(i, j) (depth i, column j) concatenates every
earlier node of its row with the nearest-upsampled X(i+1, j-1) and applies
three 3x3 conv+BN+ReLU (to width/2, width/2, width). Node widths depend only on
i + j (64, 64, 128, 256 for i + j = 1..4). The four top-row nodes each have a
1x1 head; the logits are mixed with learned weights (deep supervision folded
into one output) and bilinearly resized from stride 2 to the input size.
The original allocates five mixing weights and uses four; we allocate four.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

RESNET34_LAYERS = (3, 4, 6, 3)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al., 2016): two 3x3 convs and a shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


def resnet_stage(in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_ch, out_ch, stride),
                         *(BasicBlock(out_ch, out_ch) for _ in range(blocks - 1)))


class ResNetEncoder(nn.Module):
    """ResNet-34 trunk returning the stride-2 stem and the four stage outputs."""

    widths = (64, 64, 128, 256, 512)

    def __init__(self, in_channels: int, layers: Sequence[int] = RESNET34_LAYERS):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        w = self.widths
        self.stages = nn.ModuleList(
            resnet_stage(w[i], w[i + 1], n, 1 if i == 0 else 2) for i, n in enumerate(layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        x = self.pool(feats[0])
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class NestedBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int):
        mid = out_ch // 2
        layers: list[nn.Module] = []
        for i, o in ((in_ch, mid), (mid, mid), (mid, out_ch)):
            layers += [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
                       nn.ReLU(inplace=True)]
        super().__init__(*layers)


class UNetPlusPlus(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1,
                 decoder_widths: Sequence[int] = (64, 64, 128, 256)):
        super().__init__()
        self.encoder = ResNetEncoder(in_channels)
        depth = len(ResNetEncoder.widths) - 1
        if len(decoder_widths) != depth:
            raise ValueError(f"decoder_widths needs {depth} entries, got {len(decoder_widths)}")
        ch = {(i, 0): w for i, w in enumerate(ResNetEncoder.widths)}
        self.nodes = nn.ModuleDict()
        for j in range(1, depth + 1):  # column by column, as the forward pass visits them
            for i in range(depth + 1 - j):
                ch[i, j] = decoder_widths[i + j - 1]
                in_ch = sum(ch[i, k] for k in range(j)) + ch[i + 1, j - 1]
                self.nodes[f"x{i}_{j}"] = NestedBlock(in_ch, ch[i, j])
        self.depth = depth
        self.heads = nn.ModuleList(nn.Conv2d(ch[0, j], num_classes, 1) for j in range(1, depth + 1))
        self.mix = nn.Parameter(torch.ones(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        grid = {(i, 0): f for i, f in enumerate(self.encoder(x))}
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                up = F.interpolate(grid[i + 1, j - 1], scale_factor=2.0, mode="nearest")
                row = [grid[i, k] for k in range(j)]
                grid[i, j] = self.nodes[f"x{i}_{j}"](torch.cat(row + [up], dim=1))
        logits = sum(self.mix[j] * head(grid[0, j + 1]) for j, head in enumerate(self.heads))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
