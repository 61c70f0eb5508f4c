"""What every package's click commands share: library errors shown as `Error: ...` with exit
status 1, and the one `--db` option. Here, in the kernel, so a package's own command group
(`simulation/cli.py`, `baselines/cli.py`, ...) needs nothing from the command table above it."""
from __future__ import annotations

import functools

import click

from sonobench.kernel.errors import SonoBenchError


def handle_errors(fn):
    """Turn library exceptions into `Error: ...` + exit 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SonoBenchError as e:
            raise click.ClickException(str(e)) from None
    return wrapper


def db_option(fn):
    """The one `--db` option of every command that reads or writes the store."""
    return click.option("--db", "db_path", type=click.Path(dir_okay=False),
                        help="Results store (default: $SONOBENCH_DB or the user data dir).")(fn)
