"""Test networks for the complexity counters, and helpers to export them to ONNX."""
from __future__ import annotations

import contextlib
import io

import torch
import torch.nn as nn
import torch.nn.functional as F


class GoldenNet(nn.Module):
    """Hand-counted at 1x1x8x8 (see test_complexity_golden.py)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)  # 36 + 4 params
        self.bn1 = nn.BatchNorm2d(4)  # folds into conv1: 0 FLOPs; 8 params
        self.conv2 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)  # 288 params
        self.bn2 = nn.BatchNorm2d(8)  # after a ReLU: counted; 16 params
        self.fc = nn.Linear(8, 3)  # 27 params

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.bn2(F.relu(self.conv2(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SmallConvBN(nn.Module):
    """A small conv net with BN after convs (folded), a depthwise conv and a standalone BN."""

    def __init__(self, cin=1, k=2):
        super().__init__()
        self.c1 = nn.Conv2d(cin, 16, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(16)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm2d(32)
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False)
        self.b3 = nn.BatchNorm2d(32)
        self.b4 = nn.BatchNorm2d(32)
        self.head = nn.Conv2d(32, k, 1)

    # parameters an exporter's BN folding removes: C per folded BN, plus the conv's own
    # bias it absorbs (c2): b1 16, b2 32 + 32, b3 32; b4 follows a ReLU and stays
    folded_params = 16 + (32 + 32) + 32

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        x = self.b4(F.relu(self.b3(self.dw(x))))
        return F.interpolate(self.head(x), scale_factor=2, mode="bilinear", align_corners=False)


def _block(cin, cout, norm):
    make = {"bn": nn.BatchNorm2d, "gn": lambda c: nn.GroupNorm(4, c), "in": lambda c: nn.InstanceNorm2d(c, affine=True)}[norm]
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), make(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), make(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """UNet-like: BN / GroupNorm / InstanceNorm blocks, max pooling, ConvTranspose,
    bilinear upsampling, skip concatenation and a squeeze-excitation gate (Linear)."""

    def __init__(self, cin=1, k=3, w=16):
        super().__init__()
        self.e1, self.e2, self.e3 = _block(cin, w, "bn"), _block(w, 2 * w, "gn"), _block(2 * w, 4 * w, "in")
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.d2, self.d1 = _block(4 * w, 2 * w, "bn"), _block(3 * w, w, "bn")
        self.head = nn.Conv2d(w, k, 1)
        self.gate = nn.Linear(4 * w, 4 * w)

    folded_params = 16 * 2 + 32 * 2 + 16 * 2  # the BN blocks' channels (bias-free convs)

    def forward(self, x):
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        e3 = e3 * torch.sigmoid(self.gate(F.adaptive_avg_pool2d(e3, 1).flatten(1)))[:, :, None, None]
        d2 = self.d2(torch.cat([self.up2(e3), e2], 1))
        up = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
        return self.head(self.d1(torch.cat([up, e1], 1)))


class AttnNet(nn.Module):
    """Patch embedding, LayerNorm, nn.MultiheadAttention, an MLP, an einsum/matmul
    attention and scaled_dot_product_attention, then bilinear upsampling."""

    def __init__(self, cin=1, k=2, dim=64, heads=4, patch=8):
        super().__init__()
        self.heads = heads
        self.embed = nn.Conv2d(cin, dim, patch, stride=patch)
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.mha = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.head = nn.Conv2d(dim, k, 1)

    folded_params = 0

    def forward(self, x):
        b, _, h, w = x.shape
        t = self.embed(x)
        gh, gw = t.shape[-2:]
        t = t.flatten(2).transpose(1, 2)
        y = self.n1(t)
        t = t + self.mha(y, y, y, need_weights=False)[0]
        t = t + self.mlp(self.n2(t))
        q, k, v = self.qkv(self.n3(t)).chunk(3, -1)
        t = t + torch.matmul(torch.einsum("bqd,bkd->bqk", q, k).softmax(-1), v)
        q2 = q.reshape(b, -1, self.heads, q.shape[-1] // self.heads).transpose(1, 2)
        t = t + F.scaled_dot_product_attention(q2, q2, q2).transpose(1, 2).reshape(b, -1, q.shape[-1])
        f = t.transpose(1, 2).reshape(b, -1, gh, gw)
        return F.interpolate(self.head(f), size=(h, w), mode="bilinear", align_corners=False)


def smp_unet():
    import sonobench.kernel._torchcompat as compat

    compat.ensure()
    import segmentation_models_pytorch as smp

    return smp.Unet("resnet34", encoder_weights=None, in_channels=1, classes=1)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics, in eval mode. Fresh layers hold many equal
    tensors (all-ones norm weights, zero biases) that ONNX exporters merge into one
    initializer; trained networks do not, and counting should be tested like them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.dim() <= 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") else 0.0))
            else:
                t.copy_(torch.randn(t.shape, generator=g) / max(1, t[0].numel()) ** 0.5)
    return model.eval()


# name -> torch.onnx.export arguments; "folds" = whether the exporter folds BN into convs
EXPORTERS = {
    "torchscript": (dict(dynamo=False, opset_version=17), True),
    "torchscript-unfolded": (dict(dynamo=False, opset_version=17, do_constant_folding=False), False),
    "dynamo": (dict(dynamo=True, opset_version=18), True),
    "dynamo-unoptimized": (dict(dynamo=True, opset_version=18, optimize=False), False),
    # a symbolic batch: reshape targets become run-time shape arithmetic the counter must fold
    "torchscript-dynamic-batch": (dict(dynamo=False, opset_version=17, dynamic_axes={"image": {0: "N"}}), True),
    "dynamo-dynamic-batch": (dict(dynamo=True, opset_version=18, dynamic_axes={"image": {0: "N"}}), True),
}


def export_onnx(model, shape, exporter: str) -> bytes:
    kwargs, _ = EXPORTERS[exporter]
    buf = io.BytesIO()
    with contextlib.redirect_stdout(io.StringIO()):  # the dynamo exporter prints progress
        torch.onnx.export(model, (torch.rand(shape),), buf, input_names=["image"], **kwargs)
    return buf.getvalue()
