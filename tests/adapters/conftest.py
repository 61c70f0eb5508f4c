"""Fixtures for the adapter tests: replicas are built under tmp_path, tasks go to
the per-test SONOBENCH_HOME (root conftest), and pinned split lists are read
from and written to a temporary folder, never the repository's splits/."""
from __future__ import annotations

import pytest

from sonobench.adapters import import_dataset

from .replicas import REPLICAS


@pytest.fixture
def splits_dir(tmp_path):
    return tmp_path / "pinned-splits"


@pytest.fixture
def replica(tmp_path):
    def make(name: str, where: str = "copy"):
        return REPLICAS[name](tmp_path / where / name)
    return make


@pytest.fixture
def run_import(splits_dir):
    def run(name, path, **options):
        options.setdefault("splits_dir", splits_dir)
        return import_dataset(name, path, **options)
    return run
