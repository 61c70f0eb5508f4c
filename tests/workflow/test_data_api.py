"""The public data API (evaluator.data): a split as arrays and as a torch Dataset, verified
against the manifest once, with clear refusals (unknown task, private labels, archived
version, ragged sizes, missing torch)."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from sonobench import data
from sonobench.evaluator.task_archive import TaskArchived
from sonobench.evaluator.tasks import load_task_folder, write_task
from sonobench.kernel import imageio
from sonobench.kernel.errors import ManifestMismatch, TaskNotFound, UnknownName


def _variant(task, folder, **spec_changes):
    """A copy of `task` frozen in `folder` with `spec_changes` in its task.json."""
    shutil.copytree(task.data_root, folder / "data")
    spec = {**json.loads((task.folder / "task.json").read_text()), **spec_changes}
    spec.pop("data_root", None)
    cases = [{"id": c.id, "split": c.split, "image": c.image, "label": c.label, "meta": c.meta} for c in task.cases]
    return write_task(folder, spec, cases, data_root="data")


@pytest.fixture
def tasks_root(toy_task):
    return toy_task.folder.parent.parent


def test_a_split_loads_as_the_files_say_with_its_metadata(toy_task):
    arrays = data.load_split("toy-lesion", "train")
    cases = toy_task.split("train")
    assert arrays.task == "toy-lesion@1" and arrays.digest == toy_task.digest and arrays.split == "train"
    assert arrays.case_ids == [c.id for c in cases] and len(arrays) == len(cases) == 12
    assert arrays.images.shape == arrays.labels.shape == (12, 64, 64) and arrays.size == (64, 64)
    assert arrays.images.dtype == arrays.labels.dtype == np.uint8
    for i, case in enumerate(cases):
        np.testing.assert_array_equal(arrays.images[i], imageio.load_gray(toy_task.image_path(case)))
        np.testing.assert_array_equal(arrays.labels[i], imageio.load_label(toy_task.label_path(case)))
    assert arrays.classes == ("background", "lesion") and arrays.num_classes == 2
    assert arrays.spacing_mm == (0.2, 0.2)
    assert arrays.meta == [c.meta for c in cases] and arrays.regions is None
    assert arrays.cluster_key is None and arrays.clusters is None
    assert set(np.unique(arrays.labels)) == {0, 1}


def test_input_size_arrays_are_exactly_what_the_evaluator_feeds_a_model(tmp_path, toy_task, tasks_root):
    small = _variant(toy_task, tasks_root / "toy-small" / "v1", id="toy-small", input_size=[40, 48])
    arrays = data.load_split("toy-small", "val", size="input")
    assert arrays.size == (40, 48) and arrays.labels.shape == (len(arrays), 40, 48)
    expected = np.concatenate([imageio.to_input(small.load_image(c), (40, 48), 1) for c in small.split("val")])
    np.testing.assert_array_equal(arrays.inputs(), expected)
    assert arrays.spacing_mm == pytest.approx((0.2 * 64 / 40, 0.2 * 64 / 48))  # the resized pixels are larger
    assert set(np.unique(arrays.labels)) <= {0, 1}  # nearest-neighbour: no invented classes
    with pytest.raises(ValueError, match="size"):
        data.load_split("toy-small", "val", size=(40,))


def test_files_are_verified_once_and_a_changed_file_names_its_case(toy_task, monkeypatch):
    calls = []
    real = data.verify_task
    monkeypatch.setattr(data, "verify_task", lambda *a, **k: calls.append(k) or real(*a, **k))
    data.load_split("toy-lesion", "val")
    assert calls == [{"splits": ("val",), "labels_root": None, "labels": True}]
    case = toy_task.split("val")[0]
    path = toy_task.label_path(case)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ManifestMismatch, match=case.id):
        data.load_split("toy-lesion", "val")
    with pytest.raises(ManifestMismatch, match=case.id):
        data.TaskDataset("toy-lesion", "val")
    assert len(data.load_split("toy-lesion", "val", images_only=True)) == len(toy_task.split("val"))


def test_public_test_labels_load_and_private_ones_are_refused(toy_task, tasks_root):
    assert data.load_split("toy-lesion", "test").labels.shape[0] == len(toy_task.split("test"))
    _variant(toy_task, tasks_root / "toy-private" / "v1", id="toy-private", test_labels_private=True)
    with pytest.raises(data.PrivateLabels, match="--split test --images-only"):
        data.load_split("toy-private", "test")
    with pytest.raises(data.PrivateLabels):
        data.TaskDataset("toy-private", "test")
    images = data.load_split("toy-private", "test", images_only=True)
    assert images.labels is None and images.images.shape == (len(toy_task.split("test")), 64, 64)
    item = data.TaskDataset("toy-private", "test", images_only=True)[0]
    assert "label" not in item and tuple(item["image"].shape) == (1, 64, 64)
    assert data.load_split("toy-private", "train").labels is not None  # only the test labels are private


def test_an_operators_hidden_split_hands_out_nothing(toy_task, tasks_root):
    from sonobench.data.export import export

    _variant(toy_task, tasks_root / "toy-lesion-private" / "v1", id="toy-lesion-private",
             source={"private_of": "toy-lesion@1", "generator": "toy"})
    for split in ("test", "train"):
        with pytest.raises(data.PrivateLabels, match="hidden test split of toy-lesion@1"):
            data.load_split("toy-lesion-private", split, images_only=True)
    with pytest.raises(data.PrivateLabels, match="hidden"):
        export("toy-lesion-private", "folders", tasks_root / "out", images_only=True)
    assert not (tasks_root / "out").exists()


def test_unknown_names_and_archived_versions_say_what_to_do(toy_task):
    with pytest.raises(TaskNotFound, match="Did you mean 'toy-lesion'"):
        data.load_split("toy-lesoin", "train")
    with pytest.raises(UnknownName, match="Did you mean 'train'"):
        data.load_split("toy-lesion", "trian")
    with pytest.raises(TaskArchived, match="sonobench tasks restore sim-breast-lesion@1"):
        data.load_split("sim-breast-lesion@1", "train")  # the repository archives version 1's files
    with pytest.raises(TypeError, match="task reference"):
        data.load_split(None, "train")


def test_a_declared_cluster_key_comes_with_each_case(toy_task, tasks_root):
    from sonobench.evaluator.tasks import Task

    if "clusters" not in Task.__dataclass_fields__:
        pytest.skip("task.json 'clusters' (the task's cluster key) is read by the ranking branch's Task")
    _variant(toy_task, tasks_root / "toy-clustered" / "v1", id="toy-clustered", clusters={"key": "normal"})
    arrays = data.load_split("toy-clustered", "val")
    assert arrays.cluster_key == "normal"
    assert arrays.clusters == [str(c.meta["normal"]) for c in toy_task.split("val")]
    assert set(arrays.clusters) == {"True", "False"}


def test_ragged_native_sizes_ask_for_a_size(toy_task, tasks_root):
    from PIL import Image

    task = _variant(toy_task, tasks_root / "toy-ragged" / "v1", id="toy-ragged")
    case = task.split("train")[0]
    for path in (task.image_path(case), task.label_path(case)):
        with Image.open(path) as im:
            im.resize((80, 70), Image.NEAREST).save(path)
    cases = [{"id": c.id, "split": c.split, "image": c.image, "label": c.label} for c in task.cases]
    spec = json.loads((task.folder / "task.json").read_text()) | {"version": 2}
    write_task(tasks_root / "toy-ragged" / "v2", spec, cases, data_root=str(task.data_root))
    with pytest.raises(data.RaggedSplit, match="size='input'"):
        data.load_split("toy-ragged@2", "train")
    arrays = data.load_split("toy-ragged@2", "train", size="input")
    assert arrays.images.shape == (len(cases) // 2, 64, 64) and arrays.labels[0].shape == (64, 64)


def test_the_dataset_yields_the_evaluators_inputs_and_applies_the_transform(toy_task):
    import torch

    arrays = data.load_split("toy-lesion", "train", size="input")
    ds = data.TaskDataset("toy-lesion", "train")
    assert len(ds) == len(arrays) and ds.case_ids == arrays.case_ids and ds.classes == arrays.classes
    item = ds[3]
    assert item["case_id"] == arrays.case_ids[3]
    assert item["image"].dtype == torch.float32 and item["label"].dtype == torch.int64
    np.testing.assert_array_equal(item["image"].numpy(), arrays.inputs()[3])
    np.testing.assert_array_equal(item["label"].numpy(), arrays.labels[3])
    flipped = data.TaskDataset("toy-lesion", "train", transform=lambda s: {**s, "image": s["image"].flip(-1)})
    np.testing.assert_array_equal(flipped[3]["image"].numpy(), arrays.inputs()[3][..., ::-1])
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert tuple(batch["image"].shape) == (5, 1, 64, 64) and tuple(batch["label"].shape) == (5, 64, 64)


def test_a_three_channel_task_repeats_the_grey_image(toy_task, tasks_root):
    _variant(toy_task, tasks_root / "toy-rgb" / "v1", id="toy-rgb", input_channels=3)
    image = data.TaskDataset("toy-rgb", "val")[0]["image"]
    assert tuple(image.shape) == (3, 64, 64) and bool((image[0] == image[2]).all())


def test_a_scan_region_comes_with_the_split(toy_task, tasks_root):
    task = _variant(toy_task, tasks_root / "toy-region" / "v1", id="toy-region",
                    scan_region={"method": "convex-hull", "threshold": 100})
    arrays = data.load_split("toy-region", "val")
    assert arrays.regions.dtype == bool and arrays.regions.shape == arrays.images.shape
    for i, case in enumerate(task.split("val")):
        np.testing.assert_array_equal(arrays.regions[i], task.region_for(case, arrays.images[i]))
    assert 0 < arrays.regions.mean() < 1
    assert "region" in data.TaskDataset("toy-region", "val")[0]


def test_a_pretraining_set_loads_the_same_way():
    from sonobench.simulation.pretrain import make_set

    made = make_set("tiny", "breast-lesion", 6, backend="fast", seed=0)
    arrays = data.load_split("pretrain:tiny", "train")
    assert arrays.task == "pretrain:tiny" and arrays.digest == made.digest
    assert arrays.case_ids == [c.id for c in made.task.split("train")] and arrays.labels.shape == arrays.images.shape
    assert len(data.TaskDataset("pretrain:tiny", "val", size=None)) == len(made.task.split("val"))
    with pytest.raises(UnknownName, match="no 'test' split"):
        data.load_split("pretrain:tiny", "test")
    with pytest.raises(data.UnknownPretrainingSet, match="Did you mean 'tiny'"):
        data.load_split("pretrain:tiny2", "train")
    assert load_task_folder(made.folder).digest == made.digest


def test_without_torch_the_dataset_says_what_to_install(toy_task, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(data.TorchMissing, match="pip install torch"):
        data.TaskDataset("toy-lesion", "train")
    assert len(data.load_split("toy-lesion", "train")) == 12  # the arrays need no torch
