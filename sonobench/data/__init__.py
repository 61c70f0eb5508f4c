"""The public data API: a task version's splits as NumPy arrays or a PyTorch `Dataset`.

    from sonobench.data import load_split


    from sonobench.data import TaskDataset
    train = load_split("sim-breast-lesion@2", "train")        # SplitArrays
    train.images.shape, train.labels.shape                      # (160, 256, 256) uint8 each
    train.case_ids[:2], train.classes, train.spacing_mm

    ds = TaskDataset("sim-breast-lesion", "train", size="input", transform=None)
    sample = ds[0]   # {"image": float32 C x H x W in [0, 1], "label": int64 H x W, "case_id": str}

A source is a task reference (`TASK` = its latest version, `TASK@N`, a corruption variant
`TASK~name-sN`), a loaded `Task`, or a pretraining set as `pretrain:NAME` (train and val only).
Before anything is returned, the split's files are checked against the frozen manifest once,
by the evaluator's own `verify_task` (a changed file stops the load and names the case).

Test labels leave only where the task publishes them: a task with `test_labels_private`
hands out its test images (`images_only=True`) and refuses its labels (`PrivateLabels`); an
operator's hidden test split (`source.private_of`) hands out nothing.
An archived task version stops with `TaskArchived`, which names the restore command.
An unknown task stops with `TaskNotFound`, which lists the tasks and suggests the nearest.

torch is optional: only `TaskDataset` imports it, and says what to install when it is missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from sonobench.evaluator.tasks import SPLITS, Case, Task, get_task, load_task_folder, verify_task
from sonobench.kernel import imageio
from sonobench.kernel.errors import SonoBenchError, UnknownName
from sonobench.kernel.paths import user_data_dir
from sonobench.kernel.registry import did_you_mean

PRETRAIN_PREFIX = "pretrain:"
PRETRAIN_SPLITS = ("train", "val")  # a pretraining set has no test split
# Where `sonobench pretrain-set make` keeps its sets (a task-format folder each); the evaluator
# only reads them, so it names the folder rather than importing the simulator that writes it.
PRETRAIN_FOLDER = "pretrain-sets"


class PrivateLabels(SonoBenchError):
    """The labels asked for are private to the operator (a hidden test split)."""


class RaggedSplit(SonoBenchError):
    """The split's images differ in size, so they cannot be stacked at their native size."""


class UnknownPretrainingSet(UnknownName):
    """No pretraining set of that name in the user's data dir."""


class TorchMissing(SonoBenchError):
    """`TaskDataset` needs PyTorch, which is not installed."""


@dataclass(frozen=True)
class SplitArrays:
    """One split of one task version, verified against its manifest, in memory.

    `images`/`labels`/`regions` are stacked N x H x W arrays: uint8 grey images as the model
    sees them (before its own [0, 1] scaling), uint8 class indices (index 0 = background), and
    the boolean scan regions (None when the task declares none: the whole image is scored).
    `labels` is None when only images were asked for. `meta` is each case's manifest metadata;
    `clusters` the value of the task's cluster key per case (None without a key).
    """

    task: str                      # id@version (or pretrain:NAME)
    digest: str                    # the frozen manifest's digest: cite it with results
    split: str
    case_ids: list[str]
    images: np.ndarray
    labels: np.ndarray | None
    classes: tuple[str, ...]
    spacing_mm: tuple[float, float] | None
    size: tuple[int, int]          # H x W of every array (native, or what `size=` asked for)
    regions: np.ndarray | None = None
    meta: list[dict] = field(default_factory=list)
    cluster_key: str | None = None
    clusters: list | None = None

    def __len__(self) -> int:
        return len(self.case_ids)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def inputs(self, channels: int = 1) -> np.ndarray:
        """float32 N x C x H x W in [0, 1]: the evaluator's model input for these images."""
        x = (self.images.astype(np.float32) / 255.0)[:, None]
        return np.repeat(x, channels, axis=1) if channels > 1 else x


def resolve(source: str | Task) -> Task:
    """A loaded task (or pretraining set) from a reference; errors name the valid choices."""
    if isinstance(source, Task):
        return source
    if not isinstance(source, str) or not source:
        raise TypeError(f"Expected a task reference such as 'sim-breast-lesion@2' or a Task, but got {source!r}")
    if source.startswith(PRETRAIN_PREFIX):
        return pretraining_set(source[len(PRETRAIN_PREFIX):])
    return get_task(source)


