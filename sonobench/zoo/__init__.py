"""Registered baseline architectures, looked up by name.

    >>> from sonobench.zoo import create_model, model_config, build_from_config
    >>> model = create_model("cmunext", in_channels=1, num_classes=1)
    >>> config = model_config(model)   # {"name": "cmunext", "kwargs": {...}}
    >>> twin = build_from_config(config); twin.load_state_dict(model.state_dict())

Every model maps a float32 N x C x H x W input in [0, 1] to N x num_classes x H x W
logits (num_classes=1: one binary logit channel).
"""
from sonobench.zoo import catalog as _catalog  # noqa: F401  (fills the registry)
from sonobench.zoo.registry import (
    ARCHITECTURES,
    Family,
    InvalidArchitectureConfig,
    UnknownArchitecture,
    build_from_config,
    create_model,
    list_architectures,
    model_config,
)

__all__ = [
    "ARCHITECTURES",
    "Family",
    "InvalidArchitectureConfig",
    "UnknownArchitecture",
    "build_from_config",
    "create_model",
    "list_architectures",
    "model_config",
]
