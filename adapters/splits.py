"""Assigning cases to train/val/test, once, reproducibly.

Order of precedence (the importer applies it):
1. a pinned split — file-name lists in `splits/<task>/` or the task's existing manifest;
2. the source's published split (val carved from its training part when it has none);
3. otherwise a held-out test made here: stratified by class, whole groups
   (patients, specimens, clusters of near-duplicate images) on one side, fixed
   seed; then K folds over the training part (case meta "fold"), val = fold 0.

Everything is deterministic: items are sorted by key and shuffled with
`random.Random` seeded by a string (stable across Python runs and platforms).
"""
from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from .base import SPLIT_NAMES


@dataclass(frozen=True)
class Item:
    key: str
    stratum: str
    group: str                 # cases of one group always share a split and a fold


@dataclass(frozen=True)
class Assignment:
    split: str
    fold: int | None = None


def _grouped(items: list[Item]) -> tuple[dict[str, list[Item]], dict[str, list[str]]]:
    """Members of every group, and the groups of every stratum (a group's stratum is its most common one)."""
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in sorted(items, key=lambda i: i.key):
        groups[it.group].append(it)
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for g, members in sorted(groups.items()):
        counts = Counter(m.stratum for m in members)
        by_stratum[min(counts, key=lambda s: (-counts[s], s))].append(g)
    return groups, dict(sorted(by_stratum.items()))


def _shuffled(groups: list[str], seed: int, salt: str) -> list[str]:
    out = sorted(groups)
    random.Random(f"sonobench:{seed}:{salt}").shuffle(out)
    return out


def hold_out(items: list[Item], fraction: float, seed: int) -> set[str]:
    """Keys of a test set of about `fraction` of the cases of every stratum (whole groups only)."""
    groups, by_stratum = _grouped(items)
    test: set[str] = set()
    for stratum, names in by_stratum.items():
        if len(names) < 2:                 # a lone group stays in training
            continue
        target = fraction * sum(len(groups[g]) for g in names)
        chosen, n = [], 0
        for g in _shuffled(names, seed, f"test:{stratum}"):
            size = len(groups[g])
            if n >= target:
                break
            if not chosen or n + size - target <= target - n:   # taking it gets closer to the target
                chosen.append(g)
                n += size
        if len(chosen) == len(names):
            chosen.pop()
        test.update(m.key for g in chosen for m in groups[g])
    return test


def k_folds(items: list[Item], k: int, seed: int) -> dict[str, int]:
    """Fold of every key: groups dealt stratum by stratum to the fold that has fewest of that stratum."""
    groups, by_stratum = _grouped(items)
    k = max(1, min(k, len(groups)))
    total, per_stratum = [0] * k, defaultdict(lambda: [0] * k)
    folds: dict[str, int] = {}
    for stratum, names in by_stratum.items():
        for g in _shuffled(names, seed, f"folds:{stratum}"):
            f = min(range(k), key=lambda i: (per_stratum[stratum][i], total[i], i))
            size = len(groups[g])
            per_stratum[stratum][f] += size
            total[f] += size
            folds.update((m.key, f) for m in groups[g])
    return folds


def _carve_val(train: list[Item], k: int, seed: int) -> dict[str, Assignment]:
    folds = k_folds(train, k, seed)
    if len(set(folds.values())) < 2:       # one group only: nothing to hold out for validation
        return {key: Assignment("train") for key in folds}
    return {key: Assignment("val" if f == 0 else "train", f) for key, f in folds.items()}


def computed(items: list[Item], fraction: float, k: int, seed: int) -> dict[str, Assignment]:
    test = hold_out(items, fraction, seed)
    out = {key: Assignment("test") for key in test}
    out.update(_carve_val([it for it in items if it.key not in test], k, seed))
    return out


def published(items: list[Item], given: dict[str, Assignment], k: int, seed: int) -> tuple[dict[str, Assignment], bool]:
    """The source's split; when it has no val, val is carved from its training part. Returns (split, carved)."""
    if any(a.split == "val" for a in given.values()):
        return dict(given), False
    out = {key: a for key, a in given.items() if a.split == "test"}
    out.update(_carve_val([it for it in items if given[it.key].split == "train"], k, seed))
    return out, True


# ---- pinned file-name lists: splits/<task>/{train,val,test}.txt + folds.csv -------------------

def read_lists(folder: Path) -> dict[str, Assignment] | None:
    if not (folder / "test.txt").is_file():
        return None
    folds = {}
    if (folder / "folds.csv").is_file():
        with open(folder / "folds.csv", newline="", encoding="utf-8") as f:
            folds = {row["file"]: int(row["fold"]) for row in csv.DictReader(f)}
    out = {}
    for split in SPLIT_NAMES:
        path = folder / f"{split}.txt"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.startswith("#"):
                    out[line] = Assignment(split, folds.get(line))
    return out


def write_lists(folder: Path, assignments: dict[str, Assignment], header: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in SPLIT_NAMES:
        keys = sorted(k for k, a in assignments.items() if a.split == split)
        (folder / f"{split}.txt").write_text(f"# {header}\n" + "".join(f"{k}\n" for k in keys), encoding="utf-8")
    with open(folder / "folds.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "fold"])
        w.writerows(sorted((k, a.fold) for k, a in assignments.items() if a.fold is not None))