def pretraining_set(name: str) -> Task:
    """The frozen manifest of pretraining set `name` (made by `sonobench pretrain-set make`)."""
    root = user_data_dir() / PRETRAIN_FOLDER
    folder = root / name
    if "/" in name or name.startswith(".") or not (folder / "manifest.json").is_file():
        have = sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []
        raise UnknownPretrainingSet(
            f"Unknown pretraining set '{name}'. Valid choices: {', '.join(have) or '(none)'}.{did_you_mean(name, have)}"
            f" Make one with `sonobench pretrain-set make {name or 'NAME'} --preset breast-lesion --n 2000`.")
    return load_task_folder(folder)


def is_pretraining_set(task: Task) -> bool:
    return task.id.startswith("pretrain-") and task.folder.parent.name == PRETRAIN_FOLDER


def clusters_of(task: Task, cases: list[Case]) -> tuple[str | None, list[str] | None]:
    """(the task's cluster key, each case's cluster) where cases share a phantom or specimen,
    as task.json's "clusters" declares (the `Task.clusters` key the paired ranking resamples by);
    (None, None) for a task without one."""
    clusters = getattr(task, "clusters", None)
    if clusters is None:
        return None, None
    labels = clusters.of(cases)
    return clusters.key, [labels[c.id] for c in cases]


def split_cases(task: Task, split: str) -> list[Case]:
    """The cases of `split`, refusing splits a pretraining set does not have."""
    if split not in SPLITS:
        raise UnknownName(f"Unknown split '{split}'. Valid choices: {', '.join(SPLITS)}.{did_you_mean(split, SPLITS)}")
    if split not in PRETRAIN_SPLITS and is_pretraining_set(task):
        raise UnknownName(f"A pretraining set has no '{split}' split. Valid choices: {', '.join(PRETRAIN_SPLITS)}.")
    return task.split(split)


def is_hidden_split(task: Task) -> bool:
    """An operator's hidden test split (task.json `source.private_of`, made by `sonobench private
    make` with a secret seed): the official ranks are scored on it, so nothing of it is handed out."""
    return isinstance(task.source, dict) and bool(task.source.get("private_of"))


def check_labels_public(task: Task, split: str) -> None:
    if split == "test" and task.test_labels_private:
        raise PrivateLabels(
            f"The test labels of {task.ref} are private (a hidden split kept by the operator); they are never "
            "handed out. Load the test images with images_only=True (CLI: `sonobench export "
            f"{task.ref} --split test --images-only`) and submit a model to be scored on them.")


def prepare(source: str | Task, split: str, *, images_only: bool = False, labels_root=None) -> tuple[Task, list[Case]]:
    """Resolve, refuse private labels, and verify the split's files against the manifest, once."""
    task = resolve(source)
    if is_hidden_split(task):
        raise PrivateLabels(f"{task.ref} is the operator's hidden test split of {task.source['private_of']}: neither "
                            f"its images nor its labels are handed out. Load {task.source['private_of']} instead.")
    cases = split_cases(task, split)
    if not images_only:
        check_labels_public(task, split)
    verify_task(task, splits=(split,), labels_root=labels_root, labels=not images_only)
    return task, cases


