"""Small building blocks shared by the paper architectures.

Each block reproduces the layer pattern of the reference implementations the
paper models follow (3x3 convolutions with bias followed by BatchNorm, as in
the U-Net family of the CMU-Net / Medical-Image-Segmentation-Benchmarks code),
because parameter counts are pinned against those references.
"""
from __future__ import annotations

import torch
from torch import nn

from sonobench.kernel.errors import SonoBenchError


class InputSizeMismatch(SonoBenchError):
    """The image size differs from the one a fixed-size model was built for."""


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, bias: bool = True) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=bias),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    ]


class ConvBlock(nn.Sequential):
    """`repeats` x (3x3 conv + BN + ReLU); U-Net's double convolution when repeats=2."""

    def __init__(self, in_ch: int, out_ch: int, repeats: int = 2):
        layers: list[nn.Module] = []
        for i in range(repeats):
            layers += conv_bn_relu(in_ch if i == 0 else out_ch, out_ch)
        super().__init__(*layers)


class UpConv(nn.Sequential):
    """x2 upsampling then 3x3 conv + BN + ReLU (the references' `up_conv`)."""

    def __init__(self, in_ch: int, out_ch: int, mode: str = "nearest"):
        up = nn.Upsample(scale_factor=2, mode=mode)
        super().__init__(up, *conv_bn_relu(in_ch, out_ch))


class Residual(nn.Module):
    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


def conv_gelu_bn(in_ch: int, out_ch: int, kernel: int = 1, groups: int = 1) -> list[nn.Module]:
    """ConvMixer ordering: convolution, GELU, then BatchNorm."""
    return [
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, groups=groups),
        nn.GELU(),
        nn.BatchNorm2d(out_ch),
    ]


def depthwise_residual(dim: int, kernel: int) -> Residual:
    """The large-kernel depthwise mixing step of ConvMixer / CMUNeXt, with a skip."""
    return Residual(nn.Sequential(*conv_gelu_bn(dim, dim, kernel, groups=dim)))


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): while training, drop a residual branch for
    a random subset of the samples and rescale the rest; the identity in eval mode."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


def grey_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """A 1-channel image repeated to 3 channels (a 3-channel one unchanged) for a trunk
    written for RGB input; broadcasting instead of a branch on the channel count keeps
    tracing free of shape-to-bool warnings."""
    return x.expand(-1, 3, -1, -1)


def check_input_size(x: torch.Tensor, size: int, size_arg: str = "img_size") -> None:
    """Refuse an image that is not `size` x `size`, for models whose layers are laid out
    for one input size (H and W are static when exporting, so this is no data branch)."""
    if torch.jit.is_tracing():  # a trace is fixed to its example's size; a check would only warn
        return
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if (h, w) != (size, size):
        raise InputSizeMismatch(
            f"This model was built for {size} x {size} images ({size_arg}={size}) but got "
            f"{h} x {w}; resize the input, or build the model with {size_arg}={h} if that "
            "size is valid for it")
