import importlib.util

import pytest

from sonobench.simulation.physics import Physics

needs_kwave = pytest.mark.skipif(importlib.util.find_spec("kwave") is None, reason="k-wave-python not installed")


def small_physics(rows=96, cols=64, **kw) -> Physics:
    """A tiny field of view (same 3 MHz / 0.15 mm physics) for fast tests."""
    return Physics(rows=rows, cols=cols, out_shape=(rows, cols), **kw)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture(autouse=True)
def _fresh_array_backend():
    """Tests may switch SONOBENCH_SIM_ARRAYS; never leak the choice to the next test."""
    from sonobench.simulation import arrays

    arrays.pick.cache_clear()
    yield
    arrays.pick.cache_clear()
