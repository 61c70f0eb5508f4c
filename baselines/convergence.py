"""Did a training run converge? A verdict computed from its learning curve and its
recipe alone, so it can be recomputed from any stored row (this module imports
no torch: the reference loader and the app use it, and derive the label from the
stored curve every time a row is read, so a label can never disagree with the rule).

A run is *converged* when all of these hold:

0. the recipe's early-stopping patience spans at least `MIN_PATIENCE` (10)
   epochs: a shorter window cannot tell a plateau from noise;
1. it ended by the recipe's own early stopping, not at its epoch cap;
2. it ran at least `2 x early_stop_patience` epochs (a run that stops after one
   patience window has not shown a plateau, only a bad start);
3. over the tail window -- the last 25 % of its epochs, at least
   `early_stop_patience` of them -- the least-squares slope of the *raw*
   validation Dice is, at 95 % one-sided confidence (Student t), below
   `MAX_SLOPE` (0.001 Dice per epoch, i.e. 0.01 per 10 epochs): the curve is shown
   to be flat, not merely "not shown to rise";
4. the best raw validation Dice (the checkpoint that is kept) is not in the last
   quarter of the tail window: a run whose best epoch is one of its last ones
   stopped while it was still finding better models.

The slope is fitted to the raw Dice, not the smoothed one: an exponential moving
average makes consecutive values dependent, so its least-squares standard error
would understate the uncertainty. On `sim-breast-lesion@2` the rule rejects
fpn-r34 (its last four raw values 0.68, 0.71, 0.74, 0.76; slope bound 0.025 per
epoch) and unext (best epoch 32 of 32; bound 0.030), and accepts segformer-b0
(bound 0.0005 over its last 29 of 114 epochs, best epoch 67). A row whose run fails
a condition is labelled *not converged* with the condition it failed, in words.
"""
from __future__ import annotations

import math

PLATEAU_DELTA = 0.005  # the recipes' `min_delta` ceiling for smoothed early stopping
TAIL_FRACTION = 0.25
MIN_PATIENCE = 10
MAX_SLOPE = 0.001  # val Dice per epoch
CONFIDENCE = 0.95  # one-sided, on the slope
BEST_QUARTER = 0.25  # the best epoch may not lie in this last share of the tail window
CRITERION = (f"converged = early stopping with a patience >= {MIN_PATIENCE} epochs ended it, it ran >= 2x its patience, "
             f"over the last {TAIL_FRACTION:.0%} of epochs (at least the patience) the raw val Dice's fitted slope is "
             f"< {MAX_SLOPE} per epoch at {CONFIDENCE:.0%} one-sided confidence, and the best epoch is not in that "
             f"window's last {BEST_QUARTER:.0%}")


def tail_epochs(patience: int, epochs_run: int) -> int:
    """The window judged in conditions 3 and 4: the last 25 % of the epochs, at least the patience."""
    return min(epochs_run, max(patience, math.ceil(TAIL_FRACTION * epochs_run)))


