"""`simulate --executor ray` writes the same dataset as the local run with the same seed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sonobench.cli import cli

pytestmark = pytest.mark.slow


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _without_timing(meta: bytes) -> dict:
    d = json.loads(meta)
    d.pop("seconds")  # the measured simulation time of that sample: differs between any two runs
    return d


def test_simulate_fast_n4_on_ray_writes_the_local_files(ray_cluster, tmp_path):
    digests = {}
    for ex in ("local", "ray"):
        res = CliRunner().invoke(cli, ["simulate", "--backend", "fast", "--n", "4", "--seed", "3", "--quiet",
                                       "--out", str(tmp_path / ex), "--executor", ex,
                                       "--task-folder", str(tmp_path / f"task-{ex}"), "--task-id", "sim-ray-test"])
        assert res.exit_code == 0, res.output
        digests[ex] = json.loads((tmp_path / f"task-{ex}" / "manifest.json").read_text())["digest"]
    local, ray = _files(tmp_path / "local"), _files(tmp_path / "ray")
    assert sorted(local) == sorted(ray) and len([k for k in local if k.startswith("images/")]) == 4
    for name, data in local.items():
        if name.startswith("meta/"):
            assert _without_timing(ray[name]) == _without_timing(data), name
        else:
            assert ray[name] == data, name  # images, labels, index.npz, run.json: byte for byte
    assert digests["ray"] == digests["local"]
