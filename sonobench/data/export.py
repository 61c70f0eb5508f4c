"""`sonobench export`: a task version's splits in the formats researchers train with.

Formats (`ExportFormat`):

- ``nnunet``: nnU-Net v2's raw dataset folder ``<out>/DatasetNNN_<Name>/`` with
  ``imagesTr/<case>_0000.png`` + ``labelsTr/<case>.png`` (train and val together),
  ``imagesTs/<case>_0000.png`` (+ ``labelsTs/`` when the test labels are public),
  ``dataset.json`` (``channel_names``, ``labels``, ``numTraining``, ``file_ending``) and the
  frozen split as fold 0 of ``splits_final.json`` (copy it into nnU-Net's preprocessed folder
  of the dataset so that fold 0 trains on exactly the benchmark's train split).
- ``npz``: one MedSegBench-style ``<out>/<task>_v<N>.npz`` with ``train_images``,
  ``train_label``, ``val_images``, ... (uint8 N x H x W), plus ``<split>_case_ids``,
  ``classes`` and ``<split>_region`` where the task has a scan region.
- ``folders``: ``<out>/<split>/images/<case>.png`` and ``<out>/<split>/masks/<case>.png``
  (class-index PNGs), plus ``regions/`` where the task has a scan region. With
  ``--images-only`` and the test split, each acquisition-shift set of the task goes out too, as
  ``<out>/shifts/<shift task id>/images/<case>.png`` (images only, always): what a prediction
  submission (`sonobench.evaluator.predictions`) predicts.

Every export also writes ``sonobench_export.json``: the task reference, its manifest digest, the
classes, spacing and the case ids per split, so a result trained on it can cite what it used.

The data comes through the public data API (`sonobench.data`), so it is verified against the
frozen manifest first, and private test labels cannot leave: asking for them raises
`PrivateLabels`; by default the test split of such a task is exported as images only. Nothing
is written until every requested split has verified, and the export appears under its final
name only when complete (it is written to a ``.partial`` folder and renamed).
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
from PIL import Image

from sonobench import data
from sonobench.evaluator.tasks import SPLITS, Task
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.registry import parse_choice

MANIFEST_NAME = "sonobench_export.json"
NNUNET_CHANNEL = "ultrasound"  # any name but "CT" gives nnU-Net's per-image z-score normalisation
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]*$")


class ExportFormat(str, Enum):
    NNUNET = "nnunet"
    NPZ = "npz"
    FOLDERS = "folders"

    @classmethod
    def parse(cls, value: str) -> "ExportFormat":
        return parse_choice(cls, value, "export format", InvalidExport)


class InvalidExport(SonoBenchError):
    """An export request that cannot be carried out as asked."""


@dataclass
class ExportReport:
    path: Path                     # the folder or file written
    format: str
    task: str
    counts: dict = field(default_factory=dict)      # split -> number of cases
    labelled: dict = field(default_factory=dict)    # split -> whether its labels were written
    notes: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    task: Task
    ref: str
    splits: list[str]
    labelled: dict
    size: tuple[int, int] | None
    notes: list[str]
    shift_sets: list[Task] = field(default_factory=list)  # their test images go out with an images-only test


def plan(source, splits=None, images_only: bool = False, size=None) -> _Plan:
    """Which splits go out with which labels; verifies each split's files (once) before any write.

    `splits=None` means every split that has cases (train, val, test); the test split of a task
    whose test labels are private then goes out as images only. Asking for it by name without
    `images_only` raises `PrivateLabels`."""
    task = data.resolve(source)
    ref = source if isinstance(source, str) and source.startswith(data.PRETRAIN_PREFIX) else task.ref
    wanted = list(dict.fromkeys(splits)) if splits else [s for s in SPLITS if _has_split(task, s)]
    if not wanted:
        raise InvalidExport(f"{ref} has no cases to export")
    labelled, notes = {}, []
    for split in wanted:
        private = split == "test" and task.test_labels_private and not images_only
        if private and splits:
            data.check_labels_public(task, split)  # asked for by name: refused, never quietly dropped
        if private:
            notes.append(f"the test labels of {ref} are private: its test split is exported as images only")
        labelled[split] = not (images_only or private)
        if not data.split_cases(task, split):
            raise InvalidExport(f"{ref} has no '{split}' cases. Splits with cases: "
                                f"{', '.join(s for s in SPLITS if _has_split(task, s))}.")
        data.prepare(task, split, images_only=not labelled[split])
    return _Plan(task, ref, wanted, labelled, data.target_size(task, size), notes,
                 _shift_sets(task, wanted, images_only))


def _shift_sets(task: Task, splits: list[str], images_only: bool) -> list[Task]:
    """The shift and sweep sets whose test images an images-only export of the test split hands
    out, verified."""
    if not images_only or "test" not in splits or data.is_pretraining_set(task):
        return []
    from sonobench.evaluator.task_sets import shift_sets, sweep_sets

    sets = [*shift_sets(task), *sweep_sets(task)]
    for child in sets:
        data.prepare(child, "test", images_only=True)
    return sets


def _has_split(task: Task, split: str) -> bool:
    return bool(task.split(split)) and not (split == "test" and data.is_pretraining_set(task))


def export(source, fmt: str | ExportFormat, out, *, splits=None, images_only: bool = False, size=None,
           dataset_id: int = 501) -> ExportReport:
    """Write `source`'s splits to `out` in `fmt` (see the module docstring); returns what was written."""
    fmt = ExportFormat.parse(fmt) if not isinstance(fmt, ExportFormat) else fmt
    if fmt is ExportFormat.NNUNET and not 1 <= int(dataset_id) <= 999:
        raise InvalidExport(f"Expected --dataset-id to be an integer from 1 to 999, but got {dataset_id!r}")
    p = plan(source, splits, images_only, size)
    if fmt is ExportFormat.NNUNET and any(s != "test" and not p.labelled[s] for s in p.splits):
        raise InvalidExport("nnU-Net trains on labelled cases: --images-only exports only the test split in the "
                            "nnunet format (add --split test), or use --format folders for unlabelled images.")
    _check_case_ids(p)
    out = Path(out).resolve()  # "." has no name to put a ".partial" sibling beside
    target = {ExportFormat.NNUNET: lambda: out / nnunet_name(p.task, dataset_id),
              ExportFormat.NPZ: lambda: out / f"{p.task.id}_v{p.task.version}.npz",
              ExportFormat.FOLDERS: lambda: out}[fmt]()
    _refuse_existing(target)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
    partial.parent.mkdir(parents=True, exist_ok=True)
    writer = {ExportFormat.NNUNET: _write_nnunet, ExportFormat.NPZ: _write_npz,
              ExportFormat.FOLDERS: _write_folders}[fmt]
    try:
        writer(p, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
        raise
    if target.is_dir():  # an empty folder the user made for us
        target.rmdir()
    partial.rename(target)
    counts = {s: len(p.task.split(s)) for s in p.splits}
    labelled = dict(p.labelled)
    if fmt is ExportFormat.FOLDERS:  # only the folders format carries the shift sets' images
        for child in p.shift_sets:
            counts[f"shifts/{child.id}"], labelled[f"shifts/{child.id}"] = len(child.split("test")), False
    return ExportReport(target, fmt.value, p.ref, counts, labelled, list(p.notes))


def nnunet_name(task: Task, dataset_id: int) -> str:
    """`DatasetNNN_<Name>`: the task id in CamelCase with its version (nnU-Net names hold no '-')."""
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", task.id) if part)
    return f"Dataset{int(dataset_id):03d}_{name}V{task.version}"


def _check_case_ids(p: _Plan) -> None:
    bad = [c.id for s in p.splits for c in p.task.split(s) if not _SAFE_ID.match(c.id)]
    if bad:
        raise InvalidExport(f"{p.ref}: case ids that are not safe file names ({', '.join(map(repr, bad[:5]))}); "
                            "an export names files by case id, so these cases cannot be exported.")


def _refuse_existing(target: Path) -> None:
    if target.is_file() or (target.is_dir() and any(target.iterdir())):
        raise InvalidExport(f"{target} already exists and is not empty; export into a new folder (or delete it first)")


def _png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array).astype(np.uint8), mode="L").save(path, optimize=False)


