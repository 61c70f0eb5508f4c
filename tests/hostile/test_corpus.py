"""Every hostile submission is contained: the side effect did not happen, the row says
why in the evaluator's words, no result exists, and the store is intact."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from sonobench.evaluator.evaluate import evaluate_path
from sonobench.evaluator.sandbox import bwrap, sandbox_config
from sonobench.evaluator.store import jobs as store_jobs
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.settings import load_settings

from .corpus import all_cases

BWRAP = bwrap.probe()[0]
_TABLE: list[tuple[str, str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def corpus_report():
    """Write the table of cases, what stopped each and the reason, to .artifacts/."""
    from tests.conftest import ARTIFACTS as artifacts_dir

    yield
    artifacts_dir.mkdir(exist_ok=True)
    lines = ["| case | stopped by | reason on the submission row |", "|---|---|---|"]
    lines += [f"| {n} | {b} | {r.replace('|', '/')} |" for n, b, r in _TABLE]
    mode = "bubblewrap" if BWRAP else "no bubblewrap"
    (artifacts_dir / "hostile-corpus.md").write_text(f"Hostile corpus ({mode}), {len(_TABLE)} cases\n\n"
                                                     + "\n".join(lines) + "\n")
NO_BWRAP_REFUSAL = r"execute code and run only under bubblewrap isolation, which is not available here"


def _leaks(text: str, targets) -> list[str]:
    found = []
    if targets.secret in text:
        found.append("the canary secret")
    for what, path in (("label bytes", targets.label), ("store bytes", targets.store)):
        head = path.read_bytes()[:16]
        if head.hex() in text or repr(head) in text:
            found.append(what)
    return found


def _param(case):
    # deadline cases wait out their wall limit; .pt2 ones import torch.export: slow, still in CI
    slow = case.wall < 8 or case.name.startswith("pt2") or case.wall > 8
    return pytest.param(case, id=case.name, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("case", [_param(c) for c in all_cases()])
def test_hostile_submission_is_contained(case, file_store, toy_task, targets, listener, tmp_path):
    if case.torch:
        pytest.importorskip("torch")
    folder = tmp_path / "case"
    folder.mkdir()
    path = case.build(folder, targets)
    settings = dataclasses.replace(load_settings(), **case.settings)
    config = sandbox_config(settings, isolation=case.isolation)
    config.allow_pickle = case.allow_pickle
    config.limits.wall_seconds = case.wall

    with pytest.raises(SonoBenchError):
        evaluate_path(file_store, toy_task, path, settings=settings, config=config, name=case.name, team=case.team,
                      spec=case.spec, architecture=case.architecture)

    [row] = file_store.submissions()
    expected = case.reason if (BWRAP or not case.bwrap_only) else NO_BWRAP_REFUSAL
    assert row["status"] == "failed"
    assert re.search(expected, row["error"]), row["error"]
    _TABLE.append((case.name, case.stopped_by if (BWRAP or not case.bwrap_only) else "policy (no bwrap)",
                   row["error"]))
    counts = file_store.counts()
    assert counts["results"] == 0 and counts["case_results"] == 0
    assert file_store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the side effects did not happen
    assert list(targets.outside.iterdir()) == [], "a file was written outside the sandbox"
    assert listener.accepted == 0, "the model reached a listener on 127.0.0.1"
    shown = json.dumps(file_store.submissions())
    assert _leaks(shown, targets) == [], f"leaked into the row: {_leaks(shown, targets)}"
    # what the model printed stays in the private log
    assert "STDOUT-MARKER" not in shown
    if case.name == "pickle_prints_secret" and BWRAP:
        assert "STDOUT-MARKER" in (store_jobs.private_log(file_store, row["id"]) or "")
