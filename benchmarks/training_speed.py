"""CPU training throughput (images/s) of the reference baselines, before and after the
`converged` profile's speed-ups, on whole 256 x 256 images.

    python benchmarks/training_speed.py [--models unext,segformer-b0] [--steps 6]

Each setting runs training steps exactly as `sonobench.baselines.training.loop` does (the
Dice + BCE loss, AdamW, deterministic kernels, flushed denormals) on a fixed
random batch and reports images per second over `--steps` steps after one
warm-up step. Settings:

* before: the seeds' `paper` batch (8) in the default NCHW layout on 1 thread,
  the thread count the committed CPU rows used;
* 2 threads: the same on 2 threads;
* after: the `converged` profile: batch 16, 2 threads, channels-last.

The ratio after / before is printed per model. On a machine shared with other
jobs, run it when the load is low (the numbers are wall-clock throughputs).
"""
from __future__ import annotations

import argparse
import time

import torch

from sonobench.baselines.recipes import get_profile
from sonobench.baselines.training.env import deterministic
from sonobench.baselines.training.losses import SegLoss
from sonobench.zoo import create_model

SETTINGS = {  # name -> (batch, threads, channels_last)
    "before (batch 8, 1 thread, NCHW)": (8, 1, False),
    "2 threads (batch 8, NCHW)": (8, 2, False),
    "after: converged (batch 16, 2 threads, channels-last)": (16, 2, True),
}


def images_per_s(name: str, batch: int, threads: int, channels_last: bool, steps: int) -> float:
    layout = torch.channels_last if channels_last else torch.contiguous_format
    with deterministic(0, "cpu", threads):
        model = create_model(name, in_channels=1, num_classes=1).to(memory_format=layout).train()
        opt = torch.optim.AdamW(model.parameters(), lr=get_profile("converged").lr, foreach=True)
        loss_fn = SegLoss(2)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(batch, 1, 256, 256, generator=g).contiguous(memory_format=layout)
        y = (torch.rand(batch, 256, 256, generator=g) > 0.85).long()

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        step()  # warm-up: oneDNN picks its kernels on the first call
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * batch / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="unext,segformer-b0")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    for name in args.models.split(","):
        rates = {label: images_per_s(name, *cfg, args.steps) for label, cfg in SETTINGS.items()}
        for label, rate in rates.items():
            print(f"{name:<14} {label:<55} {rate:7.2f} images/s")
        first, last = list(rates.values())[0], list(rates.values())[-1]
        print(f"{name:<14} ratio after / before: {last / first:.2f}x")


if __name__ == "__main__":
    main()
