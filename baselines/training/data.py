"""A task split held in memory the way the evaluator will see it, and the
stratified K-fold split of the development data (train + val, never test).

Images go through the evaluator's own pre-processing (`imageio.to_input`), so a
model is trained on exactly the tensors it is later scored on. Targets are the
labels resized to the input size with nearest-neighbour; `labels` keep the
native size for scoring.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from sonobench.evaluator.tasks import Case, Task
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError


class InvalidSplit(SonoBenchError):
    """A split or fold request the data cannot satisfy."""


@dataclass
class Samples:
    ids: list[str]
    images: np.ndarray          # float32 N x C x H x W in [0, 1], at the task's input size
    targets: np.ndarray         # uint8 N x H x W class indices, at the input size
    labels: list[np.ndarray]    # uint8 class indices at each case's native size
    strata: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index) -> "Samples":
        index = list(index)
        return Samples([self.ids[i] for i in index], self.images[index], self.targets[index],
                       [self.labels[i] for i in index], [self.strata[i] for i in index])

    @staticmethod
    def concat(parts: list["Samples"]) -> "Samples":
        return Samples(sum((p.ids for p in parts), []), np.concatenate([p.images for p in parts]),
                       np.concatenate([p.targets for p in parts]), sum((p.labels for p in parts), []),
                       sum((p.strata for p in parts), []))


def stratum(target: np.ndarray) -> str:
    """'normal' for an empty mask, else the foreground classes present (e.g. 'classes:1')."""
    present = sorted(int(c) for c in np.unique(target) if c > 0)
    return "normal" if not present else "classes:" + ",".join(map(str, present))


def _target(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if label.shape == tuple(size):
        return label
    return np.asarray(Image.fromarray(label).resize((size[1], size[0]), Image.NEAREST))


def load_samples(task: Task, cases: list[Case], labels_root=None) -> Samples:
    if not cases:
        raise InvalidSplit(f"task {task.ref}: no cases to load")
    images, targets, labels = [], [], []
    for case in cases:
        images.append(imageio.to_input(imageio.load_gray(task.image_path(case)), task.input_size,
                                       task.input_channels)[0])
        path = task.label_path(case, labels_root)
        if not path.is_file():
            hint = " (private test labels: pass --labels-root)" if case.split == "test" else ""
            raise InvalidSplit(f"task {task.ref}: the label of case {case.id} is missing at {path}{hint}")
        label = imageio.load_label(path)
        labels.append(label)
        targets.append(_target(label, task.input_size))
    return Samples([c.id for c in cases], np.stack(images), np.stack(targets), labels,
                   [stratum(t) for t in targets])


def load_split(task: Task, split: str, labels_root=None) -> Samples:
    cases = task.split(split)
    if not cases:
        raise InvalidSplit(f"task {task.ref} has no '{split}' cases; baselines need train and val splits")
    return load_samples(task, cases, labels_root)


def stratified_folds(strata: list[str], k: int, seed: int) -> list[int]:
    """Fold index (0..k-1) per sample: each stratum is shuffled with `seed` and dealt
    round-robin, continuing where the previous stratum stopped so folds stay even."""
    if not isinstance(k, int) or k < 2:
        raise InvalidSplit(f"Expected `folds` to be an integer >= 2, but got {k!r}")
    if k > len(strata):
        raise InvalidSplit(f"{k} folds need at least {k} development cases; there are {len(strata)}")
    rng = np.random.default_rng(seed)
    fold = [0] * len(strata)
    offset = 0
    for name in sorted(set(strata)):
        members = [i for i, s in enumerate(strata) if s == name]
        for j, i in enumerate(rng.permutation(members)):
            fold[int(i)] = (offset + j) % k
        offset = (offset + len(members)) % k
    return fold


def cv_splits(dev: Samples, k: int, seed: int) -> list[tuple[Samples, Samples]]:
    """(train, validation) per fold over the development data."""
    fold = stratified_folds(dev.strata, k, seed)
    return [(dev.subset(i for i, f in enumerate(fold) if f != j), dev.subset(i for i, f in enumerate(fold) if f == j))
            for j in range(k)]


def eval_subset(samples: Samples, n: int | None, seed: int) -> Samples:
    """A fixed, stratified subset of at most n samples (all when n is None or larger)."""
    if n is None or n >= len(samples):
        return samples
    fold = stratified_folds(samples.strata, max(2, -(-len(samples) // n)), seed)
    chosen = [i for i, f in enumerate(fold) if f == 0][:n]
    return samples.subset(sorted(chosen))
