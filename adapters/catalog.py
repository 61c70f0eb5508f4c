"""The adapter registry, built from an explicit list (one entry per dataset layout)."""
from __future__ import annotations

from sonobench.kernel.errors import UnknownName
from sonobench.kernel.registry import Registry

from . import arrays, breast, folders
from .base import Adapter


class UnknownAdapter(UnknownName):
    pass


ADAPTERS: Registry[Adapter] = Registry("dataset adapter", UnknownAdapter)
for _adapter in (*breast.ADAPTERS, arrays.ABDOMENUS, *folders.ADAPTERS):
    ADAPTERS.register(_adapter.name, _adapter)


def get_adapter(name: str) -> Adapter:
    """Look an adapter up by name, case-insensitively (`BUSI`, `bus-uclm`, ...)."""
    return ADAPTERS.get(name.strip().lower())
