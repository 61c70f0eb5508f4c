"""The `sonobench` command: a thin click wrapper over the library.

Library code raises named SonoBenchError subclasses; this module alone turns
them into `Error: ...` and exit status 1. Subcommands owned by other packages
are imported lazily so `sonobench tasks` never pays for torch or k-Wave.
"""
from __future__ import annotations

import functools
import importlib

import click

from .errors import SonoBenchError

# name -> "module:attribute" of a click command or group living in another package
LAZY_COMMANDS = {
    "simulate": "simulation.cli:simulate",
    "pretrain-set": "simulation.pretrain_cli:pretrain_set",
    "style-adapt": "simulation.style_cli:style_adapt",
    "crosseval": "evaluator.crosseval_cli:crosseval",
    "shifts": "simulation.shifts_cli:shifts",
    "sweeps": "simulation.sweeps_cli:sweeps",
    "private": "simulation.private_cli:private_group",
    "follow-version": "evaluator.follow_cli:follow_version",
    "baselines": "baselines.cli:baselines",
    "datasets": "adapters.cli:datasets",
    "app": "leaderboard_app.cli:app",
    "worker": "evaluator.queue.cli:worker",
    "teams": "evaluator.hosted_cli:teams",
    "admin": "evaluator.hosted_cli:admin",
    "status": "evaluator.hosted_cli:status",
    "check": "evaluator.hosted_cli:check",
    "export": "evaluator.export_cli:export",
    "strata": "evaluator.strata_cli:strata",
}


# Functions other packages lend to the evaluator's own commands, named the same way: the CLI is
# the top layer, the one place that knows the packages it assembles.
LAZY_HOOKS = {
    "reference_loader": "baselines.floors:load_references_and_floors",  # `sonobench demo`: references + floors
}


def lazy_hook(name: str):
    """The function `LAZY_HOOKS[name]` names, or None when its package is not installed."""
    module, _, attr = LAZY_HOOKS[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS and name not in self.commands:
            module, _, attr = LAZY_COMMANDS[name].partition(":")
            try:
                cmd = getattr(importlib.import_module(module), attr)
            except ImportError as e:
                raise click.ClickException(f"`sonobench {name}` is unavailable: {e}. Run `make install` (or pip install -e '.[all]').")
            self.add_command(cmd, name)
        return super().get_command(ctx, name)


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


@click.group(cls=LazyGroup)
@click.version_option(package_name="sonobench")
def cli():
    """SonoBench: fair, sandboxed benchmarking of ultrasound segmentation models."""


def main():
    cli(prog_name="sonobench")


from . import commands, scoring_commands  # noqa: E402,F401,I001  (register the evaluator's own commands)
