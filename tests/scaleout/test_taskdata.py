"""Task data for nodes without a shared filesystem: a bundle fills a per-node cache keyed by
the manifest digest, fetched only when a file is missing or differs, verified before use."""
from __future__ import annotations

import dataclasses

import pytest

from sonobench.evaluator.scaleout import taskdata
from sonobench.evaluator.tasks import verify_task
from sonobench.kernel.errors import ManifestMismatch


class Fetcher:
    def __init__(self, bundle):
        self.bundle, self.calls = bundle, 0

    def __call__(self):
        self.calls += 1
        return self.bundle


def test_a_node_cache_is_filled_once_verified_and_repaired(toy_task):
    fetch = Fetcher(taskdata.make_bundle(toy_task, "test"))
    test_cases, val_cases = toy_task.split("test"), toy_task.split("val")
    assert len(fetch.bundle.files) == 2 * len(test_cases) + len(val_cases)  # no train file, no val label
    node_task, labels = taskdata.materialize(toy_task, "test", fetch)
    assert fetch.calls == 1 and node_task.data_root != toy_task.data_root
    assert node_task.data_root.is_relative_to(taskdata.node_cache_dir(toy_task.digest))
    verify_task(node_task, splits=("test",), labels_root=labels)  # the evaluator's own check passes
    assert node_task.digest == toy_task.digest and node_task.cases == toy_task.cases

    taskdata.materialize(toy_task, "test", fetch)
    assert fetch.calls == 1  # a warm cache is not sent again
    victim = labels / test_cases[0].label
    victim.write_bytes(b"tampered")
    taskdata.materialize(toy_task, "test", fetch)
    assert fetch.calls == 2 and victim.read_bytes() == (toy_task.data_root / test_cases[0].label).read_bytes()


def test_wrong_data_sent_to_a_node_is_refused_naming_the_case(toy_task):
    bundle = taskdata.make_bundle(toy_task, "val")
    case = toy_task.split("val")[0]
    files = dict(bundle.files, **{f"data/{case.image}": b"not the image"})
    with pytest.raises(ManifestMismatch, match="do not match the frozen manifest") as e:
        taskdata.materialize(toy_task, "val", lambda: dataclasses.replace(bundle, files=files))
    assert e.value.cases == [case.id]
    other = dataclasses.replace(bundle, digest="0" * 64)
    with pytest.raises(ManifestMismatch, match="restart the driver"):
        taskdata.materialize(dataclasses.replace(toy_task, digest="f" * 64), "val", lambda: other)
