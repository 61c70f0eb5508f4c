"""The random label-map pairs of the score_case golden file (tests/metrics/golden/score_case.json):
multi-class, empty and absent classes, with and without a spacing and tolerances. The golden
values were written by the evaluator before its metrics were computed through the registry
(`python -m tests.metrics.golden_cases tests/metrics/golden/score_case.json`); the registry must
reproduce them exactly."""
from __future__ import annotations

import json
import sys

import numpy as np

N = 40


def cases():
    """(pred, gt, num_classes, kwargs) for each golden case, from a fixed seed."""
    rng = np.random.default_rng(20261207)
    for k in range(N):
        num_classes = 2 + k % 3
        h, w = (int(v) for v in rng.integers(8, 40, 2))
        gt, pred = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
        for label in range(1, num_classes):
            if rng.random() < 0.7:
                y, x = rng.integers(0, h), rng.integers(0, w)
                gt[max(0, y - 3):y + 4, max(0, x - 5):x + 3] = label
            if rng.random() < 0.7:
                y, x = rng.integers(0, h), rng.integers(0, w)
                pred[max(0, y - 4):y + 3, max(0, x - 2):x + 5] = label
        kwargs = {"spacing": [None, (0.2, 0.3), 0.5][k % 3], "nsd_tolerance": [None, 1.0][k % 2],
                  "surface_tolerance": [None, 0.7, 2.0][k % 3]}
        yield pred, gt, num_classes, kwargs


def scores() -> list[list]:
    """score_case of every golden case, as JSON-ready [[class, [[key, value], ...]], ...] (key order kept)."""
    from sonobench.evaluator.metrics import score_case

    return [[[c, [[key, value] for key, value in per_class.items()]]
             for c, per_class in score_case(pred, gt, n, **kw).items()] for pred, gt, n, kw in cases()]


if __name__ == "__main__":
    with open(sys.argv[1], "w") as f:
        json.dump(scores(), f)
