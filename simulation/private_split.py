"""Hidden (private) test splits: a task's own generator and physics, a secret seed.

The operator keeps a secret key (>= 128 random bits, hex, in a file only they can read;
`new_seed_file` writes one with `secrets`). Case i of the private split of task T@v is the
sample the task's preset and recorded physics give for the per-case seed

    HMAC-SHA256(key, "sonobench-private-split|T@v|i")  (its first 128 bits),

never `seed + i`: knowing some cases (or the public split's seed) tells nothing about the
others, and a new task version gets other phantoms from the same key. The split is frozen
like a committed task (task.json + manifest.json with SHA-256s) in the operator's data dir
(`<data dir>/private/<task id>-private/v<version>/`), never in git, as a test-only task
`<task id>-private@<version>` whose task.json names the version it belongs to
(`private_of`). The evaluator scores it like any task; who may see what is decided by
`sonobench.evaluator.private` (the store / app side).

Generation is resumable like `sonobench simulate`: each finished case is skipped.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

from sonobench.evaluator import private
from sonobench.evaluator.tasks import Task, write_task
from sonobench.kernel.errors import SonoBenchError

from .dataset import _json_bytes, _png_bytes, _round, config_differences, one_thread_here, write_sample
from .physics import Physics
from .sample import Backend, draw_noise_level, make_sample

MIN_KEY_BYTES = 16          # 128 bits
NEW_KEY_BYTES = 32          # what new_seed_file writes: 256 bits
MIN_CASES = 300             # below this a private board cannot tell typical differences apart
DOMAIN = "sonobench-private-split"


class PrivateSplitError(SonoBenchError):
    """A private split cannot be made or read as asked."""


def new_seed_file(path) -> Path:
    """Write a fresh 256-bit key (hex) to `path`, readable by its owner only; never overwrites."""
    path = Path(path)
    if path.exists():
        raise PrivateSplitError(f"{path} exists; a seed file is never overwritten (its splits would become "
                                "unreproducible). Choose another path or delete it yourself.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(NEW_KEY_BYTES) + "\n")
    return path


def read_seed_file(path) -> bytes:
    """The key in a seed file (hex); refuses short keys and files others can read."""
    path = Path(path)
    if not path.is_file():
        raise PrivateSplitError(f"Seed file {path} not found. Create one with `sonobench private new-seed {path}`.")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PrivateSplitError(f"Seed file {path} is readable by others; run `chmod 600 {path}`.")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise PrivateSplitError(f"Seed file {path} must hold one hex string (as `sonobench private new-seed` "
                                "writes).") from None
    if len(key) < MIN_KEY_BYTES:
        raise PrivateSplitError(f"Seed file {path} holds {len(key) * 8} bits; a private split needs at least "
                                f"{MIN_KEY_BYTES * 8} random bits. Create one with `sonobench private new-seed`.")
    return key


def case_seed(key: bytes, task_ref: str, index: int) -> int:
    """The 128-bit seed of case `index`: a keyed hash of (task version, index)."""
    msg = f"{DOMAIN}|{task_ref}|{int(index)}".encode()
    return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:16], "big")


def key_fingerprint(key: bytes) -> str:
    """Names the key in run.json (so a resumed run cannot mix keys) without revealing it."""
    return hmac.new(key, f"{DOMAIN}|fingerprint".encode(), hashlib.sha256).hexdigest()[:16]


def private_folder(task: Task, root=None) -> Path:
    return private.folder_for(task.id, task.version, root)


def case_id(index: int) -> str:
    return f"private-{index:05d}"


def _generator_of(task: Task) -> tuple[str, Backend, list[str], Physics]:
    src = task.source or {}
    missing = [k for k in ("preset", "backend", "physics") if k not in src]
    if task.parent or missing:
        why = "it is a shift set" if task.parent else f"its task.json 'source' lacks {', '.join(missing)}"
        raise PrivateSplitError(f"{task.ref} cannot get a private split: {why}. Only a task made by "
                                "`sonobench simulate` can be regenerated with a secret seed.")
    return src["preset"], Backend(src["backend"]), list(src.get("noise_levels") or ["low"]), \
        Physics.from_json(src["physics"])


def _check_run(out: Path, config: dict) -> None:
    diff = config_differences(out, config)
    if diff is None:
        (out / "run.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    elif diff:
        raise PrivateSplitError(f"{out} holds a private split made with other settings ({', '.join(diff)} "
                                "differ): finish it with those, or delete the folder to start anew.")


def render_case(task: Task, key: bytes, index: int) -> dict[str, bytes]:
    """The files of private case `index` (image, label, meta), by path relative to data/."""
    preset, backend, levels, phys = _generator_of(task)
    seed = case_seed(key, task.ref, index)
    noise = draw_noise_level(seed, 0, levels)
    s = make_sample(preset, seed, 0, phys, backend, noise)
    cid = case_id(index)
    meta = dict(s.meta, sample_id=cid, split="test", private_index=index)
    return {f"images/{cid}.png": _png_bytes(s.image), f"labels/{cid}.png": _png_bytes(s.label),
            f"meta/{cid}.json": _json_bytes(_round(meta))}


def generate(task: Task, key: bytes, n: int, out=None, force_small: bool = False, progress=None) -> Path:
    """Render (or finish) the n cases of `task`'s private split into its folder; returns the folder.
    Freezing is separate (`freeze`), so an interrupted run resumes where it stopped."""
    if n < MIN_CASES and not force_small:
        raise PrivateSplitError(f"--n {n} is below {MIN_CASES}: a private board that small cannot tell "
                                "typical differences between models apart. Use --n 300 or more.")
    preset, backend, levels, phys = _generator_of(task)
    folder = Path(out) if out else private_folder(task)
    data = folder / "data"
    _check_run(data, {"task": task.ref, "public_digest": task.digest, "n": int(n), "preset": preset,
                      "backend": backend.value, "noise_levels": levels, "physics": _round(phys.to_json()),
                      "key": key_fingerprint(key)})
    for d in ("images", "labels", "meta"):
        (data / d).mkdir(parents=True, exist_ok=True)
    with one_thread_here():
        for i in range(n):
            if (data / "meta" / f"{case_id(i)}.json").exists():
                continue
            write_sample(data, render_case(task, key, i))
            if progress:
                progress(i)
    return folder


def freeze(task: Task, folder=None) -> Task:
    """Freeze the finished private split of `task` (task.json + manifest.json with every file's
    SHA-256, as committed tasks are) and return it as a Task."""
    folder = Path(folder) if folder else private_folder(task)
    data = folder / "data"
    run_path = data / "run.json"
    if not run_path.is_file():
        raise PrivateSplitError(f"No private split of {task.ref} in {folder}; make one with "
                                f"`sonobench private make {task.ref} --n 300 --seed-file FILE`.")
    run = json.loads(run_path.read_text())
    if run["task"] != task.ref:
        raise PrivateSplitError(f"{folder} holds the private split of {run['task']}, not {task.ref}.")
    cases = []
    for i in range(run["n"]):
        cid = case_id(i)
        meta_path = data / "meta" / f"{cid}.json"
        if not meta_path.is_file():
            raise PrivateSplitError(f"Case {cid} is not finished; rerun the same `sonobench private make` command.")
        meta = json.loads(meta_path.read_text())
        cases.append({"id": cid, "split": "test", "image": f"images/{cid}.png", "label": f"labels/{cid}.png",
                      "meta": {"has_lesion": meta["phantom"].get("has_lesion"),
                               "n_lesions": len(meta["phantom"].get("lesions") or []),
                               "noise_level": meta["noise_level"]}})
    return write_task(folder, _spec(task, run), cases, data_root="data")


def _spec(task: Task, run: dict) -> dict:
    spec = json.loads((task.folder / "task.json").read_text())
    for key in ("data_root", "archive", "parent", "condition"):
        spec.pop(key, None)
    spec.update(id=private.private_id(task.id), version=task.version, test_labels_private=True,
                title=f"{task.title} - private test split ({run['n']} cases, operator only)",
                description=(f"Hidden test split of {task.ref}: {run['n']} new phantoms from the same generator "
                             f"and physics (preset {run['preset']}, {run['backend']} backend), per-case seeds "
                             "from a secret key. Its board gives the official ranks; its cases are never shown."))
    spec["source"] = {**{k: v for k, v in (task.source or {}).items() if k != "seed"},
                      "generator": "sonobench private make", "private_of": task.ref,
                      "public_digest": run["public_digest"], "key": run["key"], "n": run["n"]}
    return spec
