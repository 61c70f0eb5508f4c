"""Architectures taken from segmentation-models-pytorch (smp), always built
without pretrained weights: nothing may be downloaded at run time, and a
baseline's score must come from its training recipe alone."""
from __future__ import annotations

from torch import nn

from sonobench.zoo.registry import InvalidArchitectureConfig


def smp_model(in_channels: int = 1, num_classes: int = 1, arch: str = "Unet",
              encoder_name: str = "resnet34", **smp_kwargs) -> nn.Module:
    """An smp model with `encoder_weights=None`; extra keyword arguments go to smp."""
    if "encoder_weights" in smp_kwargs:
        raise InvalidArchitectureConfig("encoder_weights is always None for SonoBench baselines "
                         "(no downloads at run time); remove it from the arguments")
    from sonobench.kernel import _torchcompat
    _torchcompat.ensure()  # smp imports torchvision
    import segmentation_models_pytorch as smp

    return smp.create_model(arch, encoder_name=encoder_name, encoder_weights=None,
                            in_channels=in_channels, classes=num_classes, **smp_kwargs)
