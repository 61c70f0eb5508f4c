"""Board filters on the submitters' method metadata: which rows a board shows by the training
data their models used (`leaderboard --training-data`, and the app's filter).

A filter keeps the rows whose training data is one of the chosen values; `not-stated` picks the
rows stored without it. Floors (input-independent models built from the train split) are kept
on every filtered board: they are the reference points every board shows. Ranks are computed
over the rows a filter keeps, as on any board (the paired ranking ignores irrelevant
alternatives, so dropping rows worse than a model does not move it).
"""
from __future__ import annotations

from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import did_you_mean

from .method import NOT_STATED, TrainingData

NOT_STATED_KEY = "not-stated"
CHOICES = (*(t.value for t in TrainingData), NOT_STATED_KEY)


class UnknownFilterValue(SonoBenchError):
    """A --training-data value that is not one of CHOICES."""


def parse_training_data(value: str | None) -> tuple[str, ...]:
    """'train-only,pretraining' -> ('train-only', 'pretraining'); () for None or '' (no filter)."""
    if not value:
        return ()
    picked = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    for v in picked:
        if v not in CHOICES:
            raise UnknownFilterValue(f"--training-data: unknown value '{v}'. Choose from {', '.join(CHOICES)} "
                                     f"(comma-separated for several).{did_you_mean(v, CHOICES)}")
    return picked


def training_key(row: dict) -> str:
    """The row's training-data value, or 'not-stated'."""
    value = row.get("training_data")
    return value if value in {t.value for t in TrainingData} else NOT_STATED_KEY


def by_training_data(rows: list[dict], picked: tuple[str, ...]) -> list[dict]:
    """The rows whose training data is in `picked`, plus every floor; all rows when `picked` is empty."""
    if not picked:
        return list(rows)
    return [r for r in rows if r.get("kind") == "floor" or training_key(r) in picked]


def describe(picked: tuple[str, ...]) -> str:
    """'train split only or not stated' for a board's title."""
    labels = {**{t.value: t.label for t in TrainingData}, NOT_STATED_KEY: NOT_STATED}
    return " or ".join(labels[p] for p in picked)
