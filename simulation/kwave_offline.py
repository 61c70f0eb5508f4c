"""Import k-wave-python without its import-time binary download.

k-wave-python 0.6.2 ends ``kwave/__init__.py`` with::

    if not binaries_present():
        install_binaries()

``binaries_present`` looks for the C++ executables (and an MD5 metadata JSON per
executable) in ``kwave/bin/<platform>/``; when they are missing,
``install_binaries`` fetches them from GitHub with ``urlretrieve``. Offline, that
raises ``URLError`` and ``import kwave`` fails, although the pure-Python solver we
use never needs those binaries.

We load the package ourselves: parse ``__init__.py``, drop exactly that top-level
``if not binaries_present(): ...`` statement, and execute the rest as the
``kwave`` module. Every other name (``__version__``, ``BINARY_PATH``, ...) is
defined as usual, nothing on disk changes, and no network is touched. If a future
k-wave-python changes that statement, we refuse with a message instead of letting
it download.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
from types import ModuleType

from sonobench.kernel.errors import SonoBenchError

SUPPORTED = "0.6.2"


class KWaveUnavailable(SonoBenchError):
    """k-wave-python is missing or its import cannot be made offline."""


def _is_download_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If):
        return False
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return "binaries_present" in names and "install_binaries" in names


def import_kwave() -> ModuleType:
    """Return the ``kwave`` package, importing it offline on first use."""
    if "kwave" in sys.modules:
        return sys.modules["kwave"]
    spec = importlib.util.find_spec("kwave")
    if spec is None or spec.origin is None:
        raise KWaveUnavailable(
            f"k-wave-python is not installed. Install it with: pip install 'k-wave-python=={SUPPORTED}' "
            "(or pip install -e '.[sim]'), or use --backend fast."
        )
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=spec.origin)
    kept = [n for n in tree.body if not _is_download_guard(n)]
    if len(kept) != len(tree.body) - 1:
        raise KWaveUnavailable(
            f"{spec.origin} no longer has the single binary-download guard this loader removes "
            f"(written for k-wave-python {SUPPORTED}). Install k-wave-python=={SUPPORTED}."
        )
    tree.body = kept
    module = importlib.util.module_from_spec(spec)
    sys.modules["kwave"] = module
    try:
        exec(compile(tree, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules["kwave"]
        raise
    return module


def kspace_simulation_class():
    """k-wave-python's pure-Python k-space solver class (``kwave.solvers.kspace_solver.Simulation``)."""
    import_kwave()
    from kwave.solvers.kspace_solver import Simulation

    return Simulation
