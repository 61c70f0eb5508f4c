"""Shared fixtures. Every test gets its own SONOBENCH_HOME so nothing touches
the user's real store or imported tasks."""
from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("sonobench-home")
    monkeypatch.setenv("SONOBENCH_HOME", str(home))
    monkeypatch.delenv("SONOBENCH_DB", raising=False)
    monkeypatch.delenv("SONOBENCH_TEST_LABELS", raising=False)
    monkeypatch.delenv("SONOBENCH_TASKS_PATH", raising=False)
    return home


@pytest.fixture
def store():
    from evaluator.store import Store

    return Store(memory=True)


@pytest.fixture
def file_store(tmp_path):
    from evaluator.store import Store

    return Store(tmp_path / "results.db")


@pytest.fixture
def toy_task(tmp_path, monkeypatch):
    """A frozen 24-case toy task on the task search path, as `toy-lesion`."""
    from evaluator.toy import build_toy_task

    root = tmp_path / "tasks"
    task = build_toy_task(root / "toy-lesion" / "v1")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return task


@pytest.fixture
def toy_onnx(tmp_path):
    from evaluator.toy import threshold_onnx

    return threshold_onnx(tmp_path / "toy_threshold.onnx")


@pytest.fixture
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
