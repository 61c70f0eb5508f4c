"""The array library our k-Wave time loop runs on: torch (MKL FFTs on CPU, CUDA when a
GPU is present) when installed, else NumPy + scipy.fft. Both run float32 real FFTs;
the loop is written with operators only, so one code path serves both.

Select with SONOBENCH_SIM_ARRAYS=torch|numpy (default: torch if importable);
`use_threads(n)` caps torch's threads in this process (dataset workers use 1). It is a
function, not an environment variable, so nothing leaks into the caller's environment.
"""
from __future__ import annotations

import functools
import sys

import numpy as np

from sonobench.kernel import environment

_threads: int | None = None  # set by use_threads; None = torch's own default


def use_threads(n: int | None) -> int | None:
    """Cap torch's threads for the simulation in this process; returns the previous cap.
    Applied now if torch is already imported, else when the torch backend starts."""
    global _threads
    previous, _threads = _threads, n
    torch = sys.modules.get("torch")
    if n and torch is not None:
        torch.set_num_threads(n)
    return previous


class NumpyArrays:
    name = "numpy"

    def __init__(self):
        import scipy.fft as sfft

        self._fft = sfft

    def asarray(self, a, complex_=False):
        a = np.asarray(a)
        if a.dtype.kind in "iub":
            return a
        return np.ascontiguousarray(a, dtype=np.complex64 if complex_ else np.float32)

    def zeros(self, shape):
        return np.zeros(shape, dtype=np.float32)

    def rfft2(self, x):
        return self._fft.rfft2(x, workers=1)

    def irfft2(self, X, shape, scaled: bool = True):
        """Inverse real FFT over the last two axes; `scaled=False` skips the 1/(n1 n2) factor
        (for operators that carry it already)."""
        return self._fft.irfft2(X, s=shape, workers=1, norm="backward" if scaled else "forward")

    def to_numpy(self, x):
        return np.asarray(x)

    @staticmethod
    def mul_sub_(x, a, b, y):
        """x <- x * a - b * y, in place (the leapfrog update of a field with its PML)."""
        x *= a
        x -= b * y
        return x

    @staticmethod
    def mul_add_(x, a, y):
        """x <- x + a * y, in place."""
        x += a * y
        return x


class TorchArrays:
    name = "torch"

    def __init__(self):
        import torch

        if _threads:
            torch.set_num_threads(_threads)
        self._t = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"

    def asarray(self, a, complex_=False):
        a = np.asarray(a)
        if a.dtype.kind in "iub":
            return self._t.as_tensor(a, device=self.device)
        dtype = self._t.complex64 if complex_ else self._t.float32
        return self._t.as_tensor(np.ascontiguousarray(a), device=self.device).to(dtype)

    def zeros(self, shape):
        return self._t.zeros(tuple(shape), dtype=self._t.float32, device=self.device)

    def rfft2(self, x):
        return self._t.fft.rfft2(x)

    def irfft2(self, X, shape, scaled: bool = True):
        return self._t.fft.irfft2(X, s=tuple(shape), norm="backward" if scaled else "forward")

    def to_numpy(self, x):
        return x.detach().cpu().numpy()

    @staticmethod
    def mul_sub_(x, a, b, y):
        """x <- x * a - b * y, in place: two passes over x and no temporary (addcmul)."""
        return x.mul_(a).addcmul_(b, y, value=-1)

    @staticmethod
    def mul_add_(x, a, y):
        return x.addcmul_(a, y)


@functools.lru_cache(maxsize=None)
def pick(name: str | None = None):
    name = name or environment.get("SONOBENCH_SIM_ARRAYS") or "auto"
    if name in ("auto", "torch"):
        try:
            return TorchArrays()
        except ImportError:
            if name == "torch":
                raise
    return NumpyArrays()