def slope_bound(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(least-squares slope per epoch, its one-sided upper `confidence` bound) of equally spaced values."""
    from scipy import stats

    n = len(values)
    if n < 3:
        return math.nan, math.inf
    xbar, ybar = (n - 1) / 2, sum(values) / n
    sxx = sum((i - xbar) ** 2 for i in range(n))
    slope = sum((i - xbar) * (y - ybar) for i, y in enumerate(values)) / sxx
    resid = sum((y - ybar - slope * (i - xbar)) ** 2 for i, y in enumerate(values))
    stderr = math.sqrt(resid / (n - 2) / sxx)
    return slope, slope + float(stats.t.ppf(confidence, n - 2)) * stderr


def best_epoch(history: list[dict]) -> int:
    """1-based epoch of the best raw val Dice (the first, on ties), as the training loop keeps it."""
    values = [float(h["val_dice"]) for h in history]
    return values.index(max(values)) + 1


def _curve_failure(history: list[dict], patience: int) -> tuple[str | None, dict]:
    """Conditions 3 and 4 on the curve: (the failure in words or None, the numbers measured)."""
    n = len(history)
    tail = tail_epochs(patience, n)
    slope, bound = slope_bound([float(h["val_dice"]) for h in history[n - tail:]])
    best = best_epoch(history)
    last_quarter = n - math.ceil(BEST_QUARTER * tail) + 1  # first epoch of the window's last quarter
    numbers = {"tail_epochs": tail, "tail_slope": slope, "tail_slope_bound": bound, "best_epoch": best}
    if not bound < MAX_SLOPE:
        return (f"not converged: the val Dice may still rise over the last {tail} epochs (fitted slope "
                f"{slope:+.4f} per epoch, {CONFIDENCE:.0%} upper bound {bound:+.4f} >= {MAX_SLOPE})"), numbers
    if best >= last_quarter:
        return (f"not converged: its best val Dice came at epoch {best} of {n}, in the last quarter of the "
                f"{tail}-epoch window (epochs {last_quarter}-{n}); it was still finding better models"), numbers
    return None, numbers


def may_stop(patience: int, epochs_run: int, stale: int, history: list[dict] | None = None) -> bool:
    """Early stopping that ends a run only once the verdict can say *converged* (a profile's
    `stop_when_converged`): at least 2x the patience epochs, the smoothed val Dice has not beaten
    its best by more than the recipe's `min_delta` for the whole tail window, and, given the
    `history` so far, the curve passes conditions 3 and 4."""
    if not (epochs_run >= 2 * patience and stale >= tail_epochs(patience, epochs_run)):
        return False
    return history is None or _curve_failure(history[:epochs_run], patience)[0] is None


def verdict(history: list[dict], recipe: dict, stopped_early: bool) -> dict:
    """{"converged": bool, "reason": words, "criterion": words, "tail_epochs", "tail_slope",
    "tail_slope_bound", "best_epoch", "epochs_run", "patience", "stopped_early"}."""
    patience = int(recipe["early_stop_patience"])
    n = len(history)
    out = {"criterion": CRITERION, "tail_epochs": tail_epochs(patience, n), "tail_slope": None,
           "tail_slope_bound": None, "best_epoch": None, "epochs_run": n, "patience": patience,
           "stopped_early": bool(stopped_early)}
    if n == 0:
        return {**out, "converged": False, "reason": "not converged: no learning curve recorded"}
    failure, numbers = _curve_failure(history, patience)
    out.update(numbers)
    if patience < MIN_PATIENCE:
        reason = (f"not converged: its recipe stops after {patience} epochs without a better val Dice, too short "
                  f"a window to tell a plateau from noise (need >= {MIN_PATIENCE}); a smoke-level run")
    elif not stopped_early:
        reason = (f"not converged: reached the epoch cap ({n} epochs) before early stopping ended it; "
                  "the validation Dice had not plateaued")
    elif n < 2 * patience:
        reason = (f"not converged: early stopping ended it after {n} epochs, fewer than 2x the patience "
                  f"({2 * patience}); the curve shows no plateau yet")
    elif failure:
        reason = failure
    else:
        return {**out, "converged": True,
                "reason": (f"converged: flat over the last {out['tail_epochs']} of {n} epochs (val Dice slope "
                           f"{out['tail_slope']:+.4f} per epoch, {CONFIDENCE:.0%} upper bound "
                           f"{out['tail_slope_bound']:+.4f} < {MAX_SLOPE}), best epoch {out['best_epoch']}, "
                           "stopped by early stopping")}
    return {**out, "converged": False, "reason": reason}


def row_verdict(row: dict) -> dict:
    """The verdict of a reference row, always recomputed from its stored curve and recipe (a
    verdict stored with the row may predate the current rule)."""
    training = row.get("training") or {}
    return verdict(row.get("history") or training.get("history") or [],
                   training.get("recipe") or {"early_stop_patience": 1}, training.get("stopped_early", False))


def with_current_verdict(row: dict) -> dict:
    """`row` with `training.convergence` replaced by the verdict of the current rule."""
    if not row.get("training"):
        return row
    return {**row, "training": {**row["training"], "convergence": row_verdict(row)}}
