"""Where work runs: `local` (this machine's processes, the default) or `ray` (a Ray cluster).

One flag, `--executor local|ray`, chooses the engine for `sonobench worker`, `simulate`
and `baselines run`; `--address` names the cluster. Ray is an optional extra, imported
only here and in the modules that submit Ray tasks; without it, choosing Ray fails with
`RayUnavailable`, whose message says what to install. The store never leaves the driver:
Ray tasks return results and the driver commits them.
"""
from __future__ import annotations

import enum
import socket

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import parse_choice

INSTALL_HINT = "pip install 'sonobench[ray]'"


class Executor(str, enum.Enum):
    LOCAL = "local"
    RAY = "ray"


class RayUnavailable(SonoBenchError):
    """The Ray executor was chosen but Ray is not installed."""


class RayConnectionFailed(SonoBenchError):
    """No Ray cluster could be started or reached at the given address."""


def parse_executor(value: str | Executor) -> Executor:
    """`Executor(value)`, or UnknownName listing the choices with a 'did you mean'."""
    return parse_choice(Executor, value, "executor")


def import_ray():
    """The `ray` module, or RayUnavailable saying what to install."""
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(f"--executor ray needs Ray, which is not installed ({e}). Install the extra: "
                             f"{INSTALL_HINT} (or, from a checkout, pip install -e '.[ray]').") from None
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (Ray itself waits minutes for its GCS)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # 'auto' and other forms are Ray's to resolve
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise RayConnectionFailed(f"Cannot reach a Ray cluster at {address}: {e}. Start one with `ray start --head` "
                                  "on the head node, then pass its address (HEAD_IP:6379, or auto on a node of "
                                  "the cluster).") from None


def connect(address: str | None = None, **local_options):
    """Join the cluster at `address`, or start a private one-machine cluster when None (never
    another cluster that happens to run here), unless this process already joined one (e.g. a
    test's `ray.init(num_cpus=2)`).
    Returns the `ray` module."""
    ray = import_ray()
    if address:
        _probe(address)
    if ray.is_initialized():
        return ray
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(address="local", include_dashboard=False, log_to_driver=False, **local_options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"at {address}" if address else "on this machine"
        raise RayConnectionFailed(f"Cannot reach a Ray cluster {where}: {e}. Start one with `ray start --head` "
                                  "on the head node and pass its address (e.g. --address auto on that node, "
                                  "or --address HEAD_IP:6379).") from None
    return ray