def target_size(task: Task, size) -> tuple[int, int] | None:
    """None for native size, else the (H, W) that `size` ("input" or a pair) names."""
    if size is None or size == "native":
        return None
    if size == "input":
        return tuple(task.input_size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
        return (size[0], size[1])
    raise ValueError(f"Expected `size` to be None, 'native', 'input' or a pair of positive ints (H, W), "
                     f"but got {size!r}")


def _resized(array: np.ndarray, size: tuple[int, int] | None, resample) -> np.ndarray:
    if size is None or array.shape == tuple(size):
        return array
    return np.asarray(Image.fromarray(array).resize((size[1], size[0]), resample))


def read_case(task: Task, case: Case, *, size=None, labels: bool = True, labels_root=None) -> dict:
    """One case's image (uint8, as the model sees it), label and scan region, at `size`
    (None = native). Images resize bilinearly (as the evaluator's `to_input`), masks nearest."""
    image = task.load_image(case)
    region = None
    if task.scan_region is not None:
        raw = image if task.corruption is None else imageio.load_gray(task.image_path(case))
        region = task.region_for(case, raw).astype(np.uint8)
    out = {"case_id": case.id, "image": _resized(image, size, Image.BILINEAR)}
    if labels:
        out["label"] = _resized(imageio.load_label(task.label_path(case, labels_root)), size, Image.NEAREST)
    if region is not None:
        out["region"] = _resized(region, size, Image.NEAREST).astype(bool)
    return out


def _stack(task: Task, split: str, rows: list[dict], key: str) -> np.ndarray:
    shapes = sorted({r[key].shape for r in rows})
    if len(shapes) > 1:
        raise RaggedSplit(f"The {split} images of {task.ref} come in {len(shapes)} sizes "
                          f"({shapes[0]} ... {shapes[-1]}), "
                          "so they cannot be stacked at their native size: pass size='input' (the task's model input "
                          f"size, {task.input_size[0]}x{task.input_size[1]}) or size=(H, W).")
    return np.stack([r[key] for r in rows])


def load_split(source: str | Task, split: str, *, size=None, images_only: bool = False,
               labels_root=None) -> SplitArrays:
    """Load one split as arrays (see the module docstring). `size`: None for native size,
    "input" for the task's model input size, or (H, W)."""
    task, cases = prepare(source, split, images_only=images_only, labels_root=labels_root)
    ref = source if isinstance(source, str) and source.startswith(PRETRAIN_PREFIX) else task.ref
    return assemble(task, split, size=size, images_only=images_only, labels_root=labels_root, ref=ref)


def assemble(task: Task, split: str, *, size=None, images_only: bool = False, labels_root=None,
             ref: str | None = None) -> SplitArrays:
    """The arrays of a split that `prepare` has already verified (`load_split` = both)."""
    cases = task.split(split)
    if not cases:
        raise UnknownName(f"{task.ref} has no '{split}' cases. Splits with cases: "
                          f"{', '.join(s for s in SPLITS if task.split(s))}.")
    want = target_size(task, size)
    rows = [read_case(task, c, size=want, labels=not images_only, labels_root=labels_root) for c in cases]
    images = _stack(task, split, rows, "image")
    key, clusters = clusters_of(task, cases)
    return SplitArrays(
        task=ref or task.ref, digest=task.digest, split=split, case_ids=[c.id for c in cases], images=images,
        labels=None if images_only else _stack(task, split, rows, "label"),
        classes=task.classes, spacing_mm=scaled_spacing(task, want, images.shape[1:]),
        size=tuple(images.shape[1:]),
        regions=_stack(task, split, rows, "region") if task.scan_region is not None else None,
        meta=[dict(c.meta) for c in cases], cluster_key=key,
        clusters=clusters,
    )


def scaled_spacing(task: Task, want, shape) -> tuple[float, float] | None:
    """The pixel spacing of the returned arrays: the task's, scaled when they were resized."""
    if task.spacing_mm is None or want is None or task.native_size is None:
        return task.spacing_mm
    (h0, w0), (h, w) = task.native_size, shape
    return (task.spacing_mm[0] * h0 / h, task.spacing_mm[1] * w0 / w)


def _torch():
    try:
        import torch
    except ImportError:
        raise TorchMissing("TaskDataset needs PyTorch: `pip install torch` (or install SonoBench with its "
                           "training extra, `pip install -e '.[train]'`); load_split works without it.") from None
    return torch


class TaskDataset(Sequence):
    """A split as a map-style `torch.utils.data.Dataset`-compatible sequence, read lazily.

    Each item is a dict: "image" float32 C x H x W in [0, 1] (C = the task's input channels,
    exactly the evaluator's model input when size="input"), "label" int64 H x W class indices
    (absent with images_only), "region" bool H x W when the task has a scan region, and
    "case_id". `transform`, if given, receives that dict and returns the item. Files are
    verified against the manifest once, when the dataset is made.
    """

    def __init__(self, source: str | Task, split: str, *, transform: Callable[[dict], object] | None = None,
                 size="input", images_only: bool = False, labels_root=None):
        self._torch = _torch()
        self.task, self.cases = prepare(source, split, images_only=images_only, labels_root=labels_root)
        self.split, self.transform, self.images_only, self.labels_root = split, transform, images_only, labels_root
        self.size = target_size(self.task, size)
        self.channels = self.task.input_channels

    @property
    def case_ids(self) -> list[str]:
        return [c.id for c in self.cases]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.task.classes

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index):
        if isinstance(index, slice):
            raise TypeError("TaskDataset takes one integer index at a time (use a DataLoader to batch)")
        torch = self._torch
        row = read_case(self.task, self.cases[index], size=self.size, labels=not self.images_only,
                        labels_root=self.labels_root)
        x = torch.from_numpy(row["image"].astype(np.float32) / 255.0)[None]
        item = {"case_id": row["case_id"], "image": x.repeat(self.channels, 1, 1) if self.channels > 1 else x}
        if "label" in row:
            item["label"] = torch.from_numpy(row["label"].astype(np.int64))
        if "region" in row:
            item["region"] = torch.from_numpy(row["region"])
        return self.transform(item) if self.transform is not None else item
