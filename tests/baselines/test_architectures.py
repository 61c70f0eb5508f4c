"""Every registered architecture: forward on 1- and 3-channel input, ONNX export with
onnxruntime parity, TorchScript round trip, save/load through its config, and golden
parameter counts and GFLOPs."""
from __future__ import annotations

import copy

import pytest

from sonobench.zoo import ARCHITECTURES

from . import model_tester as mt

NAMES = ARCHITECTURES.names()

# in_channels=1, num_classes=1
PARAMS = {
    "anatosegnet": 92_850_945,  # 92_857_217 at in_channels=3 (pinned below)
    "attunet": 34_877_421,
    "cmunet": 49_931_201,
    "cmunext": 3_148_897,
    "deeplabv3plus-r50": 26_671_313,
    "fpn-r34": 23_149_121,
    "segformer-b0": 3_711_265,
    "swin-unet": 27_175_524,  # reference config at 224, window 7, 9 classes: 27_168_900
    "transunet": 105_322_001,
    "unet": 34_525_889,
    "unet-r34": 24_430_097,
    "unet3plus": 26_970_625,
    "unetpp": 26_897_864,
    "unext": 1_471_633,
}

# Params (M) of the paper models in seed 002's BUS benchmark table. Its TransUNet figure,
# 179.07 M, is not the network's size (attributed to a counting tool that counts aliased
# modules twice): the real count, pinned above, is 105.32 M, the figure that
# Medical-Image-Segmentation-Benchmarks lists for the same configuration.
SEED_002_PARAMS_M = {
    "unet": 34.53,
    "attunet": 34.88,
    "unetpp": 26.90,
    "unet3plus": 26.97,
    "unext": 1.47,
    "cmunet": 49.93,
    "cmunext": 3.15,
}

# evaluator.complexity.count_torch at 1 x 1 x 256 x 256 (one multiply-add = one FLOP).
# Seed 002's GFLOPs are these at 224 x 224 with 3 input channels (e.g. UNet 50.11).
GFLOPS_256 = {
    "anatosegnet": 36.613128,
    "attunet": 66.365161,
    "cmunet": 90.886111,
    "cmunext": 7.286366,
    "deeplabv3plus-r50": 9.043182,
    "fpn-r34": 6.766371,
    "segformer-b0": 1.757659,
    "swin-unet": 8.086340,
    "transunet": 38.513860,
    "unet": 65.287487,
    "unet-r34": 7.715291,
    "unet3plus": 198.232244,
    "unetpp": 37.429838,
    "unext": 0.552165,
}


def onnx_param(name):
    marks = [pytest.mark.slow] if PARAMS.get(name, 0) > mt.BIG_MODEL_PARAMS else []
    return pytest.param(name, marks=marks, id=name)


def test_every_architecture_has_goldens():
    assert sorted(PARAMS) == NAMES
    assert sorted(GFLOPS_256) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_param_count_golden(name):
    assert mt.param_count(mt.default_on_meta(name)) == PARAMS[name]


@pytest.mark.parametrize("num_classes,expected", [(1, 92_857_217), (2, 92_857_282)])
def test_anatosegnet_counts_its_network_without_resnets_unused_classifier(num_classes, expected):
    # AnatoSegNet's paper configuration (RGB input): every tensor of parameters() once, as papers
    # count them; the public code's unused ResNet-50 fc (2,049,000 more) is not part of the module.
    import torch

    from sonobench.zoo import create_model

    with torch.device("meta"):  # counting needs no memory
        model = create_model("anatosegnet", in_channels=3, num_classes=num_classes)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert not hasattr(model.encoder, "fc")


@pytest.mark.parametrize("name", sorted(SEED_002_PARAMS_M))
def test_paper_models_match_seed_002(name):
    assert round(PARAMS[name] / 1e6, 2) == SEED_002_PARAMS_M[name]


@pytest.mark.parametrize("name", NAMES)
def test_gflops_golden(name):
    complexity = pytest.importorskip("sonobench.evaluator.complexity")
    counted = complexity.count_torch(mt.default_on_meta(name), (1, 1, 256, 256))
    assert counted["params"] == PARAMS[name]
    assert counted["gflops"] == pytest.approx(GFLOPS_256[name], rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_forward_one_channel_binary(name):
    mt.check_forward(name, in_channels=1, num_classes=1)


@pytest.mark.parametrize("name", NAMES)
def test_forward_three_channels_multiclass(name):
    mt.check_forward(name, in_channels=3, num_classes=3)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_through_config(name):
    mt.check_save_load(name)


@pytest.mark.parametrize("name", NAMES)
def test_torchscript_round_trip(name):
    mt.check_torchscript(name)


@pytest.mark.parametrize("name", [onnx_param(n) for n in NAMES])
def test_onnx_export_matches_onnxruntime(name, tmp_path):
    path = mt.check_onnx(name, tmp_path)
    complexity = pytest.importorskip("sonobench.evaluator.complexity")
    # the evaluator counts an ONNX submission like the PyTorch model (README: within 1%)
    onnx_count = complexity.count_onnx(path, (1, 1, *mt.SIZE))
    torch_count = complexity.count_torch(copy.deepcopy(mt.built(name)).to("meta"), (1, 1, *mt.SIZE))
    assert onnx_count["params"] == pytest.approx(torch_count["params"], rel=0.01)
    assert onnx_count["gflops"] == pytest.approx(torch_count["gflops"], rel=0.01)


def test_swin_unet_refuses_sizes_its_windows_cannot_tile():
    from sonobench.zoo import InvalidArchitectureConfig, create_model
    with pytest.raises(InvalidArchitectureConfig,
                       match=r"img_size=224 .*window_size=8.*Valid img_size up to 1024: "
                             r"32, 64, 128, 256, 512, 768, 1024"):
        create_model("swin-unet", img_size=224)
    with pytest.raises(InvalidArchitectureConfig, match="1 \\(repeated to RGB\\) or 3 input channels"):
        create_model("swin-unet", in_channels=2)


def test_transunet_config_errors_are_named():
    from sonobench.zoo import InvalidArchitectureConfig, create_model
    with pytest.raises(InvalidArchitectureConfig, match="img_size must be a multiple of 16 .*got 250"):
        create_model("transunet", img_size=250)
    with pytest.raises(InvalidArchitectureConfig, match="takes 1 \\(repeated\\) or 3 channels, got 2"):
        create_model("transunet", in_channels=2)


def test_swin_unet_refuses_another_input_size():
    import torch

    from sonobench.zoo.layers import InputSizeMismatch

    with pytest.raises(InputSizeMismatch, match=r"built for 64 x 64 images \(img_size=64\) but got 32 x 32"):
        mt.built("swin-unet")(torch.zeros(1, 1, 32, 32))


def test_swin_unet_derived_buffers_stay_out_of_the_state_dict():
    model = mt.built("swin-unet")
    buffers = {name for name, _ in model.named_buffers()}
    assert any(n.endswith("attn_mask") for n in buffers)
    assert any(n.endswith("relative_position_index") for n in buffers)
    assert not buffers & set(model.state_dict())
