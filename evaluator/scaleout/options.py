"""The options every scale-out command shares, `--executor local|ray` and `--address`, declared
once: as dataclass fields of an option set (`executor_field`, `address_field`;
sonobench.kernel.options) and as click options of a command that takes them one by one
(`executor_options`)."""
from __future__ import annotations

from dataclasses import field

import click

from sonobench.kernel.errors import SonoBenchError, UnknownName
from sonobench.kernel.options import option

from . import Executor, parse_executor


class ExecutorType(click.ParamType):
    name = "local|ray"

    def convert(self, value, param, ctx):
        try:
            return parse_executor(value)
        except UnknownName as e:
            self.fail(str(e), param, ctx)


EXECUTOR_HELP = ("Where the work runs: local processes, or tasks on a Ray cluster "
                 "(pip install 'sonobench[ray]').")
ADDRESS_HELP = ("With --executor ray: the cluster to join (`auto` on a cluster node, or HEAD_IP:6379); "
                "default: a private cluster on this machine.")


def executor_field():
    """The `executor` field of an option set."""
    return field(default=Executor.LOCAL, metadata=option(EXECUTOR_HELP, type=ExecutorType(), show_default=True))


def address_field():
    """The `address` field of an option set."""
    return field(default=None, metadata=option(ADDRESS_HELP))


def executor_options(fn):
    fn = click.option("--address", default=None, help=ADDRESS_HELP)(fn)
    return click.option("--executor", type=ExecutorType(), default=Executor.LOCAL.value, show_default=True,
                        help=EXECUTOR_HELP)(fn)


def check_address(executor: Executor, address: str | None) -> None:
    if address and executor is not Executor.RAY:
        raise SonoBenchError(f"--address {address} names a Ray cluster; add --executor ray (or drop --address)")
