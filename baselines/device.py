"""Train the reference zoo on a lent GPU in one command, and score what comes back here.

A lent accelerator machine has torch (with CUDA), timm, torchvision, onnx,
onnxruntime, safetensors and scipy, but no package registry, no store and a
hard limit on what comes back (at most 8 files of <= 16 MiB). So the work is
split in two halves:

* `train_pack` (on the device: ``python -m sonobench.baselines.device train ...``) trains
  every model with the recipe (the `paper` profile: whole images, bf16
  autocast), several at once on the one GPU when `--concurrent` > 1, predicts
  train, val and test there, and writes into the output folder:
  `summary.json` (per model: history, convergence verdict, timings, hardware,
  architecture, PyTorch parameter count, inference latency), `predictions.npz`
  (per model and split the label maps at each case's native size, made with the
  evaluator's own `imageio.to_labels`, bit-packed), and the weights
  (`<model>.safetensors`) of the models whose file fits, smallest first, in the
  remaining file slots.
* `import_pack` (here: ``sonobench baselines import-device DIR``) scores the test
  predictions against the labels with the evaluator's own per-case scoring and
  aggregation (`sonobench.evaluator.metrics.score_case`, `sonobench.evaluator.summary`), stores
  each model as a kind="baseline" result with its predictions, and returns the
  reference rows (trained and inferred on the device, scored here).

Nothing here imports the store or the sandbox on the device side.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

MAX_FILES = 8
MAX_FILE_BYTES = 16 * 2 ** 20
SUMMARY, PREDICTIONS = "summary.json", "predictions.npz"
SPLITS = ("train", "val", "test")
# The zoo's required references (issue 25): what `--models required` trains in one device run.
REQUIRED_MODELS = ("unet", "attunet", "unetpp", "unext", "cmunext", "deeplabv3plus-r50", "fpn-r34", "segformer-b0",
                   "anatosegnet")
PREDICT_RESERVE_S = 0.15  # share of a model's time slot kept for predicting train/val/test and packing


class PackTooLarge(Exception):
    """The files to bring back exceed the device's return limits."""


# ---------------------------------------------------------------------------- device side
def _native_labels(task, logits: np.ndarray, shape) -> np.ndarray:
    from sonobench.kernel import imageio

    return imageio.to_labels(logits.astype(np.float32, copy=False), shape, "logits").astype(np.uint8)


def _predict(model, task, samples, batch: int, device: str) -> tuple[list[np.ndarray], float]:
    """Label maps at native size for every sample, and the median batch-1 latency (ms)."""
    import torch

    from .training.scoring import torch_logits

    model = model.to(device).eval()
    labels = [_native_labels(task, out, samples.labels[i].shape)
              for i, out in torch_logits(model, samples, batch, device)]
    times = []
    with torch.inference_mode():
        for i in range(min(len(samples), 20)):
            x = torch.from_numpy(samples.images[i:i + 1]).to(device)
            t = time.perf_counter()
            model(x)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    return labels, 1000 * float(np.median(times[1:] or times))


def _train_one(job: dict) -> dict:
    """One model end to end on the device; the masks and weights go to job['tmp']."""
    import torch

    from sonobench.evaluator.tasks import get_task
    from sonobench.zoo import model_config

    from .convergence import verdict
    from .recipes import Profile
    from .training.data import load_split
    from .training.env import hardware
    from .training.loop import train_model

    task = get_task(job["task"])
    profile = Profile.from_dict(job["profile"])
    data = {s: load_split(task, s) for s in SPLITS}
    if job["device"] == "cuda":
        torch.cuda.reset_peak_memory_stats()
    deadline = time.monotonic() + job["slot_s"] * (1 - PREDICT_RESERVE_S) if job.get("slot_s") else None
    res = train_model(job["model"], data["train"], data["val"], task, profile, job["device"], deadline=deadline)
    preds, latency = {}, None
    for split in SPLITS:
        preds[split], lat = _predict(res.model, task, data[split], profile.batch_size, job["device"])
        latency = lat if split == "test" else latency
    tmp = Path(job["tmp"])
    np.savez_compressed(tmp / f"{job['model']}.npz", **{s: _pack(p, task.num_classes) for s, p in preds.items()})
    weights = tmp / f"{job['model']}.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in res.model.state_dict().items()}, str(weights))
    return {"model": job["model"], "architecture": model_config(res.model), "recipe": profile.to_dict(),
            "history": res.history, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
            "stopped_early": res.stopped_early, "wall_s": res.wall_s, "cpu_s": res.cpu_s,
            "convergence": verdict(res.history, profile.to_dict(), res.stopped_early),
            "time_budget": res.extra.get("time_budget"),
            "params_pytorch": sum(p.numel() for p in res.model.parameters()),
            "hardware": hardware(job["device"], profile.threads), "latency_ms": latency,
            "peak_memory_mb": (torch.cuda.max_memory_allocated() / 2 ** 20) if job["device"] == "cuda" else None,
            "cases": {s: data[s].ids for s in SPLITS}}


def _pack(labels: list[np.ndarray], num_classes: int) -> np.ndarray:
    """Bytes: case count (int64), (h, w) per case (int64), the flat label maps (bit-packed when binary)."""
    shapes = np.array([l.shape for l in labels], dtype=np.int64).ravel()
    flat = np.concatenate([l.ravel() for l in labels])
    body = np.packbits(flat) if num_classes == 2 else flat
    return np.frombuffer(np.array([len(labels)], np.int64).tobytes() + shapes.tobytes() + body.tobytes(), np.uint8)


