"""One benchmark version string: `sonobench --version` names the code, the evaluator, a digest of
the metric definitions and the embedded task versions; a new metric changes the digest."""
from __future__ import annotations

import re

from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator import __version__
from sonobench.evaluator.metrics import info
from sonobench.evaluator.version import benchmark_version, embedded_tasks, metrics_digest


def test_version_prints_the_benchmark_version():
    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0, out.output
    line = out.output.strip()
    assert line == benchmark_version()
    assert f"evaluator {__version__}" in line
    assert re.search(r"metrics [0-9a-f]{8}", line)
    assert "sim-breast-lesion@2" in line and "sim-neck-thyroid@1" in line and "sim-bone-surface@1" in line


def test_shift_sets_follow_their_parent_and_are_not_listed():
    refs = embedded_tasks()
    assert refs == sorted(refs) and not any("-shift-" in r for r in refs), refs


def test_a_new_metric_changes_the_digest(monkeypatch):
    before = metrics_digest()
    dice = info.METRICS.get("dice")
    entry = info.MetricInfo(name="dice_twice", higher_is_better=True, unit="", lower_bound=0.0, upper_bound=1.0,
                            description="test only", computed=dice.computed, fn=dice.fn)
    monkeypatch.setitem(info.METRICS._entries, "dice_twice", entry)
    assert metrics_digest() != before
