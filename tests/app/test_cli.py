import socket

from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.leaderboard_app.cli import streamlit_command


def test_app_command_is_registered_and_documents_its_options():
    out = CliRunner().invoke(cli, ["app", "--help"])
    assert out.exit_code == 0
    for opt in ("--db", "--port", "--headless"):
        assert opt in out.output


def test_port_in_use_is_a_clean_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = CliRunner().invoke(cli, ["app", "--port", str(port)])
    assert out.exit_code == 1
    assert out.output.strip() == f"Error: Port {port} on 127.0.0.1 is already in use; pick another with --port N."


def test_streamlit_is_started_headless_without_telemetry():
    cmd = streamlit_command(8600, "127.0.0.1", True, 256)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("streamlit_app.py")
    flags = dict(zip(cmd[5::2], cmd[6::2]))
    assert flags["--server.port"] == "8600" and flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false" and flags["--server.maxUploadSize"] == "256"


def test_a_fractional_upload_cap_reaches_streamlit_rounded_up(monkeypatch):
    from sonobench.leaderboard_app import jobs
    from sonobench.leaderboard_app.cli import streamlit_upload_mb

    monkeypatch.setenv("SONOBENCH_APP_MAX_UPLOAD_MB", "100.5")
    assert jobs.max_upload_bytes() == int(100.5 * 1024 * 1024)  # the app's own check is exact
    assert streamlit_upload_mb(jobs.max_upload_bytes()) == 101
    assert streamlit_upload_mb(256 * 1024 * 1024) == 256 and streamlit_upload_mb(10) == 1
