"""The convergence verdict (baselines/convergence.py) on curves whose answer is known and on
the recorded curves of sim-breast-lesion@2,
and the `converged` profile's training: smoothed early stopping, channels-last,
2 threads, still bit-identical run to run."""
from pathlib import Path

import numpy as np
import pytest
import torch

from sonobench.baselines.convergence import (
    MAX_SLOPE,
    PLATEAU_DELTA,
    may_stop,
    row_verdict,
    slope_bound,
    verdict,
    with_current_verdict,
)
from sonobench.baselines.recipes import get_profile
from sonobench.baselines.reference import read_json

RECIPE = {"early_stop_patience": 10}


def _curve(values):
    return [{"epoch": i + 1, "val_dice": v, "val_dice_ema": v} for i, v in enumerate(values)]


RECORDED = Path(__file__).resolve().parents[2] / "baselines" / "reference" / "sim-breast-lesion@2.json.gz"


def _recorded(model):
    """The stored learning curve of `model`'s converged-profile row on sim-breast-lesion@2."""
    rows = read_json(RECORDED)["rows"]
    row = next(r for r in rows if r["model"] == model and r["profile"] == "converged")
    return row["history"], row["training"]["recipe"], row["training"]["stopped_early"]


def test_the_recorded_fpn_r34_curve_still_rising_is_not_converged():
    history, recipe, stopped = _recorded("fpn-r34")
    assert [round(h["val_dice"], 2) for h in history[-4:]] == [0.68, 0.71, 0.74, 0.76]
    v = verdict(history, recipe, stopped)
    assert not v["converged"] and v["tail_slope_bound"] >= MAX_SLOPE
    assert v["reason"].startswith("not converged: the val Dice may still rise over the last 10 epochs")


def test_the_recorded_unext_curve_ending_at_its_best_epoch_is_not_converged():
    history, recipe, stopped = _recorded("unext")
    v = verdict(history, recipe, stopped)
    assert not v["converged"] and v["best_epoch"] == 32 == len(history)
    # each of conditions 3 and 4 alone rejects it: the slope, and the best epoch in the window's last quarter
    assert v["tail_slope_bound"] >= MAX_SLOPE and v["best_epoch"] > len(history) - 0.25 * v["tail_epochs"]


def test_a_flat_tail_whose_best_epoch_is_among_its_last_is_not_converged():
    values = [0.7 + 0.001 * (-1) ** i for i in range(80)]
    values[78] = 0.7025  # the best at epoch 79 of 80; the 20-epoch window stays flat
    v = verdict(_curve(values), RECIPE, stopped_early=True)
    assert v["tail_slope_bound"] < MAX_SLOPE and not v["converged"]
    assert "best val Dice came at epoch 79 of 80, in the last quarter of the 20-epoch window (epochs 76-80)" in v["reason"]


def test_the_recorded_segformer_b0_plateau_is_converged():
    history, recipe, stopped = _recorded("segformer-b0")
    v = verdict(history, recipe, stopped)
    assert v["converged"], v["reason"]
    assert v["tail_epochs"] == 29 and v["best_epoch"] == 67 and v["tail_slope_bound"] < MAX_SLOPE


def test_a_plateau_stopped_by_early_stopping_is_converged():
    values = [0.1 * i for i in range(1, 8)] + [0.7 + 0.002 * (-1) ** i for i in range(33)]  # rises, then noisy flat
    v = verdict(_curve(values), RECIPE, stopped_early=True)
    assert v["converged"] and v["tail_epochs"] == 10 and v["best_epoch"] == 8
    assert v["reason"].startswith("converged: flat over the last 10 of 40 epochs")


def test_the_epoch_cap_is_not_converged():
    v = verdict(_curve([0.7] * 40), RECIPE, stopped_early=False)
    assert not v["converged"] and "epoch cap (40 epochs)" in v["reason"]


def test_a_run_shorter_than_twice_the_patience_is_not_converged():
    v = verdict(_curve([0.5] * 15), RECIPE, stopped_early=True)
    assert not v["converged"] and "fewer than 2x the patience (20)" in v["reason"]


def test_a_tail_that_still_rises_is_not_converged():
    values = [0.5] * 30 + [0.5 + 0.002 * i + 0.003 * (-1) ** i for i in range(1, 11)]  # +0.02 in the last 10
    v = verdict(_curve(values), RECIPE, stopped_early=True)
    assert not v["converged"] and v["tail_slope"] == pytest.approx(0.002, abs=0.001)
    assert "may still rise over the last 10 epochs" in v["reason"]


def test_a_noisy_tail_is_not_shown_flat_however_its_mean_moves():
    # no trend, but raw noise of +-0.1 in 10 epochs: the slope cannot be bounded below 0.001
    values = [0.5] * 30 + [0.6 + 0.1 * (-1) ** i for i in range(10)]
    v = verdict(_curve(values), RECIPE, stopped_early=True)
    assert not v["converged"] and abs(v["tail_slope"]) < 0.01 and v["tail_slope_bound"] > MAX_SLOPE


def test_the_slope_bound_matches_scipy_linregress():
    from scipy import stats

    values = [0.3, 0.5, 0.45, 0.6, 0.55, 0.7, 0.62, 0.71]
    fit = stats.linregress(range(len(values)), values)
    slope, bound = slope_bound(values)
    assert slope == pytest.approx(fit.slope) and bound == pytest.approx(fit.slope + stats.t.ppf(0.95, 6) * fit.stderr)


