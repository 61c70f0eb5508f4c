"""A tiny name -> entry registry whose lookup error lists the valid names
and suggests the closest one."""
from __future__ import annotations

import difflib
from typing import Generic, Iterable, TypeVar

from sonobench.kernel.errors import UnknownName

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


class Registry(Generic[T]):
    def __init__(self, kind: str, error: type[UnknownName] = UnknownName):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._error = error

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise self._error(
                f"Unknown {self.kind} '{name}'. Valid choices: {valid}.{did_you_mean(name, self._entries)}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def items(self):
        return sorted(self._entries.items())


def parse_choice(enum_cls, value, what: str, error: type[Exception] = UnknownName):
    """`enum_cls(value)` for a fixed option set, or `error` (UnknownName) listing the valid values."""
    try:
        return enum_cls(value)
    except ValueError:
        names = [e.value for e in enum_cls]
        raise error(f"Unknown {what} '{value}'. Valid choices: {', '.join(names)}."
                          f"{did_you_mean(str(value), names)}") from None
