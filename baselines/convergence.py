"""Did a training run converge? A verdict computed from its learning curve and its
recipe alone, so it can be recomputed from any stored row (this module imports
no torch: the reference loader and the app use it).

A run is *converged* when all of these hold:

0. the recipe's early-stopping patience spans at least `MIN_PATIENCE` (10)
   epochs: a shorter window cannot tell a plateau from noise;
1. it ended by the recipe's own early stopping, not at its epoch cap;
2. it ran at least `2 x early_stop_patience` epochs (a run that stops after one
   patience window has not shown a plateau, only a bad start);
3. over the last 25 % of its epochs (at least `early_stop_patience` of them),
   the smoothed validation Dice (`val_dice_ema`, the raw Dice when the recipe
   does not smooth) never beat its best before that window by more than
   `PLATEAU_DELTA` (0.005).

Smoothing matters on a small validation split: with 40 cases the raw Dice of
consecutive epochs differs by up to ~0.1, so a raw-Dice window "improves" by
chance. A row whose run fails a condition is labelled *not converged* with the
condition it failed, in words.
"""
from __future__ import annotations

import math

PLATEAU_DELTA = 0.005
TAIL_FRACTION = 0.25
MIN_PATIENCE = 10
CRITERION = (f"converged = early stopping with a patience >= {MIN_PATIENCE} epochs ended it, it ran >= 2x its patience, and the smoothed val Dice "
             f"gained <= {PLATEAU_DELTA} over the last {TAIL_FRACTION:.0%} of epochs (at least the patience)")


def _smoothed(history: list[dict]) -> list[float]:
    return [float(h.get("val_dice_ema", h["val_dice"])) for h in history]


def tail_epochs(patience: int, epochs_run: int) -> int:
    """The window judged in condition 3: the last 25 % of the epochs, at least the patience."""
    return min(epochs_run, max(patience, math.ceil(TAIL_FRACTION * epochs_run)))


def may_stop(patience: int, epochs_run: int, stale: int) -> bool:
    """Early stopping that ends a run only once the verdict can say *converged*
    (a profile's `stop_when_converged`): at least 2x the patience epochs, and the smoothed val
    Dice has not beaten its best by more than the recipe's `min_delta` (<= PLATEAU_DELTA) for
    the whole tail window, so the window's best is at most that above the best before it."""
    return epochs_run >= 2 * patience and stale >= tail_epochs(patience, epochs_run)


def verdict(history: list[dict], recipe: dict, stopped_early: bool) -> dict:
    """{"converged": bool, "reason": words, "criterion": words, "tail_epochs", "tail_gain"}."""
    patience = int(recipe["early_stop_patience"])
    n = len(history)
    tail = tail_epochs(patience, n)
    curve = _smoothed(history)
    before, window = curve[:n - tail], curve[n - tail:]
    gain = (max(window) - max(before)) if before and window else None
    out = {"criterion": CRITERION, "tail_epochs": tail, "tail_gain": gain, "epochs_run": n,
           "patience": patience, "stopped_early": bool(stopped_early)}
    if n == 0:
        reason = "not converged: no learning curve recorded"
    elif patience < MIN_PATIENCE:
        reason = (f"not converged: its recipe stops after {patience} epochs without a better val Dice, too short "
                  f"a window to tell a plateau from noise (need >= {MIN_PATIENCE}); a smoke-level run")
    elif not stopped_early:
        reason = (f"not converged: reached the epoch cap ({n} epochs) before early stopping ended it; "
                  "the validation Dice had not plateaued")
    elif n < 2 * patience:
        reason = (f"not converged: early stopping ended it after {n} epochs, fewer than 2x the patience "
                  f"({2 * patience}); the curve shows no plateau yet")
    elif gain is None or gain > PLATEAU_DELTA:
        reason = (f"not converged: the smoothed val Dice still rose by {gain:+.4f} over the last {tail} epochs"
                  if gain is not None else "not converged: too few epochs to judge")
    else:
        return {**out, "converged": True,
                "reason": (f"converged: plateau over the last {tail} of {n} epochs (smoothed val Dice "
                           f"{gain:+.4f} vs the best before them), stopped by early stopping")}
    return {**out, "converged": False, "reason": reason}


def row_verdict(row: dict) -> dict:
    """The verdict of a reference row (recomputed when the row predates this module)."""
    training = row.get("training") or {}
    if "convergence" in training:
        return training["convergence"]
    return verdict(row.get("history") or [], training.get("recipe") or {"early_stop_patience": 1},
                   training.get("stopped_early", False))
