"""Run a snippet in a fresh interpreter: for checks of what an import pulls in, which a test
process that has already imported everything cannot make."""
from __future__ import annotations

import subprocess
import sys


def assert_fresh_python_ok(code: str, timeout: float = 120) -> None:
    """`code` must end by printing 'ok'; its own asserts say what failed."""
    out = subprocess.run([sys.executable, "-c", code + "print('ok')\n"], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