def test_the_tail_is_a_quarter_of_a_long_run():
    curve = _curve([0.6 + 0.002 * (-1) ** i for i in range(80)])
    curve[10]["val_dice"] = 0.7  # the best, long before the window
    v = verdict(curve, RECIPE, stopped_early=True)
    assert v["tail_epochs"] == 20 and v["converged"] and v["best_epoch"] == 11


def test_a_short_patience_is_never_converged():
    v = verdict(_curve([0.5] * 40), {"early_stop_patience": 4}, stopped_early=True)
    assert not v["converged"] and "too short a window" in v["reason"]


def _stopped_at(values, patience=10, min_delta=PLATEAU_DELTA):
    """Replay the training loop's `stop_when_converged` rule on a curve (raw = smoothed here)."""
    best, stale, curve = None, 0, _curve(values)
    for epoch, v in enumerate(values, 1):
        if best is None or v > best + min_delta:
            best, stale = v, 0
        else:
            stale += 1
        if may_stop(patience, epoch, stale, curve[:epoch]):
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
    assert stops > 50  # the rule does stop many such runs


def test_the_old_patience_rule_can_stop_before_the_verdict_holds():
    # +0.006 every 6 epochs: each step resets a 10-epoch patience at most 6 epochs in; flat for the last 10
    values = [0.5 + 0.006 * (i // 6) for i in range(30)] + [0.53] * 10
    assert _stopped_at(values) is None or verdict(_curve(values[:_stopped_at(values)]), RECIPE, True)["converged"]


def test_the_converged_profile_stops_only_when_converged():
    p = get_profile("converged")
    assert p.stop_when_converged and p.min_delta <= PLATEAU_DELTA and p.epochs >= 4 * p.early_stop_patience


def test_row_verdict_is_always_derived_from_the_stored_curve():
    row = {"history": _curve([0.5] * 8), "training": {"recipe": RECIPE, "stopped_early": True}}
    assert not row_verdict(row)["converged"]
    stale = {**row, "training": {**row["training"], "convergence": {"converged": True, "reason": "converged: ..."}}}
    assert not row_verdict(stale)["converged"]
    assert not with_current_verdict(stale)["training"]["convergence"]["converged"]


def test_committed_rows_are_read_with_the_current_rule():
    from sonobench.baselines.reference import read_reference

    rows = {r["name"]: r for r in read_reference("sim-breast-lesion", version=2)["rows"]}
    for name in ("fpn-r34 (converged)", "unext (converged)"):
        assert not rows[name]["training"]["convergence"]["converged"]
    assert rows["segformer-b0 (converged)"]["training"]["convergence"]["converged"]


@pytest.mark.slow
def test_converged_profile_trains_bit_identically_with_two_threads(tmp_path):
    from sonobench.baselines.training import TaskData, train_model
    from sonobench.cli.toy import build_toy_task

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
    from sonobench.baselines.reference import rerun_tolerance

    cpu = {"provenance": {"hardware": {"device": "cpu", "threads": 2, "cpu": "Xeon"}}}
    assert rerun_tolerance(cpu, "cpu", None)["exact"] and rerun_tolerance(cpu, "cpu", 2)["tolerance"] == 0
    other = rerun_tolerance(cpu, "cpu", 1)
    assert not other["exact"] and other["tolerance"] == 0.02 and "instead of the reference's 2" in other["words"]
    amd = {"provenance": {"hardware": {"device": "cpu", "threads": 2, "cpu": "AMD EPYC"}}}
    assert rerun_tolerance(amd, "cpu", 2, cpu="AMD EPYC")["exact"]
    cross = rerun_tolerance(amd, "cpu", 2, cpu="Intel(R) Xeon(R) Processor")
    assert not cross["exact"] and cross["tolerance"] == 0.02 and "SIMD" in cross["words"]
    gpu = rerun_tolerance({"provenance": {"hardware": {"device": "cuda", "threads": 16}}}, "cuda", None)
    assert not gpu["exact"] and gpu["words"].startswith("within ±0.02 Dice") and "not bit-deterministic" in gpu["words"]


def test_a_re_derived_verdict_does_not_change_a_rows_identity_in_the_store():
    from sonobench.baselines.reference import load_into_store, read_reference, row_sha256
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import get_task

    raw = read_json(RECORDED)["rows"]
    shown = read_reference("sim-breast-lesion", version=2)["rows"]
    unext = next(i for i, r in enumerate(raw) if r["name"] == "unext (converged)")
    assert raw[unext]["training"]["convergence"]["converged"]  # the committed label predates the rule
    assert not shown[unext]["training"]["convergence"]["converged"]
    store = Store(memory=True)
    load_into_store(store, get_task("sim-breast-lesion@2"), log=lambda _m: None)
    task = get_task("sim-breast-lesion@2")
    found = store.find_scored(row_sha256(raw[unext]), task.id, task.version)
    assert found is not None  # keyed by the row as committed: a store loaded before keeps one copy
    assert not found["meta"]["training"]["convergence"]["converged"]  # but shown with the current verdict
