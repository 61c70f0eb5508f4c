"""`sonobench simulate`: errors, and the acceptance run (k-Wave, n=4, no network)."""
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.simulation.dataset import read_index

from .conftest import needs_kwave
from .test_kwave_offline import BLOCK_NETWORK


def test_unknown_preset_is_an_error_naming_the_choices(tmp_path):
    r = CliRunner().invoke(cli, ["simulate", "--preset", "breast-lesions", "--n", "1", "--out", str(tmp_path)])
    assert r.exit_code == 1
    assert "Error: Unknown phantom preset 'breast-lesions'" in r.output
    assert "Did you mean 'breast-lesion'?" in r.output


def test_unknown_noise_level_is_an_error(tmp_path):
    r = CliRunner().invoke(cli, ["simulate", "--n", "1", "--out", str(tmp_path), "--noise-levels", "loud"])
    assert r.exit_code == 1
    assert "Error: Unknown noise level 'loud'" in r.output


def test_fast_backend_writes_a_task(tmp_path):
    out, task = tmp_path / "data", tmp_path / "task"
    r = CliRunner().invoke(cli, ["simulate", "--n", "6", "--out", str(out), "--backend", "fast", "--quiet",
                                 "--task-folder", str(task), "--task-id", "sim-test"])
    assert r.exit_code == 0, r.output
    assert sum(len(v) for v in read_index(out / "index.npz").values()) == 6
    assert (task / "manifest.json").exists() and "Froze task sim-test@1" in r.output
    import json

    spec = json.loads((task / "task.json").read_text())
    assert spec["source"]["image_formation"] == 2 and spec["source"]["physics"]["image_formation"] == 2
    from sonobench.evaluator.metrics.defaults import BOARDS

    assert spec["primary_metric"] == "dice" and spec["metrics"] == list(BOARDS["region"])  # the board it declares
    metas = [json.loads(p.read_text()) for p in (out / "meta").glob("*.json")]
    assert len(metas) == 6 and all(m["image_formation"] == 2 for m in metas)


@needs_kwave
@pytest.mark.slow
def test_simulate_kwave_n4_without_network(tmp_path):
    code = BLOCK_NETWORK + (
        "import sys; from sonobench.cli import main; sys.argv = ['sonobench', 'simulate', '--preset', 'breast-lesion', "
        f"'--n', '4', '--backend', 'kwave', '--out', {str(tmp_path)!r}, '--workers', '1', '--quiet']; main()")  # in-process: the block covers the solver
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "images").glob("*.png"))) == 4
    assert sum(len(v) for v in read_index(tmp_path / "index.npz").values()) == 4
