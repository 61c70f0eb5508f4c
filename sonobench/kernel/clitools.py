"""What every package's click commands share: library errors shown as `Error: ...` with exit
status 1, and the one `--db` option. Here, in the kernel, so a package's own command group
(`simulation/cli.py`, `baselines/cli.py`, ...) needs nothing from the command table above it."""
from __future__ import annotations

import functools

import click

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.settings import load_settings


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


def pass_settings(fn):
    """Give the command the operator settings as `settings`, loaded once per `sonobench` invocation
    (a group and its subcommand, or a command that invokes another, share the one object) and
    passed down from there: library code takes it as an argument rather than reading the file."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        root = click.get_current_context().find_root()
        if "sonobench.settings" not in root.meta:
            root.meta["sonobench.settings"] = load_settings()
        kwargs["settings"] = root.meta["sonobench.settings"]
        return fn(*args, **kwargs)
    return wrapper

