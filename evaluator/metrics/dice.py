"""Dice similarity coefficient of two boolean masks."""
from __future__ import annotations

import numpy as np

from ._checks import check_mask_pair


def dice_from_counts(tp: int, fp: int, fn: int) -> float:
    """2TP / (2TP + FP + FN), with both-empty (all counts 0) defined as 1."""
    denom = 2 * tp + fp + fn
    return 1.0 if denom == 0 else 2.0 * tp / float(denom)


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice of two 2-D boolean masks of equal shape (medpy's `dc`, with both empty -> 1)."""
    pred, gt = check_mask_pair(pred, gt)
    tp = int(np.count_nonzero(pred & gt))
    return dice_from_counts(tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(gt)) - tp)
