"""The built wheel works outside the checkout: it carries the default task's frozen data
and the reference results, and scores a model from a fresh virtualenv in another folder."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _tracked_copy(dest: Path) -> Path:
    """The files git tracks (what a clone has), so the build never writes into the checkout."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{cmd}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know which files a clone has")
    root = tmp_path_factory.mktemp("wheel")
    src = _tracked_copy(root / "src")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
          str(src)])
    wheel = next((root / "dist").glob("sonobench-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    # The dependencies (torch, onnxruntime, ...) come from this environment instead of a reinstall;
    # a plain path line, so this environment's editable install of the checkout is not loaded.
    (site / "sonobench-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "SONOBENCH_"))}
    env["SONOBENCH_HOME"] = str(root / "home")
    work = root / "elsewhere"
    work.mkdir()
    return {"venv": venv, "site": site, "env": env, "cwd": work, "root": root}


def test_the_wheel_installs_one_import_name(installed):
    """Only `sonobench` (and its dist-info) lands in site-packages: no generic top-level names
    (`evaluator`, `simulation`, ...) that could collide with another distribution's."""
    site = installed["site"]
    names = {p.name for p in site.iterdir()} - {"sonobench-test-deps.pth", "__pycache__"}
    assert {n for n in names if not n.startswith("sonobench-") or not n.endswith(".dist-info")} == {"sonobench"}, names
    top_level = _run([str(installed["venv"] / "bin" / "python"), "-c",
                      "import importlib.metadata as m; d = m.distribution('sonobench'); "
                      "print(sorted({f.parts[0] for f in d.files if f.parts[0] != '..' and not f.parts[0].endswith('.dist-info')}))"],
                     cwd=installed["cwd"], env=installed["env"])
    assert top_level.strip() == "['sonobench']", top_level


def test_the_wheel_carries_the_task_data_and_references(installed):
    site = installed["site"] / "sonobench"
    assert (site / "splits" / "sim-breast-lesion" / "v2" / "manifest.json").is_file()
    assert (site / "baselines" / "reference" / "sim-breast-lesion@2.json.gz").is_file()
    where = _run([str(installed["venv"] / "bin" / "python"), "-c",
                  "import sonobench.evaluator as e, sonobench; print(e.__file__); print(sonobench.__path__)"],
                 cwd=installed["cwd"], env=installed["env"])
    assert where.splitlines()[0].startswith(str(site)), "the installed package is imported, not the checkout"
    assert where.splitlines()[1] == repr([str(site)]), "installed, the namespace serves only its own folder"


def test_tasks_verify_and_submit_from_the_installed_wheel(installed):
    bin_ = installed["venv"] / "bin"
    kw = dict(cwd=installed["cwd"], env=installed["env"])
    out = _run([str(bin_ / "sonobench"), "tasks", "verify", "sim-breast-lesion"], **kw)
    assert "sim-breast-lesion@2: all 300 cases match the manifest" in out
    model = installed["root"] / "threshold.onnx"
    _run([str(bin_ / "python"), "-c", f"from sonobench.cli.toy import threshold_onnx; threshold_onnx({str(model)!r})"], **kw)
    out = _run([str(bin_ / "sonobench"), "submit", str(model), "--task", "sim-breast-lesion", "--split", "val",
                "--db", str(installed["root"] / "results.db")], **kw)
    assert "Scored: submission #1" in out and "(40 val cases" in out


def test_the_demo_loads_the_packaged_references(installed):
    out = _run([str(installed["venv"] / "bin" / "sonobench"), "demo", "--no-app",
                "--db", str(installed["root"] / "demo.db")], cwd=installed["cwd"], env=installed["env"])
    assert "reference baseline result(s)" in out and "Scored the demo submission" in out, out


def test_the_dataset_adapters_install_beside_the_evaluator(installed):
    """adapters/ installs as sonobench.adapters, reached by `sonobench datasets`."""
    assert (installed["site"] / "sonobench" / "adapters" / "importer.py").is_file()
    out = _run([str(installed["venv"] / "bin" / "sonobench"), "datasets", "list"],
               cwd=installed["cwd"], env=installed["env"])
    assert "busi" in out.lower(), out
