"""Hand-counted FLOPs and parameters (fvcore convention: one multiply-add = one FLOP)."""
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from sonobench.evaluator.complexity import count_onnx, count_torch  # noqa: E402

from .nets import GoldenNet, export_onnx, randomize  # noqa: E402

# GoldenNet at 1x1x8x8:
#   conv1 4x1x3x3 -> 4x8x8: 36 * 64 = 2304     bn1 (after conv1, folded): 0
#   conv2 8x4x3x3 -> 8x4x4: 288 * 16 = 4608    bn2 (after ReLU): 2 * 128 = 256
#   adaptive avg pool: 1 per input element = 128;  fc 8 -> 3: 24
GOLDEN_FLOPS = 2304 + 4608 + 256 + 128 + 24
GOLDEN_PARAMS = (36 + 4) + 8 + 288 + 16 + (24 + 3)
SHAPE = (1, 1, 8, 8)


def test_golden_net_torch():
    out = count_torch(randomize(GoldenNet()), SHAPE)
    assert out == {"params": GOLDEN_PARAMS, "gflops": pytest.approx(GOLDEN_FLOPS / 1e9, rel=1e-12),
                   "counter": "sonobench-fvcore-torch/1"}
    assert isinstance(out["params"], int) and isinstance(out["gflops"], float)


@pytest.mark.parametrize("exporter,params", [
    ("torchscript", GOLDEN_PARAMS - 8),  # bn1 folded into conv1's bias: 2C -> 0 extra
    ("torchscript-unfolded", GOLDEN_PARAMS),
])
def test_golden_net_onnx(exporter, params):
    out = count_onnx(export_onnx(randomize(GoldenNet()), SHAPE, exporter), SHAPE)
    assert out["gflops"] * 1e9 == pytest.approx(GOLDEN_FLOPS, abs=1e-6)
    assert out["params"] == params
    assert out["counter"] == "sonobench-fvcore-onnx/1"


class Op(nn.Module):
    def __init__(self, fn, *modules):
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleList(modules)

    def forward(self, x):
        return self.fn(x, *self.mods)


# (id, module factory, input shape, FLOPs, params), each counted by hand
OPS = [
    ("conv-transpose", lambda: Op(lambda x, m: m(x), nn.ConvTranspose2d(4, 2, 2, stride=2)), (1, 4, 5, 5),
     4 * 2 * 2 * 2 * 25, 32 + 2),
    ("grouped-conv", lambda: Op(lambda x, m: m(x), nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False)), (1, 4, 5, 5),
     8 * 2 * 9 * 25, 144),
    ("batch-norm-on-input", lambda: Op(lambda x, m: m(x), nn.BatchNorm2d(4)), (1, 4, 5, 5), 2 * 100, 8),
    ("batch-norm-no-affine", lambda: Op(lambda x, m: m(torch.relu(x)), nn.BatchNorm2d(4, affine=False)), (1, 4, 5, 5),
     100, 0),
    ("group-norm", lambda: Op(lambda x, m: m(x), nn.GroupNorm(2, 4)), (1, 4, 5, 5), 5 * 100, 8),
    ("instance-norm", lambda: Op(lambda x, m: m(x), nn.InstanceNorm2d(4)), (1, 4, 5, 5), 4 * 100, 0),
    ("instance-norm-affine", lambda: Op(lambda x, m: m(x), nn.InstanceNorm2d(4, affine=True)), (1, 4, 5, 5),
     5 * 100, 8),
    ("layer-norm", lambda: Op(lambda x, m: m(x.permute(0, 2, 3, 1)), nn.LayerNorm(4)), (1, 4, 5, 5), 5 * 100, 8),
    ("upsample-nearest", lambda: Op(lambda x: F.interpolate(x, scale_factor=2, mode="nearest")), (1, 4, 5, 5),
     400, 0),
    ("upsample-bilinear", lambda: Op(lambda x: F.interpolate(x, size=(10, 10), mode="bilinear")), (1, 4, 5, 5),
     4 * 400, 0),
    ("adaptive-avg-pool", lambda: Op(lambda x: F.adaptive_avg_pool2d(x, 2)), (1, 4, 4, 4), 64, 0),
    ("global-mean", lambda: Op(lambda x: x.mean((2, 3))), (1, 4, 5, 5), 100, 0),
    ("max-pool-relu", lambda: Op(lambda x: torch.relu(F.max_pool2d(x, 2))), (1, 4, 4, 4), 0, 0),
    ("linear-on-4d", lambda: Op(lambda x, m: m(x), nn.Linear(5, 3)), (1, 4, 5, 5), 60 * 5, 18),
    ("matmul", lambda: Op(lambda x: x @ x.transpose(-1, -2)), (1, 4, 5, 5), 100 * 5, 0),
    ("einsum", lambda: Op(lambda x: torch.einsum("bchw,bcwk->bchk", x, x)), (1, 4, 5, 5), 100 * 5, 0),
    ("sdpa", lambda: Op(lambda x: F.scaled_dot_product_attention(x, x, x)), (1, 4, 5, 5), 4 * 5 * 5 * (5 + 5), 0),
    ("grid-sample", lambda: Op(lambda x: F.grid_sample(x, torch.zeros(1, 3, 3, 2), align_corners=False)),
     (1, 4, 5, 5), 4 * 36, 0),
]


@pytest.mark.parametrize("make,shape,flops,params", [o[1:] for o in OPS], ids=[o[0] for o in OPS])
def test_single_ops_torch(make, shape, flops, params):
    out = count_torch(randomize(make()), shape)
    assert (out["params"], round(out["gflops"] * 1e9)) == (params, flops)


@pytest.mark.parametrize("make,shape,flops,params", [o[1:] for o in OPS], ids=[o[0] for o in OPS])
def test_single_ops_onnx(make, shape, flops, params):
    out = count_onnx(export_onnx(randomize(make()), shape, "torchscript-unfolded"), shape)
    assert (out["params"], round(out["gflops"] * 1e9)) == (params, flops)
