"""Resumable, parallel dataset generation.

Layout of an output folder::

    run.json            the generation settings (a resumed run must match them)
    images/<id>.png     uint8 B-mode
    labels/<id>.png     uint8 class indices
    meta/<id>.json      every parameter of the sample (written last: marks it done)
    index.npz           train / val / test: rows of (scan_path, label_path, sample_id)

Each file is written to a temporary name and renamed, so a killed run leaves no
half-written sample; the next run skips finished samples and redoes the rest.
Samples depend only on (seed, index), so order and worker count do not matter.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from sonobench.evaluator.scaleout import Executor, import_ray, parse_executor
from sonobench.kernel.errors import SonoBenchError

from . import arrays as sim_arrays
from . import phantom
from .physics import Physics
from .sample import Backend, NoiseLevel, draw_noise_level, make_sample, sample_rngs

SPLIT_PATTERN = ("test", "train", "train", "val", "test", "train", "train", "test", "train", "val",
                 "train", "test", "train", "train", "test")  # per stratum, period 15: 5 test, 2 val, 8 train
INDEX_NAME = "index.npz"


class DatasetConfigMismatch(SonoBenchError):
    """The output folder holds samples generated with different settings."""


def sample_id(preset: str, index: int) -> str:
    return f"{preset}-{index:05d}"


def _round(obj, nd=5):
    if isinstance(obj, float):
        return float(f"{obj:.{nd}g}")
    if isinstance(obj, dict):
        return {k: _round(v, nd) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, nd) for v in obj]
    return obj


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _json_bytes(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n").encode()


def _save_json(path: Path, obj: dict) -> None:
    _atomic_write(path, lambda p: p.write_bytes(_json_bytes(obj)))


def run_config(preset, n, backend, noise_levels, seed, phys: Physics) -> dict:
    return {"preset": preset, "backend": Backend(backend).value, "seed": int(seed),
            "noise_levels": [NoiseLevel(l).value for l in noise_levels], "physics": _round(phys.to_json())}


def config_differences(out: Path, config: dict) -> list[str] | None:
    """The settings in which `out/run.json` (a resumable generation's record) differs from
    `config`, or None when there is no record yet (then `out` is created for the caller to write it)."""
    path = out / "run.json"
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        return None
    old = json.loads(path.read_text())
    return sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))


def _check_config(out: Path, config: dict) -> None:
    diff = config_differences(out, config)
    if diff is None:
        _save_json(out / "run.json", config)
    elif diff:
        raise DatasetConfigMismatch(
            f"{out} was generated with different settings ({', '.join(diff)} differ). "
            "Use a new --out folder, or rerun with the settings in its run.json.")


def assign_splits(preset: str, seed: int, n: int, phys: Physics) -> dict[int, str]:
    """Frozen split per sample index, stratified by normal / lesion.

    Only the (cheap) phantom geometry is drawn. Within each stratum the k-th index
    in increasing order gets SPLIT_PATTERN[k % 15], so growing n never moves an
    existing sample to another split. A preset with `specimens` is split by specimen
    instead (the k-th specimen gets SPLIT_PATTERN[k % 15], all its cases with it), as
    UltraBones100k splits by specimen: no anatomy is seen in training and in test."""
    if phantom.specimen_of(preset, 0) is not None:
        return {i: SPLIT_PATTERN[phantom.specimen_of(preset, i) % len(SPLIT_PATTERN)] for i in range(n)}
    counters, split = {False: 0, True: 0}, {}
    for i in range(n):
        has = phantom.draw_phantom(preset, sample_rngs(seed, i)[0], phys)["has_lesion"]
        split[i] = SPLIT_PATTERN[counters[has] % len(SPLIT_PATTERN)]
        counters[has] += 1
    return split


def is_done(out: Path, sid: str) -> bool:
    return all((out / d / f"{sid}{ext}").exists() for d, ext in (("images", ".png"), ("labels", ".png"), ("meta", ".json")))


def render(job: tuple) -> tuple[str, dict[str, bytes]]:
    """Simulate one sample; returns its id and its files' bytes by path (nothing is written)."""
    out, preset, seed, index, phys_json, backend, noise, split = job
    phys = Physics.from_json(phys_json)
    sid = sample_id(preset, index)
    s = visible_sample(preset, seed, index, phys, Backend(backend), NoiseLevel(noise))
    meta = dict(s.meta, sample_id=sid, split=split, image=f"images/{sid}.png", label=f"labels/{sid}.png")
    lobules = meta["phantom"].get("lobules")
    if lobules:  # ~90 centres: 1.5 kB a case of the 45 MB budget; (seed, index) redraws them
        meta["phantom"] = dict(meta["phantom"], lobules={k: v for k, v in lobules.items() if k != "centres_mm"}
                               | {"n_centres": len(lobules["centres_mm"])})
    return sid, {f"images/{sid}.png": _png_bytes(s.image), f"labels/{sid}.png": _png_bytes(s.label),
                 f"meta/{sid}.json": _json_bytes(_round(meta))}


def visible_sample(preset, seed, index, phys: Physics, backend: Backend, noise: NoiseLevel):
    """`make_sample`, and for image formation 3 each lesion's contrast and CNR on the displayed
    image in the metadata (``lesion_visibility``). A case with a lesion below
    `visibility.VISIBLE_CNR` is simulated again with the lesions' echogenicity pushed away from
    their host's (`anatomy2.visibility_boost`), up to `visibility.MAX_BOOST` times; the figures
    of the last try are recorded, whatever they are."""
    if phys.image_formation < 3:
        return make_sample(preset, seed, index, phys, backend, noise)
    from . import anatomy2, visibility

    for level in range(visibility.MAX_BOOST + 1):
        with anatomy2.visibility_boost(level):
            s = make_sample(preset, seed, index, phys, backend, noise)
        figures = visibility.measure(s.image, s.label, s.meta["phantom"], phys)
        if visibility.all_visible(figures):
            break
    s.meta["lesion_visibility"] = figures
    return s


def write_sample(out: Path, files: dict[str, bytes]) -> None:
    """Write a rendered sample, its meta last (the meta file marks the sample done)."""
    for rel in sorted(files, key=lambda r: r.startswith("meta/")):
        _atomic_write(Path(out) / rel, lambda p, data=files[rel]: p.write_bytes(data))


def _work(job: tuple) -> str:
    sid, files = render(job)
    write_sample(Path(job[0]), files)
    return sid


def _init_worker() -> None:
    # One thread per worker: the processes are the parallelism.
    sim_arrays.use_threads(1)


@contextlib.contextmanager
def one_thread_here():
    """A sequential run computes like a pool worker (one thread, the same numbers), then gives
    the caller's process back its own thread setting (its environment is never touched)."""
    import sys

    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch else None
    previous = sim_arrays.use_threads(1)
    try:
        yield
    finally:
        sim_arrays.use_threads(previous)
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
def _render_on_node(job: tuple) -> tuple[str, dict[str, bytes]]:
    """A Ray task: render on whichever node, return the bytes; the driver writes the files."""
    _init_worker()
    return render(job)


def generate(preset: str, n: int, out, backend: str = "kwave", noise_levels=("low", "medium", "high"),
             workers: int = 1, seed: int = 0, phys: Physics | None = None, progress: bool = True,
             executor: str = "local", address: str | None = None) -> dict:
    """Generate (or finish) a dataset; returns {'done': ..., 'generated': ..., 'index': path}.
    executor 'ray': one Ray task per sample (`workers` unused: the cluster's CPUs are the
    parallelism); the nodes return bytes and this process writes them, so the files are the same."""
    from .presets import get_preset

    get_preset(preset)
    on_ray = parse_executor(executor) is Executor.RAY
    if on_ray:
        import_ray()  # before anything is written
    phys = phys or Physics()
    out = Path(out)
    levels = [NoiseLevel(l) for l in noise_levels]
    _check_config(out, run_config(preset, n, backend, levels, seed, phys))
    for d in ("images", "labels", "meta"):
        (out / d).mkdir(parents=True, exist_ok=True)
        for stale in (out / d).glob(".*.tmp-*"):
            stale.unlink()
    splits = assign_splits(preset, seed, n, phys)
    pending = [i for i in range(n) if not is_done(out, sample_id(preset, i))]
    jobs = [(str(out), preset, seed, i, phys.to_json(), Backend(backend).value,
             draw_noise_level(seed, i, levels).value, splits[i]) for i in pending]
    if on_ray:
        _run_on_ray(jobs, out, total=n, progress=progress, address=address)
    else:
        _run_jobs(jobs, workers, total=n, progress=progress)
    index = write_index(out, preset, splits)
    return {"done": n, "generated": len(jobs), "index": str(index)}


def _run_jobs(jobs, workers, total, progress):
    from tqdm import tqdm

    bar = tqdm(total=total, initial=total - len(jobs), unit="img", disable=not progress, desc="simulate")
    if workers <= 1 or len(jobs) <= 1:
        with one_thread_here():
            for job in jobs:
                _work(job)
                bar.update(1)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for _ in pool.imap_unordered(_work, jobs):
                bar.update(1)
    bar.close()


def _run_on_ray(jobs, out: Path, total, progress, address):
    from tqdm import tqdm

    from sonobench.evaluator.scaleout import connect

    ray = connect(address)
    remote = ray.remote(num_cpus=1)(_render_on_node)  # Ray retries a task whose worker died: rendering is pure
    bar = tqdm(total=total, initial=total - len(jobs), unit="img", disable=not progress, desc="simulate (ray)")
    pending = [remote.remote(job) for job in jobs]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        _, files = ray.get(ready[0])
        write_sample(out, files)
        bar.update(1)
    bar.close()


def write_index(out: Path, preset: str, splits: dict[int, str]) -> Path:
    """The seed's index format: one (k, 3) string array per split."""
    rows = {s: [] for s in ("train", "val", "test")}
    for i, split in sorted(splits.items()):
        sid = sample_id(preset, i)
        rows[split].append((f"images/{sid}.png", f"labels/{sid}.png", sid))
    arrays = {s: np.array(r, dtype=str).reshape(-1, 3) for s, r in rows.items()}
    path = Path(out) / INDEX_NAME

    def write(p):
        with open(p, "wb") as f:
            np.savez(f, **arrays)

    _atomic_write(path, write)
    return path


def read_index(path) -> dict[str, list[tuple[str, str, str]]]:
    with np.load(path, allow_pickle=False) as z:
        return {s: [tuple(map(str, row)) for row in z[s]] for s in ("train", "val", "test")}
