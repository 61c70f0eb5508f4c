"""The click options every scale-out command shares: `--executor local|ray` and `--address`."""
from __future__ import annotations

import click

from sonobench.kernel.errors import SonoBenchError, UnknownName

from . import Executor, parse_executor


class ExecutorType(click.ParamType):
    name = "local|ray"

    def convert(self, value, param, ctx):
        try:
            return parse_executor(value)
        except UnknownName as e:
            self.fail(str(e), param, ctx)


def executor_options(fn):
    fn = click.option("--address", default=None,
                      help="With --executor ray: the cluster to join (`auto` on a cluster node, or HEAD_IP:6379); "
                           "default: a private cluster on this machine.")(fn)
    return click.option("--executor", type=ExecutorType(), default=Executor.LOCAL.value, show_default=True,
                        help="Where the work runs: local processes, or tasks on a Ray cluster "
                             "(pip install 'sonobench[ray]').")(fn)


def check_address(executor: Executor, address: str | None) -> None:
    if address and executor is not Executor.RAY:
        raise SonoBenchError(f"--address {address} names a Ray cluster; add --executor ray (or drop --address)")
