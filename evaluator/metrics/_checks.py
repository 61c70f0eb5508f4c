"""Argument checks shared by the metric functions. Each check raises
InvalidMetricInput with the expected value and what it got, before any work."""
from __future__ import annotations

import math
import numbers

import numpy as np

from sonobench.kernel.errors import SonoBenchError


class InvalidMetricInput(SonoBenchError, ValueError):
    """A metric was called with arguments it cannot score (shape, dtype, range)."""


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"{x!r} ({type(x).__name__})"


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InvalidMetricInput(f"Expected argument `{name}` to be {kind}, but got {_describe(value)}.")
    return int(value)


def check_mask_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """Two 2-D boolean masks of equal shape (0/1 integer arrays are accepted too)."""
    return check_mask("pred", pred), check_mask("gt", gt, like=pred)


def check_mask(name: str, mask, like=None) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise InvalidMetricInput(f"Expected argument `{name}` to be a numpy array, but got {_describe(mask)}.")
    if mask.ndim != 2:
        raise InvalidMetricInput(f"Expected argument `{name}` to be a 2-D mask, but got {_describe(mask)}.")
    if like is not None and mask.shape != np.shape(like):
        raise InvalidMetricInput(
            f"Expected arguments `pred` and `gt` to have the same shape, but got {np.shape(like)} and {mask.shape}.")
    if mask.dtype == np.bool_:
        return mask
    if np.issubdtype(mask.dtype, np.integer) and (mask.size == 0 or (mask.min() >= 0 and mask.max() <= 1)):
        return mask.astype(bool)
    raise InvalidMetricInput(
        f"Expected argument `{name}` to be a boolean mask (or 0/1 integers), but got {_describe(mask)}; "
        "threshold or compare with a class index first (e.g. `labels == c`).")


def check_spacing(spacing) -> tuple[float, float] | None:
    """None (pixels), one positive number, or (row_mm, col_mm)."""
    if spacing is None:
        return None
    values = [spacing] if isinstance(spacing, numbers.Real) else spacing
    try:
        pair = [float(v) for v in values]
    except (TypeError, ValueError):
        pair = []
    if len(pair) == 1:
        pair = pair * 2
    if len(pair) != 2 or not all(math.isfinite(v) and v > 0 for v in pair) or isinstance(spacing, (str, bytes)):
        raise InvalidMetricInput(
            "Expected argument `spacing` to be None, a positive number or a pair (row_mm, col_mm) of positive "
            f"numbers, but got {_describe(spacing)}.")
    return pair[0], pair[1]


def check_tolerance(tolerance) -> float:
    """A finite number > 0 (a distance in the metric's unit: pixels, or mm with a spacing)."""
    if (isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real)
            or not math.isfinite(tolerance) or tolerance <= 0):
        raise InvalidMetricInput(
            f"Expected argument `tolerance` to be a finite number > 0 (pixels, or mm with a spacing), "
            f"but got {_describe(tolerance)}.")
    return float(tolerance)


def check_label_pair(pred, gt, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 2-D integer label maps of equal shape with values in [0, num_classes)."""
    for name, x in (("pred_labels", pred), ("gt_labels", gt)):
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            raise InvalidMetricInput(f"Expected argument `{name}` to be a 2-D label map, but got {_describe(x)}.")
        if not (np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_):
            raise InvalidMetricInput(
                f"Expected argument `{name}` to hold integer class indices, but got {_describe(x)}; "
                "take the argmax (or threshold) of the model output first.")
    if pred.shape != gt.shape:
        raise InvalidMetricInput(
            f"Expected `pred_labels` and `gt_labels` to have the same shape, but got {pred.shape} and {gt.shape}; "
            "resize the prediction to the label's native size first.")
    for name, x in (("pred_labels", pred), ("gt_labels", gt)):
        if x.size and (int(x.min()) < 0 or int(x.max()) >= num_classes):
            raise InvalidMetricInput(
                f"Expected `{name}` values in [0, {num_classes - 1}] for num_classes={num_classes}, "
                f"but got values in [{int(x.min())}, {int(x.max())}].")
    return pred, gt


def check_finite_values(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidMetricInput(
            f"Expected argument `{name}` to be a sequence of numbers, but got {_describe(values)}.") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidMetricInput(
            f"Expected argument `{name}` to be a non-empty 1-D sequence, but got {_describe(arr)}.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidMetricInput(
            f"Expected argument `{name}` to hold finite numbers only, but got {arr[bad[0]]} at index {int(bad[0])} "
            f"({bad.size} non-finite in all); a failed case must be scored (e.g. Dice 0), never dropped or left NaN.")
    return arr
