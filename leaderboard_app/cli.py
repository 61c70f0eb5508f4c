"""`sonobench app`: start the Streamlit leaderboard on a results store."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import click

from evaluator.cli import handle_errors
from evaluator.errors import SonoBenchError

APP = Path(__file__).resolve().parent / "streamlit_app.py"


class PortInUse(SonoBenchError):
    """The requested port is taken by another program."""


def _check_port(address: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            raise PortInUse(f"Port {port} on {address} is already in use; pick another with --port N.") from None


def streamlit_command(port: int, address: str, headless: bool, max_upload_mb: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", "true" if headless else "false",
            "--server.maxUploadSize", str(max_upload_mb),
            "--browser.gatherUsageStats", "false"]


@click.command()
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Results store to show (default: $SONOBENCH_DB or the user data dir).")
@click.option("--port", type=int, default=8501, show_default=True, help="Local port to serve on.")
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Interface to bind; the default serves this machine only.")
@click.option("--headless/--open-browser", default=True, show_default=True,
              help="Do not (or do) open a browser window.")
@handle_errors
def app(db_path, port, address, headless):
    """Start the leaderboard web app (Streamlit) and print its URL."""
    from evaluator.store import default_db_path

    from .jobs import max_upload_bytes

    db = Path(db_path).expanduser().resolve() if db_path else default_db_path()
    _check_port(address, port)
    env = dict(os.environ, SONOBENCH_DB=str(db))
    click.echo(f"SonoBench leaderboard on http://{'localhost' if address == '127.0.0.1' else address}:{port}"
               f"  (store: {db}{'' if db.is_file() else ', not created yet'}; Ctrl+C to stop)")
    upload_mb = max(1, max_upload_bytes() // (1024 * 1024))
    try:
        code = subprocess.call(streamlit_command(port, address, headless, upload_mb), env=env)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise SonoBenchError(f"Streamlit exited with status {code}; see its messages above.")