def _rows(p: _Plan, split: str):
    for case in p.task.split(split):
        yield data.read_case(p.task, case, size=p.size, labels=p.labelled[split])


def _manifest(p: _Plan, fmt: str, extra: dict | None = None) -> dict:
    return {"format": 1, "export_format": fmt, "task": p.ref, "digest": p.task.digest,
            "classes": list(p.task.classes), "spacing_mm": _spacing(p), "size": list(p.size) if p.size else "native",
            "splits": {s: {"case_ids": [c.id for c in p.task.split(s)], "labels": p.labelled[s]} for s in p.splits},
            "notes": p.notes, **(extra or {})}


def _spacing(p: _Plan):
    if p.task.spacing_mm is None:
        return None
    shape = p.size or p.task.native_size
    return list(data.scaled_spacing(p.task, p.size, shape)) if shape else list(p.task.spacing_mm)


def _write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n")


def _write_nnunet(p: _Plan, root: Path) -> None:
    root.mkdir(parents=True)
    train_like = [s for s in p.splits if s != "test"]
    for split in p.splits:
        images, labels = ("imagesTs", "labelsTs") if split == "test" else ("imagesTr", "labelsTr")
        for row in _rows(p, split):
            _png(row["image"], root / images / f"{row['case_id']}_0000.png")
            if "label" in row:
                _png(row["label"], root / labels / f"{row['case_id']}.png")
    if train_like:
        _write_json(nnunet_dataset_json(p, sum(len(p.task.split(s)) for s in train_like)), root / "dataset.json")
    if "train" in p.splits and "val" in p.splits:
        fold0 = {"train": [c.id for c in p.task.split("train")], "val": [c.id for c in p.task.split("val")]}
        _write_json([fold0], root / "splits_final.json")
    _write_json(_manifest(p, "nnunet"), root / MANIFEST_NAME)


