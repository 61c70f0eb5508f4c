"""Swin-Unet (Cao et al., ECCV 2022 Workshops, arXiv:2105.05537), a U-shaped pure
transformer of shifted-window (Swin) blocks.

Reference configuration (HuCaoFighting/Swin-Unet, `swin_tiny_patch4_window7_224_lite`):
a 4 x 4 patch embedding to 96 channels with LayerNorm (no absolute position
embedding); an encoder of four stages of 2 Swin blocks (3/6/12/24 heads, MLP ratio 4,
qkv bias, scale head_dim^-0.5) at 1/4 ... 1/32 of the image, joined by patch merging
(2 x 2 concat, LayerNorm, linear 4C -> 2C), then a LayerNorm. The decoder mirrors it:
a patch expanding (linear C -> 2C, rearranged to twice the resolution with C/2
channels, LayerNorm) of the deepest features, then three stages that concatenate the
encoder skip, project 2C -> C ("concat_back_dim"), run 2 Swin blocks and (but the
last) expand again; a LayerNorm, a final x4 patch expanding (linear C -> 16C,
rearranged to full resolution with C channels, LayerNorm) and a 1x1 convolution
(no bias) to the classes. As in the reference code, the decoder's blocks follow the
encoder's `depths` (the config's DECODER_DEPTHS is never passed to the network) and
its deepest stage is the patch expanding alone. Drop-path rate 0.2, the config's
DROP_PATH_RATE (the network class defaults to 0.1); stochastic depth is off in eval.

Swin blocks use W x W windows with a learned relative position bias ((2W-1)^2 x heads
table, indexed by a fixed buffer) and, in every second block, windows shifted by W//2
with the mask that keeps tokens from attending across the rolled border. A stage
whose token grid is at most W uses one window of the whole grid and no shift.

Window 8, not the reference's 7: our tasks are 256 x 256, whose token grids 64, 32,
16, 8 are multiples of 8 but not of 7 (the reference runs at 224: grids 56, 28, 14,
7). `img_size` fixes the layout (masks, window sizes), so the model takes only
`img_size` x `img_size` input; every stage's grid must be a multiple of the window or
at most the window (with window 8: 32, 64, 128, then multiples of 256).

Parameters, measured: 27,168,900 for the reference configuration (224 x 224, window
7, 9 classes: the commonly cited 27.17 M); 27,175,524 here (256 x 256, window 8, 1
class). Each block's bias table grows from 13^2 = 169 to 15^2 = 225 rows of `heads`
columns (+56 x 132 heads over the 14 blocks = +7,392) and the 1-class head has 8 x 96
fewer weights (-768). A 1-channel input is repeated to 3 channels as the reference
does, so the trunk and the count are the same for grey and RGB input.

ONNX: both exporters constant-fold the bias lookup (table[index]) into one N^2 x heads
tensor per block (N = W^2), so an exported Swin-Unet counts 27.65 M weights at 256 x
256 (+1.7 %) where PyTorch counts 27.18 M; GFLOPs agree within 0.2 %.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from sonobench.zoo.layers import DropPath, check_input_size, grey_to_rgb
from sonobench.zoo.registry import InvalidArchitectureConfig

MASKED = -100.0  # added to the scores a shifted window must not use (the reference's value)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * windows, window * window, C), windows in row-major order."""
    _, h, w, c = x.shape
    x = x.reshape(-1, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    c = windows.shape[-1]
    x = windows.reshape(-1, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def relative_position_index(window: int) -> torch.Tensor:
    """(N * N,) row of the bias table for each (query, key) pair of a window, N = W^2."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))
    rel = coords[:, :, None] - coords[:, None, :] + (window - 1)  # 2 x N x N, in [0, 2W-2]
    return (rel[0] * (2 * window - 1) + rel[1]).flatten()


def shifted_window_mask(resolution: int, window: int, shift: int) -> torch.Tensor:
    """(windows, N, N), True where query and key came from different regions of the map
    before it was rolled by -shift (the pairs a shifted window must not attend)."""
    regions = torch.zeros(1, resolution, resolution, 1, dtype=torch.long)
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, rows in enumerate(bands):
        for j, cols in enumerate(bands):
            regions[:, rows, cols] = 3 * i + j
    labels = window_partition(regions, window).squeeze(-1)
    return labels[:, :, None] != labels[:, None, :]


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window),
                             persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        _, n, c = x.shape
        qkv = self.qkv(x).reshape(-1, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index]
        attn = attn + bias.reshape(n, n, self.heads).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            # a bool mask, not the reference's float one: an ONNX export would otherwise
            # carry it as a float constant that counts as weights
            attn = attn.reshape(-1, mask.shape[0], self.heads, n, n)
            attn = torch.where(mask[None, :, None], attn + MASKED, attn).reshape(-1, self.heads, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(-1, n, c)))


class SwinBlock(nn.Module):
    """(B, R*R, C) -> same: (shifted) window attention and an MLP, each pre-norm residual."""

    def __init__(self, dim: int, resolution: int, heads: int, window: int, shift: int,
                 mlp_ratio: float, qkv_bias: bool, drop: float, attn_drop: float,
                 drop_path: float):
        super().__init__()
        if resolution <= window:  # one window covers the grid: nothing to shift
            window, shift = resolution, 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop),
                                 nn.Linear(hidden, dim), nn.Dropout(drop))
        mask = shifted_window_mask(resolution, window, shift) if shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, s, c = self.resolution, self.shift, x.shape[-1]
        y = self.norm1(x).reshape(-1, r, r, c)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), self.attn_mask)
        y = window_reverse(y, self.window, r, r)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + self.drop_path(y.reshape(-1, r * r, c))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """(B, R*R, C) -> (B, R*R/4, 2C): each 2 x 2 neighbourhood concatenated, normed, projected."""

    def __init__(self, dim: int, resolution: int):
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, c = self.resolution, x.shape[-1]
        x = x.reshape(-1, r, r, c)
        x = torch.cat((x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]), -1)
        return self.reduction(self.norm(x.reshape(-1, r * r // 4, 4 * c)))


class PatchExpand(nn.Module):
    """(B, R*R, C) -> (B, (sR)^2, out): a linear C -> s^2 * out, each token's output
    rearranged into an s x s block of tokens, then LayerNorm."""

    def __init__(self, dim: int, resolution: int, scale: int, out_dim: int):
        super().__init__()
        self.resolution, self.scale = resolution, scale
        self.expand = nn.Linear(dim, scale * scale * out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, p = self.resolution, self.scale
        x = self.expand(x)
        c = x.shape[-1] // (p * p)
        x = x.reshape(-1, r, r, p, p, c).permute(0, 1, 3, 2, 4, 5)
        return self.norm(x.reshape(-1, r * p * r * p, c))


class SwinStage(nn.Module):
    """Swin blocks (shift on every second one), then an optional resampling layer."""

    def __init__(self, dim: int, resolution: int, depth: int, heads: int, window: int,
                 drop_path: Sequence[float], resample: nn.Module | None, **block_args):
        super().__init__()
        self.blocks = nn.Sequential(*(
            SwinBlock(dim, resolution, heads, window, 0 if i % 2 == 0 else window // 2,
                      drop_path=drop_path[i], **block_args)
            for i in range(depth)))
        self.resample = resample if resample is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resample(self.blocks(x))


def check_layout(img_size: int, patch_size: int, stages: int, window: int) -> list[int]:
    """The token grid side of each stage; raise if one cannot be tiled by windows."""
    def grids(size: int) -> list[int] | None:
        if size % (patch_size * 2 ** (stages - 1)):
            return None
        sides = [size // patch_size // 2 ** i for i in range(stages)]
        return sides if all(s % window == 0 or s <= window for s in sides) else None

    sides = grids(img_size) if isinstance(img_size, int) and img_size > 0 else None
    if sides is None:
        valid = ", ".join(str(s) for s in range(1, 1025) if grids(s))
        raise InvalidArchitectureConfig(
            f"Swin-Unet cannot tile img_size={img_size!r} with patch_size={patch_size}, "
            f"{stages} stages and window_size={window}: every stage's token grid "
            f"(img_size / {patch_size} / 2^stage) must be a whole multiple of the window or at "
            f"most the window. Valid img_size up to 1024: {valid}; or change window_size")
    return sides


class SwinUNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 1, img_size: int = 256,
                 patch_size: int = 4, embed_dim: int = 96, depths: Sequence[int] = (2, 2, 2, 2),
                 heads: Sequence[int] = (3, 6, 12, 24), window_size: int = 8,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.2):
        super().__init__()
        if in_channels not in (1, 3):
            raise InvalidArchitectureConfig(
                f"Swin-Unet takes 1 (repeated to RGB) or 3 input channels, got {in_channels}")
        if len(depths) != len(heads) or len(depths) < 2:
            raise InvalidArchitectureConfig(
                f"Swin-Unet needs one `heads` entry per stage and at least 2 stages; "
                f"got depths={list(depths)}, heads={list(heads)}")
        sides = check_layout(img_size, patch_size, len(depths), window_size)
        self.img_size, n = img_size, len(depths)
        dims = [embed_dim * 2 ** i for i in range(n)]
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linearly rising
        drop_paths = [rates[sum(depths[:i]):sum(depths[:i + 1])] for i in range(n)]
        block_args = {"mlp_ratio": mlp_ratio, "qkv_bias": qkv_bias, "drop": drop_rate,
                      "attn_drop": attn_drop_rate}

        def stage(i: int, resample: nn.Module | None) -> SwinStage:
            return SwinStage(dims[i], sides[i], depths[i], heads[i], window_size,
                             drop_paths[i], resample, **block_args)

        self.patch_embed = nn.Conv2d(3, embed_dim, patch_size, stride=patch_size)
        self.patch_norm = nn.LayerNorm(embed_dim)
        self.pos_drop = nn.Dropout(drop_rate)
        self.encoder = nn.ModuleList(
            stage(i, PatchMerging(dims[i], sides[i]) if i < n - 1 else None) for i in range(n))
        self.norm = nn.LayerNorm(dims[-1])
        self.bottom_expand = PatchExpand(dims[-1], sides[-1], 2, dims[-1] // 2)
        # decoder stages from the deepest skip up; each fuses [x, skip] (2C) back to C
        ups = range(n - 2, -1, -1)
        self.concat_back_dim = nn.ModuleList(nn.Linear(2 * dims[i], dims[i]) for i in ups)
        self.decoder = nn.ModuleList(
            stage(i, PatchExpand(dims[i], sides[i], 2, dims[i] // 2) if i > 0 else None)
            for i in ups)
        self.norm_up = nn.LayerNorm(embed_dim)
        self.final_expand = PatchExpand(embed_dim, sides[0], patch_size, embed_dim)
        self.head = nn.Conv2d(embed_dim, num_classes, 1, bias=False)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, self.img_size)
        x = self.patch_embed(grey_to_rgb(x)).flatten(2).transpose(1, 2)
        x = self.pos_drop(self.patch_norm(x))
        skips = []
        for stage in self.encoder:
            skips.append(x)
            x = stage(x)
        x = self.bottom_expand(self.norm(x))
        for fuse, stage, skip in zip(self.concat_back_dim, self.decoder, skips[-2::-1]):
            x = stage(fuse(torch.cat((x, skip), dim=-1)))
        x = self.final_expand(self.norm_up(x))
        x = x.reshape(-1, self.img_size, self.img_size, x.shape[-1]).permute(0, 3, 1, 2)
        return self.head(x)


def _init_weights(module: nn.Module) -> None:
    """The reference's initialisation: truncated normal (std 0.02) linear weights, zero
    biases, unit LayerNorms; convolutions keep PyTorch's default."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
