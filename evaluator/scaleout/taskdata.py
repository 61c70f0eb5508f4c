"""Task data for nodes that share no filesystem with the head.

The driver packs the files a job reads (the images and labels of its splits, plus the validation
images that the app's previews are predicted on) into a `TaskBundle`, puts it once into
Ray's object store, and hands each job a reference. A node keeps a cache per manifest
digest under its own data dir (`<SONOBENCH_HOME>/node-cache/<digest>/`): a job first
checks the cached files against the manifest's SHA-256s and fetches the bundle only when
one is missing or differs, then scores on a copy of the task that points at the cache
(the evaluation verifies the split against the manifest again before running, as on one
machine). The cache lives outside everything the sandbox binds, so models never see it.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from sonobench.kernel.errors import ManifestMismatch

from ..tasks import Case, Task, sha256_file, user_data_dir

DATA, LABELS = "data", "labels"  # test labels get their own folder: they may live outside the task


@dataclass(frozen=True)
class Needed:
    relpath: str   # under the node's cache folder for this digest
    sha256: str
    case_id: str


@dataclass(frozen=True)
class TaskBundle:
    digest: str
    files: dict[str, bytes]   # relpath -> content


def _splits(splits: str | tuple[str, ...]) -> tuple[str, ...]:
    return (splits,) if isinstance(splits, str) else tuple(splits)


def _cases(task: Task, splits) -> tuple[list[Case], list[Case]]:
    """(cases whose image and label are read, cases whose image only is read): scoring the test
    split also predicts the validation images that the app previews."""
    splits = _splits(splits)
    full = [c for c in task.cases if c.split in splits]
    extra = [c for c in task.split("val") if "test" in splits and "val" not in splits]
    return full, extra


def needed_files(task: Task, splits: str | tuple[str, ...]) -> list[Needed]:
    """Every file a job on `splits` reads, with the manifest's SHA-256."""
    full, extra = _cases(task, splits)
    out = [Needed(f"{DATA}/{c.image}", c.image_sha256, c.id) for c in full + extra]
    return out + [Needed(_label_relpath(c), c.label_sha256, c.id) for c in full]


def _label_relpath(case: Case) -> str:
    return f"{LABELS if case.split == 'test' else DATA}/{case.label}"


def make_bundle(task: Task, splits: str | tuple[str, ...], labels_root=None) -> TaskBundle:
    """Read (on the driver) the files of `needed_files`; test labels come from `labels_root`
    when the operator keeps them outside the task."""
    full, extra = _cases(task, splits)
    sources = {f"{DATA}/{c.image}": task.image_path(c) for c in full + extra}
    sources.update({_label_relpath(c): task.label_path(c, labels_root) for c in full})
    return TaskBundle(task.digest, {rel: path.read_bytes() for rel, path in sources.items()})


def node_cache_dir(digest: str) -> Path:
    return user_data_dir() / "node-cache" / digest


def _stale(root: Path, needed: list[Needed]) -> list[Needed]:
    return [n for n in needed if not (root / n.relpath).is_file() or sha256_file(root / n.relpath) != n.sha256]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # two jobs filling the same cache write the same bytes; the last rename wins


def materialize(task: Task, splits: str | tuple[str, ...], fetch) -> tuple[Task, Path]:
    """Make the files of `splits` present and verified in this node's cache; `fetch()` returns the
    TaskBundle and is called only when something is missing. Returns the task re-rooted at the
    cache and the labels root to score with. Raises ManifestMismatch if the bundle itself is wrong."""
    root = node_cache_dir(task.digest)
    needed = needed_files(task, splits)
    stale = _stale(root, needed)
    if stale:
        bundle = fetch()
        if bundle.digest != task.digest:
            raise ManifestMismatch(f"the data sent for {task.ref} is of manifest {bundle.digest[:12]}…, "
                                   f"not {task.digest[:12]}…; restart the driver")
        for n in stale:
            if n.relpath not in bundle.files:
                raise ManifestMismatch(f"the data sent for {task.ref} lacks {n.relpath}", cases=[n.case_id])
            _write_atomic(root / n.relpath, bundle.files[n.relpath])
        still = _stale(root, needed)
        if still:
            raise ManifestMismatch(
                f"Task {task.ref}: {len(still)} file(s) sent to this node do not match the frozen manifest "
                f"(e.g. {still[0].relpath}); the head's copy differs, run `sonobench tasks verify TASK` there.",
                cases=sorted({n.case_id for n in still}))
    return dataclasses.replace(task, folder=root, data_root=root / DATA), root / LABELS
