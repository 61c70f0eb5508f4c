"""The convergence verdict (baselines/convergence.py) on curves whose answer is known,
and the `converged` profile's training: smoothed early stopping, channels-last,
2 threads, still bit-identical run to run."""
import numpy as np
import pytest
import torch

from baselines.convergence import PLATEAU_DELTA, may_stop, row_verdict, verdict
from baselines.recipes import get_profile

RECIPE = {"early_stop_patience": 10}


def _curve(values):
    return [{"epoch": i + 1, "val_dice": v, "val_dice_ema": v} for i, v in enumerate(values)]


def test_a_plateau_stopped_by_early_stopping_is_converged():
    values = [0.1 * i for i in range(1, 8)] + [0.7] * 33  # rises for 7 epochs, flat for 33
    v = verdict(_curve(values), RECIPE, stopped_early=True)
    assert v["converged"] and v["tail_epochs"] == 10 and v["tail_gain"] == pytest.approx(0.0)
    assert v["reason"].startswith("converged: plateau over the last 10 of 40 epochs")


def test_the_epoch_cap_is_not_converged():
    v = verdict(_curve([0.7] * 40), RECIPE, stopped_early=False)
    assert not v["converged"] and "epoch cap (40 epochs)" in v["reason"]


def test_a_run_shorter_than_twice_the_patience_is_not_converged():
    v = verdict(_curve([0.5] * 15), RECIPE, stopped_early=True)
    assert not v["converged"] and "fewer than 2x the patience (20)" in v["reason"]


def test_a_tail_that_still_rises_is_not_converged():
    values = [0.5] * 30 + [0.5 + 0.002 * i for i in range(1, 11)]  # +0.02 in the last 10
    v = verdict(_curve(values), RECIPE, stopped_early=True)
    assert not v["converged"] and v["tail_gain"] > PLATEAU_DELTA and "still rose by +0.0200" in v["reason"]


def test_the_tail_is_a_quarter_of_a_long_run_and_the_smoothed_curve_decides():
    # raw Dice jumps in the tail (noise), the smoothed one does not: converged
    curve = [{"val_dice": 0.6 + (0.1 if i == 70 else 0.0), "val_dice_ema": 0.6} for i in range(80)]
    v = verdict(curve, RECIPE, stopped_early=True)
    assert v["tail_epochs"] == 20 and v["converged"]


def test_a_short_patience_is_never_converged():
    v = verdict(_curve([0.5] * 40), {"early_stop_patience": 4}, stopped_early=True)
    assert not v["converged"] and "too short a window" in v["reason"]


def _stopped_at(values, patience=10, min_delta=PLATEAU_DELTA):
    """Replay the training loop's `stop_when_converged` rule on a smoothed curve."""
    best, stale = None, 0
    for epoch, v in enumerate(values, 1):
        if best is None or v > best + min_delta:
            best, stale = v, 0
        else:
            stale += 1
        if may_stop(patience, epoch, stale):
            return epoch
    return None


def test_stopping_when_converged_always_yields_a_converged_verdict():
    rng = np.random.default_rng(0)
    stops = 0
    for _ in range(300):  # rising, noisy, plateauing curves of many shapes
        n, rate = int(rng.integers(20, 120)), float(rng.uniform(0.02, 0.3))
        values = list(0.8 * (1 - np.exp(-rate * np.arange(1, n + 1))) + rng.normal(0, 0.01, n))
        stop = _stopped_at(values)
        if stop is None:
            continue
        stops += 1
        v = verdict(_curve(values[:stop]), RECIPE, stopped_early=True)
        assert v["converged"], (stop, v["reason"])
    assert stops > 100  # the rule does stop most such runs


def test_the_old_patience_rule_can_stop_before_the_verdict_holds():
    # +0.006 every 6 epochs: each step resets a 10-epoch patience at most 6 epochs in; flat for the last 10
    values = [0.5 + 0.006 * (i // 6) for i in range(30)] + [0.53] * 10
    assert _stopped_at(values) is None or verdict(_curve(values[:_stopped_at(values)]), RECIPE, True)["converged"]
    v = verdict(_curve(values), RECIPE, stopped_early=True)  # what 10 stale epochs alone would have ended at
    assert not v["converged"] and v["tail_gain"] > PLATEAU_DELTA


def test_the_converged_profile_stops_only_when_converged():
    p = get_profile("converged")
    assert p.stop_when_converged and p.min_delta <= PLATEAU_DELTA and p.epochs >= 4 * p.early_stop_patience


def test_row_verdict_recomputes_for_rows_without_one():
    row = {"history": _curve([0.5] * 8), "training": {"recipe": RECIPE, "stopped_early": True}}
    assert not row_verdict(row)["converged"]
    stored = {"converged": True, "reason": "converged: ..."}
    assert row_verdict({"training": {"convergence": stored}}) is stored


@pytest.mark.slow
def test_converged_profile_trains_bit_identically_with_two_threads(tmp_path):
    from baselines.training import TaskData, train_model
    from evaluator.toy import build_toy_task

    data = TaskData.load(build_toy_task(tmp_path / "toy-lesion" / "v1"))
    profile = get_profile("converged").replace(epochs=4, batch_size=4, early_stop_patience=2)
    assert profile.threads == 2 and profile.channels_last and profile.crop is None
    runs = [train_model("unext", data.train, data.val, data.task, profile) for _ in range(2)]
    h = runs[0].history
    ema = h[0]["val_dice"]
    for row in h[1:]:  # the recorded smoothed Dice is the EMA of the raw one
        ema = profile.ema * ema + (1 - profile.ema) * row["val_dice"]
        assert row["val_dice_ema"] == pytest.approx(ema)
    strip = [[{k: v for k, v in row.items() if k != "time_s"} for row in r.history] for r in runs]
    assert strip[0] == strip[1]
    a, b = runs[0].model.state_dict(), runs[1].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(t.is_contiguous() for t in a.values())  # exported in the default layout


def test_rerun_tolerance_per_hardware():
    from baselines.reference import rerun_tolerance

    cpu = {"provenance": {"hardware": {"device": "cpu", "threads": 2, "cpu": "Xeon"}}}
    assert rerun_tolerance(cpu, "cpu", None)["exact"] and rerun_tolerance(cpu, "cpu", 2)["dice"] == 0
    other = rerun_tolerance(cpu, "cpu", 1)
    assert not other["exact"] and other["dice"] == 0.02 and "instead of the reference's 2" in other["words"]
    amd = {"provenance": {"hardware": {"device": "cpu", "threads": 2, "cpu": "AMD EPYC"}}}
    assert rerun_tolerance(amd, "cpu", 2, cpu="AMD EPYC")["exact"]
    cross = rerun_tolerance(amd, "cpu", 2, cpu="Intel(R) Xeon(R) Processor")
    assert not cross["exact"] and cross["dice"] == 0.02 and "SIMD" in cross["words"]
    gpu = rerun_tolerance({"provenance": {"hardware": {"device": "cuda", "threads": 16}}}, "cuda", None)
    assert not gpu["exact"] and gpu["words"].startswith("within ±0.02 Dice") and "not bit-deterministic" in gpu["words"]
