"""k-wave-python must import with no network (its __init__ otherwise downloads binaries)."""
import importlib.util
import subprocess
import sys
import textwrap

import pytest

if importlib.util.find_spec("kwave") is None:
    pytest.skip("k-wave-python not installed", allow_module_level=True)

BLOCK_NETWORK = textwrap.dedent("""
    import socket, urllib.request
    def _refuse(*a, **k):
        raise OSError("network disabled for this test")
    socket.socket.connect = _refuse
    socket.create_connection = _refuse
    urllib.request.urlretrieve = _refuse
""")


def run_offline(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_NETWORK + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


def test_import_kwave_offline_defines_the_package():
    r = run_offline("""
        from sonobench.simulation.kwave_offline import import_kwave, kspace_simulation_class
        kwave = import_kwave()
        assert kwave.__version__ == "0.6.2", kwave.__version__
        assert kspace_simulation_class().__name__ == "Simulation"
        from kwave.kgrid import kWaveGrid
        from kwave.kspaceFirstOrder import kspaceFirstOrder
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok")
