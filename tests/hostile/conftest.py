"""Live targets for the hostile corpus: a canary among the labels, a listener, a secret."""
from __future__ import annotations

import secrets
import socket
import threading

import pytest

from .corpus import Targets


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture
def targets(toy_task, file_store, tmp_path, listener, monkeypatch):
    label = toy_task.label_path(toy_task.split("test")[0])
    secret = "sonobench-canary-" + secrets.token_hex(8)
    canary = label.parent / "canary.txt"
    canary.write_text(secret)
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("SONOBENCH_CANARY_SECRET", secret)
    return Targets(label=label, canary=canary, store=file_store.path, outside=outside, port=listener.port,
                   secret=secret)
