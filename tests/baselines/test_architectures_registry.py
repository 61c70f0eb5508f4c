"""The registry API: lookup errors, argument validation, configs, listing."""
from __future__ import annotations

import json

import pytest

from sonobench.kernel.errors import SonoBenchError, UnknownName
from sonobench.zoo import (
    ARCHITECTURES,
    InvalidArchitectureConfig,
    UnknownArchitecture,
    build_from_config,
    create_model,
    list_architectures,
    model_config,
)

REQUIRED = {"anatosegnet", "unet", "attunet", "unetpp", "unet3plus", "unext", "cmunet", "cmunext",
            "deeplabv3plus-r50", "fpn-r34", "segformer-b0", "unet-r34"}


def test_required_architectures_are_registered():
    assert REQUIRED <= set(ARCHITECTURES.names())


def test_unknown_name_lists_choices_and_suggests():
    with pytest.raises(UnknownArchitecture) as info:
        create_model("unet++")
    message = str(info.value)
    assert message.startswith("Unknown architecture 'unet++'. Valid choices: anatosegnet, attunet, cmunet,")
    assert "Did you mean 'unetpp'?" in message or "Did you mean 'unet'?" in message
    assert isinstance(info.value, UnknownName)


def test_unknown_argument_names_valid_ones():
    with pytest.raises(InvalidArchitectureConfig,
                       match=r"takes no argument 'width'.*Valid arguments: in_channels, num_classes, "
                             r"widths\. Did you mean 'widths'\?"):
        create_model("unet", width=[8, 16])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_channel_counts_must_be_positive_integers(bad):
    with pytest.raises(InvalidArchitectureConfig,
                       match=rf"Expected `in_channels` to be a positive integer, but got {bad!r}"):
        create_model("cmunext", in_channels=bad)


def test_smp_models_refuse_pretrained_weights():
    with pytest.raises(InvalidArchitectureConfig, match="encoder_weights is always None"):
        create_model("unet-r34", encoder_weights="imagenet")


def test_config_is_json_and_holds_every_argument():
    model = create_model("cmunext", num_classes=3, depths=(1, 1, 1, 1, 1))
    config = model_config(model)
    assert json.loads(json.dumps(config)) == config
    assert config == {"name": "cmunext", "kwargs": {
        "in_channels": 1, "num_classes": 3, "dims": [16, 32, 128, 160, 256],
        "depths": [1, 1, 1, 1, 1], "kernels": [3, 3, 7, 7, 7]}}
    assert model_config(build_from_config(config)) == config


def test_model_config_needs_a_registry_model():
    import torch

    with pytest.raises(InvalidArchitectureConfig, match="create_model"):
        model_config(torch.nn.Conv2d(1, 1, 1))


@pytest.mark.parametrize("config, match", [
    ("unet", "An architecture config is"),
    ({"kwargs": {}}, "An architecture config is"),
    ({"name": "unet", "kwargs": [1]}, "'kwargs' must be a dict"),
    ({"name": "unet", "weights": "x.pt"}, r"Unexpected keys \['weights'\]"),
])
def test_build_from_config_rejects_malformed(config, match):
    with pytest.raises(InvalidArchitectureConfig, match=match):
        build_from_config(config)


def test_build_from_config_unknown_name():
    with pytest.raises(UnknownArchitecture, match="Did you mean 'cmunext'"):
        build_from_config({"name": "cmunxt", "kwargs": {}})


def test_errors_are_sonobench_errors():
    assert issubclass(InvalidArchitectureConfig, SonoBenchError)
    assert issubclass(UnknownArchitecture, SonoBenchError)


def test_list_architectures_rows():
    rows = list_architectures()
    assert [r["name"] for r in rows] == ARCHITECTURES.names()
    for row in rows:
        assert set(row) == {"name", "family", "reference", "defaults", "size_arg"}
        assert row["family"] in {"cnn", "hybrid", "transformer"}
        assert row["defaults"]["in_channels"] == 1 and row["defaults"]["num_classes"] == 1
        assert row["reference"]
        json.dumps(row)
    by_name = {r["name"]: r for r in rows}
    assert by_name["unext"]["family"] == "hybrid"
    assert by_name["segformer-b0"]["defaults"]["encoder_name"] == "mit_b0"
    assert by_name["transunet"]["size_arg"] == "img_size"
    assert by_name["swin-unet"]["family"] == "transformer"
    assert by_name["swin-unet"]["size_arg"] == "img_size"
    assert by_name["unet"]["size_arg"] is None
