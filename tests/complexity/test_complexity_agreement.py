"""The same network counted as PyTorch and as ONNX gives the same GFLOPs and, up to
BN folding, the same parameters (README: How scoring works, Cost; within 1%)."""
import pytest

torch = pytest.importorskip("torch")

from sonobench.evaluator.complexity import count_onnx, count_torch  # noqa: E402

from . import nets  # noqa: E402

SMALL = (1, 1, 64, 64)
NETWORKS = {"SmallConvBN": nets.SmallConvBN, "TinyUNet": nets.TinyUNet, "AttnNet": nets.AttnNet}
_cache: dict = {}


def _torch_count(name):
    if name not in _cache:
        model = nets.randomize(NETWORKS[name]())
        _cache[name] = (model, count_torch(model, SMALL))
    return _cache[name]


def _check(model, ref, onnx_bytes, shape, folds, folded_params):
    out = count_onnx(onnx_bytes, shape)
    assert out["gflops"] == pytest.approx(ref["gflops"], rel=1e-9)
    # an exporter that folds BN into the conv before it keeps C of the BN's 2C parameters
    # (and absorbs the conv's own bias)
    assert ref["params"] - out["params"] == (folded_params if folds else 0)
    return out


def _exporter_params(exporters):
    return [pytest.param(e, marks=pytest.mark.slow) if e.startswith("dynamo") else e for e in exporters]


@pytest.mark.parametrize("exporter", _exporter_params(nets.EXPORTERS))
@pytest.mark.parametrize("name", NETWORKS)
def test_torch_and_onnx_agree(name, exporter):
    model, ref = _torch_count(name)
    _, folds = nets.EXPORTERS[exporter]
    out = _check(model, ref, nets.export_onnx(model, SMALL, exporter), SMALL, folds, model.folded_params)
    if name != "SmallConvBN":  # 5k parameters: its 112 folded BN parameters are 2.1% of it
        assert out["params"] == pytest.approx(ref["params"], rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_smp_unet_resnet34_agrees(exporter):
    model = nets.randomize(nets.smp_unet())
    shape = (1, 1, 256, 256)
    ref = count_torch(model, shape)
    assert ref["params"] == 24_430_097
    assert ref["gflops"] == pytest.approx(7.715291136, rel=1e-9)  # fvcore: 7.733 with BN, 0.0179 of it BN
    every_bn_follows_a_bias_free_conv = sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    out = _check(model, ref, nets.export_onnx(model, shape, exporter), shape, True, every_bn_follows_a_bias_free_conv)
    assert out["params"] == pytest.approx(ref["params"], rel=0.001)


@pytest.mark.parametrize("name", ["SmallConvBN", "TinyUNet"])
def test_traced_and_exported_programs_count_like_eager(name):
    model, ref = _torch_count(name)
    x = torch.rand(SMALL)
    assert count_torch(torch.jit.trace(model, (x,)), SMALL) == ref
    program = torch.export.export(model, (x,))
    assert count_torch(program, SMALL) == ref
    assert count_torch(program.module(), SMALL) == ref


def test_scripted_attention_counts_like_eager():
    """TorchScript keeps nn.MultiheadAttention's fused kernel; it is counted as its matmuls."""
    model, ref = _torch_count("AttnNet")
    assert count_torch(torch.jit.script(model), SMALL) == ref


def test_golden_small_networks():
    """Pinned values (fvcore convention with BN folded into the preceding conv)."""
    assert _torch_count("SmallConvBN")[1]["params"] == 5362
    assert _torch_count("SmallConvBN")[1]["gflops"] == pytest.approx(0.005767168, rel=1e-12)
    assert _torch_count("TinyUNet")[1]["params"] == 121507
    assert _torch_count("TinyUNet")[1]["gflops"] == pytest.approx(0.107728896, rel=1e-12)
    assert _torch_count("AttnNet")[1]["params"] == 50370
    assert _torch_count("AttnNet")[1]["gflops"] == pytest.approx(0.004820992, rel=1e-12)
