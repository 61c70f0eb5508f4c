"""The command table, as data: which package's click command each `sonobench` subcommand is
(imported only when that subcommand runs, so `sonobench tasks` never pays for torch or k-Wave),
and the functions other packages lend to the built-in commands. The layer test reads these
names as imports of the top layer."""
from __future__ import annotations

import importlib

# name -> "module:attribute" of a click command or group living in another package
LAZY_COMMANDS = {
    "simulate": "sonobench.simulation.cli:simulate",
    "pretrain-set": "sonobench.simulation.pretrain_cli:pretrain_set",
    "style-adapt": "sonobench.simulation.style_cli:style_adapt",
    "crosseval": "sonobench.cli.crosseval:crosseval",
    "shifts": "sonobench.simulation.shifts_cli:shifts",
    "sweeps": "sonobench.simulation.sweeps_cli:sweeps",
    "private": "sonobench.cli.private:private_group",
    "follow-version": "sonobench.cli.follow:follow_version",
    "baselines": "sonobench.baselines.cli:baselines",
    "datasets": "sonobench.adapters.cli:datasets",
    "app": "sonobench.leaderboard_app.cli:app",
    "worker": "sonobench.cli.worker:worker",
    "teams": "sonobench.cli.hosted:teams",
    "admin": "sonobench.cli.hosted:admin",
    "status": "sonobench.cli.hosted:status",
    "check": "sonobench.cli.hosted:check",
    "export": "sonobench.cli.export:export",
    "strata": "sonobench.cli.strata:strata",
}


# Functions other packages lend to the evaluator's own commands, named the same way: the CLI is
# the top layer, the one place that knows the packages it assembles.
LAZY_HOOKS = {
    "reference_loader": "sonobench.baselines.floors:load_references_and_floors",  # `sonobench demo`: references + floors
}


def lazy_hook(name: str):
    """The function `LAZY_HOOKS[name]` names, or None when its package is not installed."""
    module, _, attr = LAZY_HOOKS[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None
