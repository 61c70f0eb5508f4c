"""A model process that lies with plausible numbers: the row is scored, but latency, memory
and the sandbox facts are the parent's own measurements, and the complexity it reported is
labelled as such."""
import pytest

from sonobench.evaluator.evaluate import evaluate_path
from sonobench.evaluator.sandbox import bwrap, sandbox_config
from sonobench.evaluator.sandbox.reports import REPORTED_BY_CHILD
from sonobench.kernel.settings import load_settings

from .corpus_hosted import FORGED_NUMBERS


@pytest.mark.slow
@pytest.mark.skipif(not bwrap.probe()[0], reason="pickles run only under bubblewrap")
def test_forged_numbers_are_not_what_is_stored(file_store, toy_task, targets, tmp_path):
    pytest.importorskip("torch")
    model = FORGED_NUMBERS(tmp_path, targets)
    settings = load_settings()
    config = sandbox_config(settings)
    config.allow_pickle = True
    config.limits.wall_seconds = 120
    res = evaluate_path(file_store, toy_task, model, settings=settings, config=config, name="liar").result
    # the child said 1e-7 s per image; the parent's clock around the pipe says otherwise
    assert res["latency_ms"] > 0.01
    # the child said 0.001 MB; the parent read VmHWM of the sandbox's processes (python + torch: > 20 MB)
    assert res["peak_memory_mb"] is not None and res["peak_memory_mb"] > 20
    sandbox = res["hardware"]["sandbox"]
    assert "FORGED" not in str(sandbox) and sandbox["source"] == "the evaluator's launcher"
    assert sandbox["isolation"] == "bwrap"
    # numbers the parent cannot measure for a code format pass the schema but carry their source
    assert res["params"] == 7 and res["complexity"]["source"] == REPORTED_BY_CHILD
