"""Options as data (sonobench.kernel.options): a command's options, its plan file's keys and the
object the command receives come from one dataclass declaration."""
from __future__ import annotations

import dataclasses
import enum
import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sonobench.baselines.cli import run_cmd
from sonobench.baselines.plan import RunPlan
from sonobench.evaluator.scaleout import Executor
from sonobench.kernel.options import PlanFileError, fields_of, flag_of, options_from, read_plan


@click.command()
@options_from(RunPlan, plan_file=True)
def _echo(plan: RunPlan):
    def plain(v):
        return v.value if isinstance(v, enum.Enum) else list(v) if isinstance(v, tuple) else \
            str(v) if isinstance(v, Path) else v

    click.echo(json.dumps({k: plain(v) for k, v in dataclasses.asdict(plan).items()}))


def _run(*args):
    out = CliRunner().invoke(_echo, list(args))
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_every_declared_field_is_one_option_of_the_real_command():
    declared = {f.name: flag_of(f, meta) for f, _, meta in fields_of(RunPlan)}
    params = {p.name: p for p in run_cmd.params if isinstance(p, click.Option)}
    assert set(declared) <= set(params) and set(params) - set(declared) == {"plan_file"}
    assert all(declared[n] in params[n].opts for n in declared)
    assert all(params[n].help == meta["help"] for f, _, meta in fields_of(RunPlan) for n in [f.name])


def test_defaults_then_the_file_then_the_command_line(tmp_path):
    assert _run()["profile"] == "quick" and _run()["executor"] == "local"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"task": "toy-lesion@1", "models": ["unet", "unext,cmunext"], "profile": "full",
                                "epochs": 3, "executor": "ray", "update-reference": True}))
    got = _run("--plan", str(plan))
    assert got["task"] == "toy-lesion@1" and got["models"] == ["unet", "unext", "cmunext"]
    assert (got["profile"], got["epochs"], got["executor"], got["update_reference"]) == ("full", 3, "ray", True)
    typed = _run("--plan", str(plan), "--epochs", "1", "--models", "fpn-r34")
    assert (typed["epochs"], typed["models"], typed["profile"]) == (1, ["fpn-r34"], "full")


def test_a_plan_file_naming_an_unknown_key_or_value_is_refused_with_what_it_meant(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(PlanFileError, match="unknown key 'epoch'. Did you mean 'epochs'"):
        read_plan(RunPlan, plan)
    plan.write_text(json.dumps({"executor": "slurm"}))
    with pytest.raises(PlanFileError, match="executor = 'slurm' is not one of local, ray"):
        read_plan(RunPlan, plan)
    plan.write_text("[1, 2]")
    with pytest.raises(PlanFileError, match="one object"):
        read_plan(RunPlan, plan)
    out = CliRunner().invoke(_echo, ["--plan", str(tmp_path / "missing.json")])
    assert out.exit_code == 2 and "does not exist" in out.output


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+ (JSON plans work everywhere)")
def test_a_toml_plan_reads_the_same(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text('task = "toy-lesion@1"\nmodels = ["unet"]\nthreads = 2\n')
    assert read_plan(RunPlan, plan) == {"task": "toy-lesion@1", "models": ("unet",), "threads": 2}
    assert RunPlan(**read_plan(RunPlan, plan)).executor is Executor.LOCAL
