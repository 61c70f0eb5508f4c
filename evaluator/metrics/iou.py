"""Intersection over union (Jaccard index) of two boolean masks."""
from __future__ import annotations

import numpy as np

from ._checks import check_mask_pair


def iou_from_counts(tp: int, fp: int, fn: int) -> float | None:
    """TP / (TP + FP + FN); None (not applicable) when the reference is empty (TP + FN = 0)."""
    if tp + fn == 0:
        return None
    return tp / float(tp + fp + fn)


def iou(pred: np.ndarray, gt: np.ndarray) -> float | None:
    """IoU of two 2-D boolean masks of equal shape (medpy's `jc` on a non-empty reference);
    None when `gt` is empty."""
    pred, gt = check_mask_pair(pred, gt)
    tp = int(np.count_nonzero(pred & gt))
    return iou_from_counts(tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(gt)) - tp)
