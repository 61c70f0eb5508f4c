"""The `sonobench` command: a thin click wrapper over the library.

Library code raises named SonoBenchError subclasses; this module alone turns
them into `Error: ...` and exit status 1. Subcommands owned by other packages
are imported lazily so `sonobench tasks` never pays for torch or k-Wave.
"""
from __future__ import annotations

import importlib

import click

from sonobench.cli.table import LAZY_COMMANDS
from sonobench.kernel.clitools import db_option, handle_errors  # noqa: F401  (the command modules' helpers)


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


def _print_version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        from sonobench.evaluator.version import benchmark_version

        click.echo(benchmark_version())
        ctx.exit()


@click.group(cls=LazyGroup)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the benchmark version (code, evaluator, metric definitions, task versions) and exit.")
def cli():
    """SonoBench: fair, sandboxed benchmarking of ultrasound segmentation models."""


def main():
    cli(prog_name="sonobench")


from sonobench.cli import commands, scoring_commands  # noqa: E402,I001  (the built-in commands)

for _command in (*commands.COMMANDS, *scoring_commands.COMMANDS):
    cli.add_command(_command)
