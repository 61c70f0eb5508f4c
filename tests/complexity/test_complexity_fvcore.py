"""The own FLOP counter against fvcore itself (`fvcore.nn.FlopCountAnalysis`), on every
registered architecture: within 1%, and the whole difference is one documented op.

fvcore counts an inference-mode batch norm (1 FLOP per element without affine parameters,
as its handle does for BN after a conv); our convention counts 0 for a BN that directly
follows a convolution or linear layer, because every ONNX export folds it into that layer
and the ONNX and PyTorch counts of one network must agree. Every other op fvcore counts
(conv, linear, matmul, layer/group norm, bilinear upsampling, adaptive average pooling)
counts the same; ops fvcore skips (element-wise, max pooling, softmax) count 0 on both sides.
Measured at 64 x 64: the own count is fvcore's minus exactly its batch-norm count on 11 of the
13 architectures; on CMUNet and CMUNeXt a BN after a GELU (not foldable) counts on both sides,
so the difference is the share of BN that follows a convolution.
"""
from __future__ import annotations

import logging
import warnings

import pytest

torch = pytest.importorskip("torch")
fvcore_nn = pytest.importorskip("fvcore.nn")

from sonobench.evaluator.complexity import count_torch  # noqa: E402
from sonobench.zoo import (
    ARCHITECTURES,  # noqa: E402
    create_model,
)

pytestmark = pytest.mark.slow
SIZE = 64  # small input: FLOPs scale with it, the per-op rules do not


def _fvcore(model, shape) -> tuple[float, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            fa = fvcore_nn.FlopCountAnalysis(model, torch.rand(*shape))
            fa.unsupported_ops_warnings(False)
            fa.uncalled_modules_warnings(False)
            return float(fa.total()), dict(fa.by_operator())
        finally:
            logging.disable(logging.NOTSET)


@pytest.mark.parametrize("name", ARCHITECTURES.names())
def test_own_flops_equal_fvcore_within_one_percent(name):
    kwargs = {ARCHITECTURES.get(name)["size_arg"]: SIZE} if ARCHITECTURES.get(name)["size_arg"] else {}
    if name == "swin-unet":
        kwargs["window_size"] = 4  # 64 px / patch 4 = 16 tokens: windows must divide every stage
    torch.manual_seed(0)
    model = create_model(name, in_channels=1, num_classes=1, **kwargs).eval()
    shape = (1, 1, SIZE, SIZE)
    own = count_torch(model, shape)["gflops"] * 1e9
    total, by_op = _fvcore(model, shape)
    assert abs(own - total) <= 0.01 * total, (name, own, total, by_op)
    # the whole difference is batch norm: at most fvcore's BN count, and nothing else (a BN after
    # a conv/linear counts 0 here; one elsewhere, e.g. CMUNet's conv -> GELU -> BN, counts as in fvcore)
    bn = by_op.get("batch_norm", 0.0)
    assert total - bn - 1 <= own <= total + 1, (name, own, total, by_op)
