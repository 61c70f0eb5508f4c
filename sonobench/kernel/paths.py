"""Shared low-level helpers with no SonoBench dependencies: file hashing and the user's
data folder. Everything above (tasks, submissions, the store) imports them from here."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

from sonobench.kernel import environment

APP_NAME = "sonobench"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def user_data_dir() -> Path:
    """Where SonoBench keeps its store and imported tasks: $SONOBENCH_HOME, else the
    platform's user data folder (platformdirs; on Linux $XDG_DATA_HOME/sonobench or
    ~/.local/share/sonobench)."""
    env = environment.get("SONOBENCH_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
