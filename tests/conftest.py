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
    from sonobench.evaluator.store import Store

    return Store(memory=True)


@pytest.fixture
def file_store(tmp_path):
    from sonobench.evaluator.store import Store

    return Store(tmp_path / "results.db")


@pytest.fixture
def toy_task(tmp_path, monkeypatch):
    """A frozen 24-case toy task on the task search path, as `toy-lesion`."""
    from sonobench.cli.toy import build_toy_task

    root = tmp_path / "tasks"
    task = build_toy_task(root / "toy-lesion" / "v1")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return task


@pytest.fixture
def lesion_toy(tmp_path, monkeypatch):
    """The 96-case toy's lesion images only (72: 12 test cases), as `toy-lesion@1` on the task
    search path: a board whose order does not depend on how lesion-free images are scored."""
    import json

    from sonobench.cli.toy import build_toy_task
    from sonobench.evaluator.tasks import write_task

    src = build_toy_task(tmp_path / "src" / "v1", n=96, size=48)
    spec = json.loads((src.folder / "task.json").read_text())
    cases = [{"id": c.id, "split": c.split, "image": c.image, "label": c.label, "meta": c.meta}
             for c in src.cases if not c.meta["normal"]]
    root = tmp_path / "tasks"
    task = write_task(root / "toy-lesion" / "v1", spec, cases, data_root=src.folder / "data")
    monkeypatch.setenv("SONOBENCH_TASKS_PATH", str(root))
    return task


@pytest.fixture
def toy_onnx(tmp_path):
    from sonobench.cli.toy import threshold_onnx

    return threshold_onnx(tmp_path / "toy_threshold.onnx")


@pytest.fixture
def artifacts_dir():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
