"""The array library our k-Wave time loop runs on: torch (MKL FFTs on CPU, CUDA when a
GPU is present) when installed, else NumPy + scipy.fft. Both run float32 real FFTs;
the loop is written with operators only, so one code path serves both.

Select with SONOBENCH_SIM_ARRAYS=torch|numpy (default: torch if importable);
SONOBENCH_SIM_THREADS caps torch's threads (dataset workers set it to 1).
"""
from __future__ import annotations

import functools
import os

import numpy as np


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

    def irfft2(self, X, shape):
        return self._fft.irfft2(X, s=shape, workers=1)

    def to_numpy(self, x):
        return np.asarray(x)


class TorchArrays:
    name = "torch"

    def __init__(self):
        import torch

        threads = os.environ.get("SONOBENCH_SIM_THREADS")
        if threads:
            torch.set_num_threads(int(threads))
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

    def irfft2(self, X, shape):
        return self._t.fft.irfft2(X, s=tuple(shape))

    def to_numpy(self, x):
        return x.detach().cpu().numpy()


@functools.lru_cache(maxsize=None)
def pick(name: str | None = None):
    name = name or os.environ.get("SONOBENCH_SIM_ARRAYS") or "auto"
    if name in ("auto", "torch"):
        try:
            return TorchArrays()
        except ImportError:
            if name == "torch":
                raise
    return NumpyArrays()
