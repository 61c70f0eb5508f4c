"""Dice similarity coefficient of two boolean masks."""
from __future__ import annotations

import numpy as np

from ._checks import check_mask_pair


def dice_from_counts(tp: int, fp: int, fn: int) -> float | None:
    """2TP / (2TP + FP + FN); None (not applicable) when the reference is empty (TP + FN = 0),
    whatever was predicted: false positives there are the image-level specificity's business."""
    if tp + fn == 0:
        return None
    return 2.0 * tp / float(2 * tp + fp + fn)


def dice(pred: np.ndarray, gt: np.ndarray) -> float | None:
    """Dice of two 2-D boolean masks of equal shape (medpy's `dc` on a non-empty reference);
    None when `gt` is empty (see `dice_from_counts`)."""
    pred, gt = check_mask_pair(pred, gt)
    tp = int(np.count_nonzero(pred & gt))
    return dice_from_counts(tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(gt)) - tp)
