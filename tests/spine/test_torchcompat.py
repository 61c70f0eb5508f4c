"""The torchvision hook is applied exactly where torchvision's own extension cannot load."""
import subprocess
import sys

import pytest

pytest.importorskip("torch")

WITHOUT_HOOK = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != '_ImportHook']\n"
    "import torchvision"
)


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_hook_only_where_needed():
    from sonobench.kernel import _torchcompat

    plain = _run(WITHOUT_HOOK)
    if _torchcompat.needed():
        assert plain.returncode != 0 and "torchvision::nms does not exist" in plain.stderr
    else:  # a matching torch/torchvision build: nothing to do, and nothing done
        assert plain.returncode == 0
        assert _torchcompat.ensure() is False
    fixed = _run("import sonobench.kernel._torchcompat as c; c.ensure(); import torchvision, timm, segmentation_models_pytorch; print('ok')")
    assert fixed.returncode == 0 and fixed.stdout.strip() == "ok", fixed.stderr[-500:]
