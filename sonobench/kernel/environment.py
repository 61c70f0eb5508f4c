"""The one module that reads the process environment.

Every variable SonoBench reads is listed in `VARIABLES` with its meaning (the docs' generated
settings table shows the same list); every operator setting can also be overridden by
`SONOBENCH_<FIELD>` (sonobench/kernel/settings.py lists the fields). Other modules ask this one
(`get`, `settings_overrides`) instead of reading `os.environ`, so a grep finds every knob.

Building the environment of a child process (the sandbox's scrubbed one, the app's
Streamlit server) is not reading a setting: `passthrough` and `inherited` do it here too,
so that even those reads sit in one place.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from sonobench.kernel.registry import did_you_mean

SETTINGS_PREFIX = "SONOBENCH_"

# name -> meaning. The settings overrides (SONOBENCH_<FIELD>) are not repeated here.
VARIABLES: dict[str, str] = {
    "SONOBENCH_HOME": "data folder for the store, imported tasks and settings.json "
                      "(default: the platform's user data folder)",
    "SONOBENCH_DB": "the results store (default: <data folder>/sonobench.db)",
    "SONOBENCH_SETTINGS": "operator settings file (JSON; default: <data folder>/settings.json if present)",
    "SONOBENCH_TASKS_PATH": "extra folders searched for task manifests (os.pathsep-separated), before the "
                            "data folder's tasks/ and the packaged splits/",
    "SONOBENCH_TEST_LABELS": "folder holding a task's private test labels, when they are kept apart "
                             "from the task's data",
    "SONOBENCH_SIM_ARRAYS": "array backend of the simulator: auto (torch when installed), torch or numpy",
    # Read by click itself (`--token`'s envvar in commands.py), listed so the table is complete.
    "SONOBENCH_TOKEN": "hosted mode: the team token for `sonobench submit` (same as --token)",
}


def get(name: str, default: str | None = None) -> str | None:
    """The value of one listed variable (or `default` when it is unset or empty)."""
    if name not in VARIABLES:
        # A programming error, not a user's: every variable read must be listed above.
        raise KeyError(f"{name} is not a SonoBench variable. Listed: {', '.join(VARIABLES)}."
                       f"{did_you_mean(name, VARIABLES)}")
    return os.environ.get(name) or default


def settings_overrides(field_names: Iterable[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """{field: raw string} for every `SONOBENCH_<FIELD>` that is set (tests pass their own `env`)."""
    env = os.environ if env is None else env
    out = {}
    for name in field_names:
        var = setting_variable(name)
        if var in env:
            out[name] = env[var]
    return out


def setting_variable(field_name: str) -> str:
    """The variable that overrides one operator setting."""
    return SETTINGS_PREFIX + field_name.upper()


def passthrough(names: Iterable[str]) -> dict[str, str]:
    """Those of `names` that are set, to hand on to a child whose environment is built from
    nothing (the sandbox passes the GPU selection this way)."""
    return {k: os.environ[k] for k in names if k in os.environ}


def inherited(**extra: str) -> dict[str, str]:
    """This process's whole environment plus `extra`, for a trusted child of ours that must
    see what we see (the app's Streamlit server)."""
    return {**os.environ, **extra}
