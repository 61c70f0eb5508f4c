"""The architecture registry: name -> entry (builder, default arguments, family,
reference), and a saved model = its registered name + constructor arguments.

`create_model("unet", in_channels=1, num_classes=1)` builds a model and remembers
its configuration; `model_config(model)` returns ``{"name": ..., "kwargs": {...}}``
(JSON-ready, like smp's config.json) and `build_from_config(config)` rebuilds an
identical, freshly initialised network to load a state_dict into.
"""
from __future__ import annotations

import enum
import inspect
import json
from typing import Any, Callable

from torch import nn

from sonobench.kernel.errors import SonoBenchError, UnknownName
from sonobench.kernel.registry import Registry, did_you_mean


class UnknownArchitecture(UnknownName):
    """No architecture is registered under that name."""


class InvalidArchitectureConfig(SonoBenchError):
    """Arguments or a saved config that cannot build a registered architecture."""


class Family(str, enum.Enum):
    CNN = "cnn"
    HYBRID = "hybrid"  # convolutions mixed with MLP or attention stages
    TRANSFORMER = "transformer"


COMMON_DEFAULTS = {"in_channels": 1, "num_classes": 1}
CONFIG_ATTR = "_sonobench_architecture"

ARCHITECTURES: Registry[dict] = Registry("architecture", UnknownArchitecture)


def register(name: str, builder: Callable[..., nn.Module], *, family: Family,
             reference: str, defaults: dict | None = None, size_arg: str | None = None) -> dict:
    """`size_arg`: the constructor argument that fixes the input size (a model with
    learned position embeddings accepts only `size_arg` x `size_arg` images)."""
    entry = {"builder": builder, "defaults": dict(defaults or {}),
             "family": Family(family), "reference": reference, "size_arg": size_arg}
    _check_json(name, entry["defaults"])
    return ARCHITECTURES.register(name, entry)


def _check_json(name: str, kwargs: dict) -> None:
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise InvalidArchitectureConfig(
            f"Arguments of architecture '{name}' must be JSON values (numbers, strings, "
            f"lists, dicts) so a saved model can be rebuilt: {exc}") from None


def _check_kwargs(name: str, builder: Callable, kwargs: dict) -> None:
    params = inspect.signature(builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # passes extras on (smp); the library itself rejects unknown ones
    for key in kwargs:
        if key not in params:
            valid = ", ".join(sorted(params))
            raise InvalidArchitectureConfig(
                f"Architecture '{name}' takes no argument '{key}'. "
                f"Valid arguments: {valid}.{did_you_mean(key, params)}")


def _check_channels(kwargs: dict) -> None:
    for key in ("in_channels", "num_classes"):
        value = kwargs[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArchitectureConfig(
                f"Expected `{key}` to be a positive integer, but got {value!r}")


def resolved_kwargs(name: str, **kwargs: Any) -> dict:
    """The full constructor arguments: common defaults < entry defaults < kwargs."""
    entry = ARCHITECTURES.get(name)
    full = {**COMMON_DEFAULTS, **entry["defaults"], **kwargs}
    _check_kwargs(name, entry["builder"], full)
    _check_channels(full)
    _check_json(name, full)
    return json.loads(json.dumps(full))  # tuples -> lists: what a saved config holds


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered architecture; `in_channels` and `num_classes` (1 = binary,
    one logit channel) are accepted by every entry."""
    full = resolved_kwargs(name, **kwargs)
    model = ARCHITECTURES.get(name)["builder"](**full)
    setattr(model, CONFIG_ATTR, {"name": name, "kwargs": full})
    return model


def model_config(model: nn.Module) -> dict:
    """``{"name": ..., "kwargs": {...}}`` of a model built by `create_model`."""
    config = getattr(model, CONFIG_ATTR, None)
    if config is None:
        raise InvalidArchitectureConfig(
            f"This {type(model).__name__} was not built through the architecture registry; "
            "build it with evaluator.architectures.create_model(name, ...) to save its config")
    return json.loads(json.dumps(config))


def build_from_config(config: dict) -> nn.Module:
    """Rebuild a model from `model_config`'s output (weights freshly initialised)."""
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise InvalidArchitectureConfig(
            'An architecture config is {"name": <registered name>, "kwargs": {...}}; '
            f"got {config!r}")
    extra = set(config) - {"name", "kwargs"}
    if extra:
        raise InvalidArchitectureConfig(
            f"Unexpected keys {sorted(extra)} in architecture config; only 'name' and 'kwargs'")
    kwargs = config.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise InvalidArchitectureConfig(f"Config 'kwargs' must be a dict, got {kwargs!r}")
    return create_model(config["name"], **kwargs)


def list_architectures() -> list[dict]:
    """One row per architecture: name, family, reference, default kwargs, size_arg."""
    return [
        {"name": name, "family": entry["family"].value, "reference": entry["reference"],
         "defaults": {**COMMON_DEFAULTS, **entry["defaults"]}, "size_arg": entry["size_arg"]}
        for name, entry in ARCHITECTURES.items()
    ]