def unpack(blob: np.ndarray, num_classes: int) -> list[np.ndarray]:
    raw = blob.tobytes()
    n = int(np.frombuffer(raw[:8], np.int64)[0])
    shapes = np.frombuffer(raw[8:8 + 16 * n], np.int64).reshape(n, 2)
    body = np.frombuffer(raw[8 + 16 * n:], np.uint8)
    total = int(np.prod(shapes, axis=1).sum())
    flat = np.unpackbits(body)[:total] if num_classes == 2 else body[:total]
    out, at = [], 0
    for h, w in shapes:
        out.append(flat[at:at + h * w].reshape(int(h), int(w)).astype(np.uint8))
        at += int(h * w)
    return out


def profile_for(model: str, profile):
    """The profile `model` trains with: its own `<model>-<profile>` recipe when the zoo registers one
    (e.g. `anatosegnet-paper`, the AnatoSegNet paper's optimiser and schedule), else `profile`."""
    from .recipes import PROFILES, get_profile

    own = f"{model}-{profile.name}"
    if own not in PROFILES.names():
        return profile
    mine = get_profile(own)
    changed = {k: getattr(profile, k) for k in ("epochs", "threads") if getattr(profile, k) != getattr(
        get_profile(profile.name), k)}  # --epochs / --threads given on the command line still apply
    return mine.replace(**changed) if changed else mine


def train_pack(task_ref: str, models: list[str], profile, out: Path, device: str, concurrent: int = 1,
               log=print, budget_s: float | None = None) -> dict:
    """Train `models` on `device` (`concurrent` at a time) and write the pack into `out`. With
    `budget_s`, the whole run fits that many seconds: each model gets an equal slot of it
    (budget x concurrent / models) and starts no epoch that would overrun its slot."""
    import multiprocessing as mp

    out = Path(out)
    tmp = out / ".work"
    tmp.mkdir(parents=True, exist_ok=True)
    slot = budget_s * min(concurrent, len(models)) / len(models) if budget_s else None
    jobs = [{"task": task_ref, "model": m, "profile": profile_for(m, profile).to_dict(), "device": device,
             "tmp": str(tmp), "slot_s": slot} for m in models]
    t0 = time.monotonic()
    if concurrent > 1:
        with mp.get_context("spawn").Pool(concurrent) as pool:
            results = pool.map(_train_one, jobs, chunksize=1)
    else:
        results = [_train_one(j) for j in jobs]
    for r in results:
        log(f"{r['model']}: {r['epochs_run']} epochs in {r['wall_s']:.0f} s, best val Dice "
            f"{max(h['val_dice'] for h in r['history']):.4f}; {r['convergence']['reason']}")
    arrays = {}
    for m in models:
        with np.load(tmp / f"{m}.npz") as z:
            arrays.update({f"{m}/{s}": z[s] for s in SPLITS})
    np.savez_compressed(out / PREDICTIONS, **arrays)
    kept = _weights_that_fit(tmp, models, out)
    summary = {"format": 1, "task": task_ref, "device": device, "concurrent": concurrent, "budget_s": budget_s,
               "wall_s": time.monotonic() - t0, "python": platform.python_version(), "models": results,
               "weights": kept}
    (out / SUMMARY).write_text(json.dumps(summary, indent=1) + "\n")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    check_pack(out)
    return summary


def _weights_that_fit(tmp: Path, models: list[str], out: Path) -> list[str]:
    files = sorted((tmp / f"{m}.safetensors" for m in models), key=lambda p: p.stat().st_size)
    kept = []
    for f in files[:MAX_FILES - 2]:
        if f.stat().st_size <= MAX_FILE_BYTES:
            f.rename(out / f.name)
            kept.append(f.stem)
    return kept


def check_pack(folder: Path) -> None:
    files = [f for f in Path(folder).rglob("*") if f.is_file()]
    big = [f"{f.name} ({f.stat().st_size / 2 ** 20:.1f} MiB)" for f in files if f.stat().st_size > MAX_FILE_BYTES]
    if len(files) > MAX_FILES or big:
        raise PackTooLarge(f"{folder} holds {len(files)} files{'; too large: ' + ', '.join(big) if big else ''}; "
                           f"at most {MAX_FILES} files of <= {MAX_FILE_BYTES >> 20} MiB come back from the device")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sonobench.baselines.device", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    train = sub.add_parser("train", help="train, predict and pack (run this on the device)")
    train.add_argument("--task", default="sim-breast-lesion")
    train.add_argument("--models", required=True,
                       help="comma-separated architecture names, or 'required' for the nine reference models")
    train.add_argument("--profile", default="paper")
    train.add_argument("--epochs", type=int, default=None, help="override the profile's epoch cap (smoke runs)")
    train.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    train.add_argument("--concurrent", type=int, default=1, help="models trained at once on the one device")
    train.add_argument("--threads", type=int, default=None, help="CPU threads per model (default: the profile's)")
    train.add_argument("--budget-s", type=float, default=None,
                       help="wall-clock seconds for the whole run (the device's limit less start-up): each model "
                            "gets an equal slot and starts no epoch that would overrun it")
    train.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    from .recipes import get_profile

    profile = get_profile(args.profile)
    profile = profile.replace(epochs=args.epochs) if args.epochs else profile
    profile = profile.replace(threads=args.threads) if args.threads else profile
    models = list(REQUIRED_MODELS) if args.models == "required" else [
        m.strip() for m in args.models.split(",") if m.strip()]
    train_pack(args.task, models, profile, args.out, args.device, args.concurrent, budget_s=args.budget_s)


if __name__ == "__main__":
    main()
