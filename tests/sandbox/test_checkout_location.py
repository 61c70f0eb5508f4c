"""The sandbox works wherever the code lives: a checkout under /tmp (which the child's
private /tmp would otherwise hide) and an installed wheel (site-packages bound whole, its
task data hidden)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sonobench.evaluator.sandbox import bwrap

from .helpers import BWRAP


def _flags(args, flag):
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_a_checkout_under_tmp_is_bound_inside_the_private_tmp(monkeypatch, tmp_path):
    monkeypatch.setattr(bwrap, "REPO_ROOT", Path("/tmp/clone"))
    monkeypatch.setattr(Path, "is_dir", lambda self: True)
    args = bwrap.command(tmp_path / "m", as_root=True)
    tmpfs_at = args.index("/tmp", args.index("--tmpfs"))
    assert ("--dir", "/tmp/clone") in zip(args, args[1:]), "the clone's folder is created, traversable"
    made = args.index("/tmp/clone", tmpfs_at)
    bound = [i for i, a in enumerate(args) if a == "--ro-bind" and args[i + 1] == "/tmp/clone/evaluator"]
    assert bound and tmpfs_at < made < bound[0], "after the private /tmp is mounted, not hidden by it"
    assert "/tmp/clone" not in _flags(args, "--ro-bind"), "never the checkout itself"


def test_an_installed_wheel_binds_site_packages_and_hides_its_task_data(monkeypatch, tmp_path):
    site = tmp_path / "venv" / "lib" / "python3" / "site-packages"
    root = site / "sonobench"  # the wheel installs everything under the one namespace
    (root / "splits" / "task").mkdir(parents=True)
    (root / "evaluator").mkdir()
    monkeypatch.setattr(bwrap, "REPO_ROOT", root)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert bwrap.installed() and bwrap.hidden_dirs() == [str(root / "splits")]
    assert bwrap.import_root() == site
    args = bwrap.command(tmp_path / "m", as_root=True)
    assert str(tmp_path / "venv") in _flags(args, "--ro-bind")
    i = args.index(str(root / "splits"))
    assert args[i - 1] == "--tmpfs" and i > args.index(str(tmp_path / "venv")), "hidden after the bind"


def test_a_home_folder_on_sys_path_is_never_bound(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", [str(Path.home()), str(tmp_path)] + sys.path)
    sources = _flags(bwrap.command(tmp_path / "m", as_root=True), "--ro-bind")
    assert str(Path.home()) not in sources and str(tmp_path) not in sources


@pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot run here")
def test_submit_from_a_copy_of_the_code_under_tmp(toy_task, toy_onnx, tmp_path):
    """What a user gets after `git clone ... /tmp/x`: the code folders under /tmp."""
    clone = Path("/tmp") / f"sonobench-clone-{os.getpid()}"
    shutil.rmtree(clone, ignore_errors=True)
    try:
        for d in ("sonobench", "evaluator"):
            shutil.copytree(Path(bwrap.__file__).resolve().parents[2] / d, clone / d,
                            ignore=shutil.ignore_patterns("__pycache__"))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(clone)
        out = subprocess.run([sys.executable, "-c", "from sonobench.cli import main; main()", "submit", str(toy_onnx),
                              "--task", "toy-lesion", "--split", "val", "--isolation", "bwrap",
                              "--db", str(tmp_path / "r.db")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Scored: submission #1" in out.stdout
    finally:
        shutil.rmtree(clone, ignore_errors=True)
