"""Shared checks run for every registered architecture (cf. smp's tests/models/base.py).

The 1-channel binary model of each architecture is built once (fixed seed, eval
mode) and shared; checks that need another network rebuild it.
"""
from __future__ import annotations

import copy
import functools
import io
import warnings

import torch

from sonobench.zoo import ARCHITECTURES, build_from_config, create_model, model_config
from sonobench.zoo.export import export_onnx, onnx_max_abs_diff, to_torchscript

SIZE = (64, 64)  # every registered model accepts multiples of 32
ONNX_REL_TOL = 1e-4  # max |ort - torch| <= tol * max(1, max |torch|)
BIG_MODEL_PARAMS = 10_000_000  # ONNX export of larger models is marked slow


def size_kwargs(name: str) -> dict:
    """Models with learned position embeddings are built for the test size."""
    size_arg = ARCHITECTURES.get(name)["size_arg"]
    return {size_arg: SIZE[0]} if size_arg else {}


def build(name: str, in_channels: int = 1, num_classes: int = 1) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, in_channels=in_channels, num_classes=num_classes,
                        **size_kwargs(name)).eval()


@functools.lru_cache(maxsize=None)
def built(name: str) -> torch.nn.Module:
    """The 1-channel binary model at the test size, shared by the checks (none modifies it)."""
    return build(name)


def default_on_meta(name: str) -> torch.nn.Module:
    """The model with every argument at its default (what the goldens describe), moved
    to the meta device: counting FLOPs at 256 x 256 then computes nothing."""
    if not size_kwargs(name):
        return copy.deepcopy(built(name)).to("meta")
    return create_model(name).to("meta")


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def image(batch: int, channels: int = 1, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, channels, *SIZE, generator=torch.Generator().manual_seed(seed))


@functools.lru_cache(maxsize=None)
def expected(name: str, batch: int) -> torch.Tensor:
    """The shared model's output on `image(batch)`, computed once for all checks."""
    with torch.no_grad():
        return built(name)(image(batch))


def check_forward(name: str, in_channels: int, num_classes: int, batch: int = 1) -> None:
    if (in_channels, num_classes) == (1, 1):
        out = expected(name, batch)
    else:
        with torch.no_grad():
            out = build(name, in_channels, num_classes)(image(batch, in_channels))
    assert out.dtype == torch.float32
    assert tuple(out.shape) == (batch, num_classes, *SIZE)
    assert torch.isfinite(out).all()


def check_onnx(name: str, tmp_path) -> str:
    model = built(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx", size=SIZE)
    for batch in (1, 2):  # the batch axis is dynamic
        diff, scale = onnx_max_abs_diff(path, image(batch), expected(name, batch))
        assert diff <= ONNX_REL_TOL * max(1.0, scale), f"{name}: ONNX differs by {diff:.3g} (|y| {scale:.3g})"
    return path


def check_torchscript(name: str) -> None:
    model = built(name)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)  # torch.jit is deprecated
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        torch.jit.save(to_torchscript(model, size=SIZE), buf)
        buf.seek(0)
        loaded = torch.jit.load(buf)
    # a batch other than the traced one; one call, so the fusing optimiser would only
    # add compile time
    with torch.no_grad(), torch.jit.optimized_execution(False):
        torch.testing.assert_close(loaded(image(2)), expected(name, 2), rtol=1e-5, atol=1e-5)


def check_save_load(name: str) -> None:
    model = built(name)
    config = model_config(model)
    assert config["name"] == name
    twin = build_from_config(copy.deepcopy(config)).eval()
    assert model_config(twin) == config
    twin.load_state_dict(model.state_dict())  # strict: same keys and shapes
    with torch.no_grad():
        torch.testing.assert_close(twin(image(1)), expected(name, 1), rtol=1e-6, atol=1e-6)
