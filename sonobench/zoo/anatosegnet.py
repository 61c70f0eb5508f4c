"""AnatoSegNet (Huang et al., ISBI 2025): a ResNet-50 U-Net with "anatomical attention".

Written here from the paper and the architecture facts of its public code (no code copied):

- Encoder: torchvision's ResNet-50 layout — stem (7x7/2 conv + BN + ReLU, 64 ch, 1/2), then
  max-pool + layer1 (256 ch, 1/4), layer2 (512, 1/8), layer3 (1,024, 1/16), layer4 (2,048, 1/32).
  ResNet-50's 1,000-class `fc` (2,049,000 parameters, unused by the segmentation network; the
  public code keeps it) is left out of the module, so that counting every tensor of
  `parameters()` once gives the network's own size: 92,857,217 at in_channels 3, one class.
- An anatomical-attention block after layer3 (1,024 ch) and another replacing the centre after
  layer4 (2,048 ch), 8 heads each. One block is a single self-attention over the feature map's
  tokens whose logits add three terms — Q·Kᵀ of the tokens, of their horizontal finite
  differences and of their vertical finite differences, all through one shared bias-free QKV
  linear and scaled by √head_dim — plus the constant bias G_ij = β − γ·|i − j| over the
  flattened token index (β = 2, γ = 1: constants, not parameters), then softmax, ·V (of the
  tokens) and an output linear with bias. No residual connection, as in the paper's figure.
- Decoder: four U-Net up-blocks (2x2 transposed conv 2,048→1,024→512→256→64, concatenation with
  the skip, two 3x3 conv with bias + BN + ReLU), a final 2x2 transposed conv 64→64 and a 1x1 conv
  to the classes.

One difference from the public code, on purpose: the differentials are taken over the 2-D token
grid, as the paper describes. The public code reshapes the (B, N, C) token sequence straight to
(B, C, H, W) without transposing first, so its "horizontal" and "vertical" differences mix
channels and positions. The last row/column's difference is 0 (the public code appends the last
value before differencing), which keeps the token count.

Recipe (baselines/recipes.py, profile "paper"): Adam, lr 1e-4, weight decay 1e-4, StepLR(20,
0.1), 50 epochs, batch 16, two-class cross-entropy, 256x256 RGB input. The ImageNet-pretrained
encoder is never downloaded: pass local torchvision ResNet-50 weights with `--init`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sonobench.zoo.registry import InvalidArchitectureConfig


def _resnet50_encoder(in_channels: int) -> nn.Module:
    from sonobench.kernel import _torchcompat
    _torchcompat.ensure()  # torchvision's compiled extension may not load over this torch
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    del net.fc  # the classifier head: not part of the segmentation network
    net.avgpool = nn.Identity()
    return net


class AnatomicalAttention(nn.Module):
    """Differential-aware self-attention with a token-distance bias (see the module docstring)."""

    def __init__(self, channels: int, heads: int = 8, beta: float = 2.0, gamma: float = 1.0):
        super().__init__()
        if channels % heads:
            raise InvalidArchitectureConfig(f"AnatoSegNet: {channels} channels do not split into {heads} heads")
        self.heads, self.head_dim = heads, channels // heads
        self.beta, self.gamma = float(beta), float(gamma)
        self.qkv = nn.Linear(channels, 3 * channels, bias=False)
        self.proj = nn.Linear(channels, channels)

    def _qk(self, tokens: torch.Tensor):
        b, n, c = tokens.shape
        q, k, v = self.qkv(tokens).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        b, c, h, w = fmap.shape
        dx = F.pad(fmap[..., :, 1:] - fmap[..., :, :-1], (0, 1))  # horizontal, over the token grid
        dy = F.pad(fmap[..., 1:, :] - fmap[..., :-1, :], (0, 0, 0, 1))  # vertical
        as_tokens = lambda t: t.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, H*W, C)
        q, k, v = self._qk(as_tokens(fmap))
        qx, kx, _ = self._qk(as_tokens(dx))
        qy, ky, _ = self._qk(as_tokens(dy))
        scale = 1.0 / math.sqrt(self.head_dim)
        logits = (q @ k.transpose(-2, -1) + qx @ kx.transpose(-2, -1) + qy @ ky.transpose(-2, -1)) * scale
        index = torch.arange(h * w, device=fmap.device, dtype=fmap.dtype)
        logits = logits + (self.beta - self.gamma * (index[None, :] - index[:, None]).abs())
        out = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, h * w, c)
        return self.proj(out).transpose(1, 2).reshape(b, c, h, w)


class _UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.convs = nn.Sequential(
            nn.Conv2d(2 * out_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([skip, self.up(x)], dim=1))


class AnatoSegNet(nn.Module):
    """AnatoSegNet at any input size divisible by 32 (see the module docstring)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 1, heads: int = 8,
                 beta: float = 2.0, gamma: float = 1.0):
        super().__init__()
        self.encoder = _resnet50_encoder(in_channels)
        self.attention3 = AnatomicalAttention(1024, heads, beta, gamma)
        self.centre = AnatomicalAttention(2048, heads, beta, gamma)
        self.up = nn.ModuleList([_UpBlock(2048, 1024), _UpBlock(1024, 512), _UpBlock(512, 256), _UpBlock(256, 64)])
        self.final_up = nn.ConvTranspose2d(64, 64, kernel_size=2, stride=2)
        self.head = nn.Conv2d(64, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.encoder
        s1 = e.relu(e.bn1(e.conv1(x)))            # 1/2, 64
        s2 = e.layer1(e.maxpool(s1))              # 1/4, 256
        s3 = e.layer2(s2)                         # 1/8, 512
        s4 = self.attention3(e.layer3(s3))        # 1/16, 1024
        y = self.centre(e.layer4(s4))             # 1/32, 2048
        for block, skip in zip(self.up, (s4, s3, s2, s1)):
            y = block(y, skip)
        return self.head(self.final_up(y))
