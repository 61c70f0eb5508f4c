"""Count parameters and FLOPs of a PyTorch model by running it once (batch 1, eval
mode, no grad) under a TorchDispatchMode that sees every ATen operator, so
nn.Modules, TorchScript modules and torch.export programs are counted alike.
torch is imported only when a count is asked for."""
from __future__ import annotations

import contextlib
import weakref

from . import conventions as cv
from .errors import ComplexityError


def count_torch(model, input_shape) -> dict:
    """{"params", "gflops", "counter"} of `model` on a float input of `input_shape`
    (1, C, H, W); see `sonobench.evaluator.complexity.conventions` for what is counted."""
    import torch

    shape = cv.check_input_shape(input_shape)
    module = _as_module(model)
    params = sum(p.numel() for p in module.parameters())
    x = _example_input(module, shape)
    counter = _make_counter()
    was_training = getattr(module, "training", False)
    _set_eval(module, True)
    try:
        with torch.no_grad(), _mha_fastpath_disabled(), counter:
            module(x)
    except Exception as e:  # the model's own failure: report it, do not hide it
        raise ComplexityError(f"the model failed on a {tuple(shape)} input while counting FLOPs: "
                              f"{type(e).__name__}: {e}") from e
    finally:
        _set_eval(module, not was_training)
    return {"params": int(params), "gflops": counter.total / 1e9, "counter": cv.COUNTER_TORCH}


def _as_module(model):
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        return model.module()
    if not isinstance(model, torch.nn.Module):
        raise ComplexityError(f"Expected argument `model` to be a torch.nn.Module, a TorchScript module or a "
                              f"torch.export.ExportedProgram, but got {type(model).__name__}.")
    return model


def _set_eval(module, evaluate: bool) -> None:
    try:
        module.train(not evaluate)
    except (NotImplementedError, RuntimeError):  # exported GraphModules refuse train()/eval()
        pass


def _example_input(module, shape):
    import torch

    ref = next((t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()), None)
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None else torch.float32
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    return x.to(device=device, dtype=dtype)


@contextlib.contextmanager
def _mha_fastpath_disabled():
    """nn.MultiheadAttention / TransformerEncoderLayer have a fused inference path
    (one opaque op); counting needs the ops it stands for."""
    import torch

    mha = getattr(torch.backends, "mha", None)
    if mha is None or not hasattr(mha, "set_fastpath_enabled"):
        yield
        return
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def _make_counter():
    from torch.utils._python_dispatch import TorchDispatchMode

    from . import torch_ops

    class FlopCounter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.total = 0
            self.handlers = torch_ops.handlers()
            self._foldable: dict[int, weakref.ref] = {}  # outputs of conv / linear, by id

        def is_foldable(self, t) -> bool:
            ref = self._foldable.get(id(t))
            return ref is not None and ref() is t

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            handler = self.handlers.get(func.overloadpacket)
            if handler is not None:
                flops, foldable = handler(self, args, kwargs, out)
                self.total += int(flops)
                if foldable:
                    self._foldable[id(out)] = weakref.ref(out)
            return out

    return FlopCounter()
