"""One image's outcome for the image-level rates, from one class's TP/FP/FN pixel counts.

Each function answers True (a success), False (a failure) or None (the image does not count
toward this rate); `detection_rates` turns the outcomes over a task's images into a rate with
its Wilson interval."""
from __future__ import annotations


def detected(tp: int, fp: int, fn: int) -> bool | None:
    """Sensitivity's outcome: on an image whose reference has the class (tp + fn > 0), whether the
    prediction overlaps it anywhere (tp > 0); None on an image without the class."""
    if tp + fn == 0:
        return None
    return tp > 0


def clear(tp: int, fp: int, fn: int) -> bool | None:
    """Specificity's outcome: on an image whose reference lacks the class (tp + fn == 0), whether
    it was predicted without any pixel of it (fp == 0); None on an image with the class."""
    if tp + fn > 0:
        return None
    return fp == 0
