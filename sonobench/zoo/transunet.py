"""TransUNet (Chen et al., 2021, arXiv:2102.04306), R50-ViT-B/16 hybrid.

Reference configuration (Beckschen/TransUNet `R50-ViT-B_16`, n_skip 3, as used at
256 x 256 by the BUS benchmarks): a ResNet-v2 trunk with weight-standardised
convolutions and GroupNorm (3/4/9 bottleneck units, widths 256/512/1024) to
stride 16; a 1x1 patch embedding to 768 channels plus learned position
embeddings; 12 pre-norm transformer layers (12 heads, MLP 3072); a cascaded
upsampler (3x3 conv to 512, then four x2 bilinear (align_corners) decoder
blocks 256/128/64/16 with skips from the stride-8, -4 and -2 trunk features)
and a 3x3 head. A 1-channel input is repeated to 3 channels, as the reference
does, so the trunk is the same for grey and RGB input. Real parameter count at
256 x 256: 105.32 M, as Medical-Image-Segmentation-Benchmarks lists; seed 002's
179.07 M is attributed to a counting tool that counts aliased modules twice.

The position embeddings fix the input size: `img_size` (a multiple of 16) must
equal the model's input height and width.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sonobench.zoo.registry import InvalidArchitectureConfig


class StdConv2d(nn.Conv2d):
    """Convolution with weight standardisation (zero mean, unit variance per filter)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(self.weight, dim=[1, 2, 3], keepdim=True, unbiased=False)
        w = (self.weight - mean) / torch.sqrt(var + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Bottleneck(nn.Module):
    """ResNet-v2 bottleneck unit as in the reference (GroupNorm after each conv)."""

    def __init__(self, cin: int, cout: int, cmid: int, stride: int = 1):
        super().__init__()
        self.conv1 = StdConv2d(cin, cmid, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, cmid, eps=1e-6)
        self.conv2 = StdConv2d(cmid, cmid, 3, stride, 1, bias=False)
        self.gn2 = nn.GroupNorm(32, cmid, eps=1e-6)
        self.conv3 = StdConv2d(cmid, cout, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, cout, eps=1e-6)
        self.relu = nn.ReLU(inplace=True)
        self.project = None
        if stride != 1 or cin != cout:
            self.project = nn.Sequential(StdConv2d(cin, cout, 1, stride, bias=False),
                                         nn.GroupNorm(cout, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.project is None else self.project(x)
        y = self.relu(self.gn1(self.conv1(x)))
        y = self.relu(self.gn2(self.conv2(y)))
        return self.relu(residual + self.gn3(self.conv3(y)))


class ResNetV2Trunk(nn.Module):
    def __init__(self, units: Sequence[int] = (3, 4, 9), width: int = 64):
        super().__init__()
        self.root = nn.Sequential(StdConv2d(3, width, 7, 2, 3, bias=False),
                                  nn.GroupNorm(32, width, eps=1e-6), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 0)
        stages, cin = [], width
        for i, n in enumerate(units):
            cout, cmid = width * 4 * 2 ** i, width * 2 ** i
            blocks = [Bottleneck(cin, cout, cmid, 1 if i == 0 else 2)]
            blocks += [Bottleneck(cout, cout, cmid) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Stride-16 features and the skips at strides 8, 4, 2 (deepest first)."""
        h, w = x.shape[2], x.shape[3]
        x = self.root(x)
        skips = [x]
        x = self.pool(x)  # unpadded: odd sizes, so skips are zero-padded at bottom/right
        for i, stage in enumerate(self.stages[:-1]):
            x = stage(x)
            scale = 4 * 2 ** i
            skips.append(F.pad(x, (0, w // scale - x.shape[3], 0, h // scale - x.shape[2])))
        return self.stages[-1](x), skips[::-1]


class TransformerLayer(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.ModuleList(nn.Linear(dim, dim) for _ in range(3))
        self.proj = nn.Linear(dim, dim)
        self.mlp_norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (lin(x).reshape(b, n, self.heads, -1).transpose(1, 2) for lin in self.qkv)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d // self.heads)
        out = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))


def conv_bn_relu_nobias(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu_nobias(cin + cskip, cout),
                                   conv_bn_relu_nobias(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        if skip is not None:
            x = torch.cat((x, skip), dim=1)
        return self.convs(x)


class TransUNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1, img_size: int = 256,
                 hidden: int = 768, layers: int = 12, heads: int = 12, mlp_dim: int = 3072,
                 resnet_units: Sequence[int] = (3, 4, 9), n_skip: int = 3,
                 decoder_channels: Sequence[int] = (256, 128, 64, 16), dropout: float = 0.1):
        super().__init__()
        if img_size % 16:
            raise InvalidArchitectureConfig(f"TransUNet's img_size must be a multiple of 16 (its patch grid), "
                                            f"got {img_size}; resize the task or pick the nearest multiple")
        if in_channels not in (1, 3):
            raise InvalidArchitectureConfig(f"TransUNet's trunk takes 1 (repeated) or 3 channels, got {in_channels}")
        self.img_size = img_size
        self.trunk = ResNetV2Trunk(resnet_units)
        self.patch_embed = nn.Conv2d(self.trunk.out_channels, hidden, 1)
        self.pos_embed = nn.Parameter(torch.zeros(1, (img_size // 16) ** 2, hidden))
        self.embed_dropout = nn.Dropout(dropout)
        self.encoder = nn.Sequential(*(TransformerLayer(hidden, heads, mlp_dim, dropout)
                                       for _ in range(layers)))
        self.encoder_norm = nn.LayerNorm(hidden, eps=1e-6)
        self.conv_more = conv_bn_relu_nobias(hidden, 512)
        skip_ch = [512, 256, 64][:n_skip] + [0] * (len(decoder_channels) - n_skip)
        ins = [512] + list(decoder_channels[:-1])
        self.n_skip = n_skip
        self.decoder = nn.ModuleList(DecoderBlock(i, s, o)
                                     for i, s, o in zip(ins, skip_ch, decoder_channels))
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x, skips = self.trunk(x)
        b, _, h, w = x.shape
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = self.encoder_norm(self.encoder(self.embed_dropout(tokens + self.pos_embed)))
        x = self.conv_more(tokens.transpose(1, 2).reshape(b, -1, h, w))
        for i, block in enumerate(self.decoder):
            x = block(x, skips[i] if i < self.n_skip else None)
        return self.head(x)
