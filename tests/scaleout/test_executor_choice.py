"""The --executor flag: local by default, 'did you mean' for a typo, and without Ray an
error that says what to install (Ray is hidden from the import system here)."""
from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.scaleout import Executor, RayUnavailable, import_ray, parse_executor
from sonobench.kernel.errors import UnknownName


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError


def test_parse_executor_names_the_choices():
    assert parse_executor("ray") is Executor.RAY and parse_executor("local") is Executor.LOCAL
    with pytest.raises(UnknownName, match=r"Unknown executor 'rya'. Valid choices: local, ray. Did you mean 'ray'\?"):
        parse_executor("rya")


def test_without_ray_the_error_says_what_to_install(no_ray):
    with pytest.raises(RayUnavailable, match=r"pip install 'sonobench\[ray\]'"):
        import_ray()


@pytest.mark.parametrize("args", [["worker", "--once"], ["simulate", "--backend", "fast", "--n", "1", "--quiet"]],
                         ids=["worker", "simulate"])
def test_commands_without_ray_fail_with_the_install_hint(no_ray, tmp_path, args):
    where = ["--db", str(tmp_path / "r.db")] if args[0] == "worker" else ["--out", str(tmp_path / "sim")]
    res = CliRunner().invoke(cli, [*args, *where, "--executor", "ray"])
    assert res.exit_code == 1, res.output
    assert "Error: --executor ray needs Ray" in res.output and "pip install 'sonobench[ray]'" in res.output
    assert not (tmp_path / "sim").exists()  # refused before anything was written


def test_a_typo_in_the_executor_gets_did_you_mean(tmp_path):
    res = CliRunner().invoke(cli, ["worker", "--once", "--db", str(tmp_path / "r.db"), "--executor", "rya"])
    assert res.exit_code == 2 and "Did you mean 'ray'?" in res.output


def test_address_without_the_ray_executor_is_refused(tmp_path):
    res = CliRunner().invoke(cli, ["worker", "--once", "--db", str(tmp_path / "r.db"), "--address", "auto"])
    assert res.exit_code == 1 and "Error: --address auto names a Ray cluster; add --executor ray" in res.output


def test_the_default_executor_is_local_and_needs_no_ray(no_ray, tmp_path):
    res = CliRunner().invoke(cli, ["worker", "--once", "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 0, res.output
    assert "worker: 0 job(s) processed" in res.output


def test_an_address_nobody_listens_on_fails_fast_with_what_to_do(tmp_path):
    import socket

    pytest.importorskip("ray", reason="the ray extra is not installed")
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = CliRunner().invoke(cli, ["worker", "--once", "--db", str(tmp_path / "r.db"), "--executor", "ray",
                                   "--address", f"127.0.0.1:{port}"])
    assert res.exit_code == 1, res.output
    assert f"Error: Cannot reach a Ray cluster at 127.0.0.1:{port}" in res.output and "ray start --head" in res.output
