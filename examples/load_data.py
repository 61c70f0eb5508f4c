"""Load a SonoBench task's data from Python: NumPy arrays and a PyTorch Dataset.

    python examples/load_data.py                      # sim-breast-lesion (latest version)
    python examples/load_data.py sim-neck-thyroid@1

Every load checks the split's files against the task's frozen manifest first (SHA-256 per file),
the same check the evaluator runs before it scores a model.
"""
from __future__ import annotations

import sys

import numpy as np

from sonobench.data import TaskDataset, load_split


def main(task: str = "sim-breast-lesion") -> None:
    # 1. arrays at the native size: uint8 images and class-index labels, N x H x W
    train = load_split(task, "train")
    print(f"{train.task} train: images {train.images.shape} {train.images.dtype}, labels {train.labels.shape}")
    print(f"  classes {train.classes}, spacing {train.spacing_mm} mm, manifest digest {train.digest[:12]}")
    print(f"  first cases {train.case_ids[:3]}, their metadata {train.meta[0]}")
    counts = np.bincount(train.labels.ravel(), minlength=train.num_classes)
    print("  pixels per class: " + ", ".join(f"{c} {n / counts.sum():.1%}" for c, n in zip(train.classes, counts)))

    # 2. the model's view: the task's input size, float32 in [0, 1], N x C x H x W
    val = load_split(task, "val", size="input")
    print(f"{val.task} val inputs: {val.inputs().shape}, range [{val.inputs().min():.2f}, {val.inputs().max():.2f}]")

    # 3. a torch Dataset (lazy, one case per item) with an optional transform, batched by a DataLoader
    import torch

    def flip(sample):
        if torch.rand(()) < 0.5:
            sample = {**sample, "image": sample["image"].flip(-1), "label": sample["label"].flip(-1)}
        return sample

    loader = torch.utils.data.DataLoader(TaskDataset(task, "train", transform=flip), batch_size=8, shuffle=True)
    batch = next(iter(loader))
    print(f"one batch: image {tuple(batch['image'].shape)} {batch['image'].dtype}, "
          f"label {tuple(batch['label'].shape)} {batch['label'].dtype}, cases {batch['case_id'][:2]} ...")


if __name__ == "__main__":
    main(*sys.argv[1:2])
