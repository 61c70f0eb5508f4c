"""Fixtures for the app tests: one real store (scored through the evaluator and its
sandbox) built once per session, and an AppTest pointed at it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import build_store

APP = Path(__file__).resolve().parents[2] / "leaderboard_app" / "streamlit_app.py"


@pytest.fixture(scope="session")
def built_store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("app-store"))


@pytest.fixture
def app_env(built_store, monkeypatch):
    monkeypatch.setenv("SONOBENCH_DB", str(built_store["db"]))
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(built_store["tasks"]))
    return built_store


@pytest.fixture
def writable_env(built_store, tmp_path, monkeypatch):
    """A private copy of the store, for tests that add submissions."""
    db = tmp_path / "results.db"
    shutil.copy(built_store["db"], db)
    monkeypatch.setenv("SONOBENCH_DB", str(db))
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(built_store["tasks"]))
    return dict(built_store, db=db)


def open_page(page: str | None = None, timeout: float = 30):
    """Run the app (router included) and switch to views/<page>.py."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout).run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at
