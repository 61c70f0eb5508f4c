"""The committed reference rows of the default task, sim-breast-lesion@2: they match its frozen
split, the models the issue names have a quick row, and every row carries its scores on the four
acquisition-shift sets, so the Robustness view gives each one a robustness number."""
import json

import pytest
from click.testing import CliRunner

from sonobench.baselines.convergence import verdict
from sonobench.baselines.reference import load_into_store, read_reference, row_sha256
from sonobench.cli import cli
from sonobench.evaluator import task_sets
from sonobench.evaluator.store import Store
from sonobench.evaluator.tasks import get_task

TASK = get_task("sim-breast-lesion")
REF = read_reference("sim-breast-lesion", version=TASK.version)
REQUIRED_QUICK = ("unext", "cmunext", "segformer-b0", "fpn-r34", "unet")


def test_the_default_task_is_v2_and_its_reference_file_matches_the_frozen_split():
    assert TASK.version == 2 and not TASK.archived
    assert (REF["task_version"], REF["manifest_digest"]) == (TASK.version, TASK.digest)
    for row in REF["rows"]:
        assert row["provenance"]["manifest_digest"] == TASK.digest
        assert len(row["cases"]["rows"]) == len(TASK.split("test"))
        assert row["predictions"] and len(row["predictions"]["cases"]) == len(TASK.split("test"))
        t = row["training"]
        assert t["convergence"] == verdict(row["history"], t["recipe"], t["stopped_early"])


def test_the_named_models_have_a_quick_row():
    quick = {r["model"] for r in REF["rows"] if r["profile"] == "quick"}
    assert set(REQUIRED_QUICK) <= quick


def test_every_row_carries_every_shift_set():
    children = {c.ref: c for c in task_sets.shift_sets(TASK)}
    assert len(children) == 4 and all(ref.endswith("@2") for ref in children)
    for row in REF["rows"]:
        assert set(row.get("shifts") or {}) == set(children), f"{row['model']} ({row['profile']})"
        for ref, block in row["shifts"].items():
            assert block["manifest_digest"] == children[ref].digest
            assert len(block["cases"]["rows"]) == len(children[ref].cases)
            assert "predictions" not in block  # per-case rows only (the data budget)
        assert row_sha256(row) == row_sha256({k: v for k, v in row.items() if k != "shifts"})


@pytest.mark.parametrize("profile", sorted({r["profile"] for r in REF["rows"]}))
def test_the_robustness_view_gives_every_row_a_number(tmp_path, profile):
    """Every committed row has all four conditions; robustness (retained skill above the best
    floor) is a number for the rows whose unshifted skill is above the floor, else n/a with why."""
    from sonobench.baselines.floors import load_floors

    db = tmp_path / "r.db"
    assert load_into_store(Store(db), TASK, log=lambda *_: None) == len(REF["rows"])
    assert load_floors(Store(db), TASK, log=lambda *_: None) == 2
    out = CliRunner().invoke(cli, ["leaderboard", "sim-breast-lesion", "--view", "robustness", "--format", "json",
                                   "--db", str(db)])
    assert out.exit_code == 0, out.output
    body = json.loads(out.output)
    assert sorted(body["conditions"]) == ["high-noise", "low-dynamic-range", "low-frequency", "strong-attenuation"]
    names = {r["name"]: r for r in body["rows"]}
    for row in (r for r in REF["rows"] if r["profile"] == profile):
        shown = names[row["name"]]
        assert all(c in shown["conditions"] for c in body["conditions"]), row["name"]
        if shown["robustness"] is None:
            assert "no skill above the floor" in shown["why_none"], row["name"]
        else:
            assert -10 < shown["robustness"] < 2, row["name"]
    if profile == "converged":  # the converged rows all have skill to keep
        assert all(names[r["name"]]["robustness"] is not None for r in REF["rows"] if r["profile"] == profile)