def nnunet_dataset_json(p: _Plan, num_training: int) -> dict:
    spacing = _spacing(p)
    return {
        "channel_names": {"0": NNUNET_CHANNEL},
        "labels": {name: i for i, name in enumerate(p.task.classes)},
        "numTraining": num_training,
        "file_ending": ".png",
        "name": p.task.id,
        "description": (f"SonoBench task {p.ref} (manifest digest {p.task.digest}); train and val cases in "
                        "imagesTr, the frozen split is fold 0 of splits_final.json"
                        + (f"; pixel spacing {spacing[0]:g} x {spacing[1]:g} mm" if spacing else "")),
        "reference": f"SonoBench {p.ref}",
        "release": str(p.task.version),
    }


def _write_npz(p: _Plan, path: Path) -> None:
    arrays = {"classes": np.array(p.task.classes)}
    for split in p.splits:
        loaded = data.assemble(p.task, split, size=p.size, images_only=not p.labelled[split], ref=p.ref)
        arrays[f"{split}_images"] = loaded.images
        arrays[f"{split}_case_ids"] = np.array(loaded.case_ids)
        if loaded.labels is not None:
            arrays[f"{split}_label"] = loaded.labels
        if loaded.regions is not None:
            arrays[f"{split}_region"] = loaded.regions
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    _write_json(_manifest(p, "npz", {"file": path.name.removesuffix(".partial")}),
                path.parent / f"{path.name.removesuffix('.partial').removesuffix('.npz')}.{MANIFEST_NAME}")


def _write_folders(p: _Plan, root: Path) -> None:
    root.mkdir(parents=True)
    for split in p.splits:
        for row in _rows(p, split):
            _png(row["image"], root / split / "images" / f"{row['case_id']}.png")
            if "label" in row:
                _png(row["label"], root / split / "masks" / f"{row['case_id']}.png")
            if "region" in row:
                _png(row["region"].astype(np.uint8) * 255, root / split / "regions" / f"{row['case_id']}.png")
    for child in p.shift_sets:
        for case in child.split("test"):
            row = data.read_case(child, case, size=p.size, labels=False)
            _png(row["image"], root / "shifts" / child.id / "images" / f"{case.id}.png")
    shifts = {c.id: {"task": c.ref, "condition": c.condition.get("name"), "case_ids": [k.id for k in c.split("test")]}
              for c in p.shift_sets}
    _write_json(_manifest(p, "folders", {"shift_sets": shifts} if shifts else None), root / MANIFEST_NAME)
