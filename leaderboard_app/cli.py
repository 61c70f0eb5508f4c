"""`sonobench app`: start the Streamlit leaderboard on a results store."""
from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click

from sonobench.kernel import environment
from sonobench.kernel.clitools import handle_errors
from sonobench.kernel.errors import SonoBenchError

APP = Path(__file__).resolve().parent / "streamlit_app.py"


class PortInUse(SonoBenchError):
    """The requested port is taken by another program."""


def _check_port(address: str, port: int) -> None:
    """Refuse a port another program listens on. SO_REUSEADDR, as Streamlit's own server (Tornado)
    binds: without it, the connections of a server stopped a moment ago (TIME_WAIT, ~60 s on
    Linux) made this probe fail although Streamlit itself could bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            raise PortInUse(f"Port {port} on {address} is already in use; pick another with --port N.") from None


def streamlit_command(port: int, address: str, headless: bool, max_upload_mb: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", "true" if headless else "false",
            "--server.maxUploadSize", str(max_upload_mb), "--client.toolbarMode", "minimal",
            "--browser.gatherUsageStats", "false"]


def streamlit_upload_mb(cap_bytes: int) -> int:
    """Streamlit's whole-MB upload limit for the app's cap: rounded up, so a fractional cap
    (100.5 MB) is enforced exactly by the app's own check, with its message, not cut to 100."""
    return max(1, math.ceil(cap_bytes / (1024 * 1024)))


def _serve(cmd: list[str], env: dict) -> int:
    """Run Streamlit in the foreground; a TERM sent to us stops it too (no orphaned server)."""
    proc = subprocess.Popen(cmd, env=env)
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Ctrl+C reaches Streamlit too; let it shut down cleanly
        return 0 if proc.wait() in (0, -signal.SIGINT) else proc.returncode
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


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
    from sonobench.evaluator.store import default_db_path

    from .jobs import max_upload_bytes

    db = Path(db_path).expanduser().resolve() if db_path else default_db_path()
    _check_port(address, port)
    # Streamlit is our own trusted child: it inherits our environment, with the store named.
    env = environment.inherited(SONOBENCH_DB=str(db))
    click.echo(f"SonoBench leaderboard on http://{'localhost' if address == '127.0.0.1' else address}:{port}"
               f"  (store: {db}{'' if db.is_file() else ', not created yet'}; Ctrl+C to stop)")
    code = _serve(streamlit_command(port, address, headless, streamlit_upload_mb(max_upload_bytes())), env)
    if code:
        raise SonoBenchError(f"Streamlit exited with status {code}; see its messages above.")
