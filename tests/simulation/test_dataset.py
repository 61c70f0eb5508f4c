"""Dataset generation: determinism, resume after a kill, splits, the index .npz."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonobench.simulation import dataset
from sonobench.simulation.sample import Backend, make_sample

from .conftest import needs_kwave, small_physics


def load_dataset(out: Path) -> dict:
    """Everything a dataset holds, minus wall-clock timings."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            rel = str(p.relative_to(out))
            if p.suffix == ".png":
                files[rel] = np.asarray(Image.open(p)).tobytes()
            elif p.suffix == ".json":
                d = json.loads(p.read_text())
                d.pop("seconds", None)
                files[rel] = d
            elif p.suffix == ".npz":
                files[rel] = dataset.read_index(p)
    return files


@needs_kwave
@pytest.mark.slow
def test_same_seed_same_sample_kwave():
    phys = small_physics(rows=64, cols=48)
    a = make_sample("breast-lesion", 7, 3, phys)
    b = make_sample("breast-lesion", 7, 3, phys)
    c = make_sample("breast-lesion", 8, 3, phys)
    assert np.array_equal(a.label, b.label)
    assert np.abs(a.image.astype(int) - b.image.astype(int)).max() <= 1
    assert a.meta["phantom"] == b.meta["phantom"]
    assert not np.array_equal(a.image, c.image)


def test_same_seed_same_sample_fast():
    phys = small_physics()
    a = make_sample("breast-lesion", 1, 0, phys, Backend.FAST)
    b = make_sample("breast-lesion", 1, 0, phys, Backend.FAST)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)


def test_index_npz_round_trips(tmp_path):
    splits = {0: "train", 1: "test", 2: "val", 3: "test"}
    path = dataset.write_index(tmp_path, "breast-lesion", splits)
    idx = dataset.read_index(path)
    assert idx["test"] == [("images/breast-lesion-00001.png", "labels/breast-lesion-00001.png", "breast-lesion-00001"),
                           ("images/breast-lesion-00003.png", "labels/breast-lesion-00003.png", "breast-lesion-00003")]
    assert [r[2] for r in idx["train"]] == ["breast-lesion-00000"]
    assert [r[2] for r in idx["val"]] == ["breast-lesion-00002"]
    with np.load(path, allow_pickle=False) as z:
        assert z["test"].shape == (2, 3)


def test_splits_are_frozen_by_id_and_stratified():
    phys = small_physics()
    small = dataset.assign_splits("breast-lesion", 5, 60, phys)
    large = dataset.assign_splits("breast-lesion", 5, 90, phys)
    assert all(large[i] == s for i, s in small.items())
    has = {i: dataset.phantom.draw_phantom("breast-lesion", dataset.sample_rngs(5, i)[0], phys)["has_lesion"]
           for i in range(90)}
    for split in ("train", "val", "test"):
        assert any(not has[i] for i, s in large.items() if s == split), f"no normal case in {split}"
    assert sum(s == "test" for s in large.values()) == 30


def test_resume_refuses_other_settings(tmp_path):
    phys = small_physics()
    dataset.generate("breast-lesion", 2, tmp_path, backend="fast", seed=1, phys=phys, progress=False)
    with pytest.raises(dataset.DatasetConfigMismatch, match="seed"):
        dataset.generate("breast-lesion", 2, tmp_path, backend="fast", seed=2, phys=phys, progress=False)


GENERATE = ("from sonobench.simulation.dataset import generate; from sonobench.simulation.physics import Physics; import sys; "
            "generate('breast-lesion', {n}, sys.argv[1], backend='fast', seed=4, workers={w}, progress=False, "
            "phys=Physics(rows=160, cols=160, out_shape=(160, 160)))")


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_dataset(tmp_path):
    n = 24
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    subprocess.run([sys.executable, "-c", GENERATE.format(n=n, w=1), str(whole)], check=True, timeout=300)
    proc = subprocess.Popen([sys.executable, "-c", GENERATE.format(n=n, w=2), str(resumed)], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((resumed / "meta").glob("*.json"))) < 5:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: the pool's workers too
    proc.wait()
    done = len(list((resumed / "meta").glob("*.json")))
    assert 0 < done < n, "the kill should land mid-run"
    assert not (resumed / dataset.INDEX_NAME).exists()
    subprocess.run([sys.executable, "-c", GENERATE.format(n=n, w=2), str(resumed)], check=True, timeout=300)
    assert load_dataset(resumed) == load_dataset(whole)


BENCHMARK_DATA = Path(__file__).resolve().parents[2] / "splits" / "sim-breast-lesion" / "v2" / "data"


@needs_kwave
@pytest.mark.slow
@pytest.mark.skipif(not (BENCHMARK_DATA / "run.json").exists(), reason="benchmark data not present")
def test_committed_benchmark_sample_regenerates_from_its_metadata():
    """The code in the repository reproduces the committed sim-breast-lesion images."""
    from sonobench.simulation.physics import Physics
    from sonobench.simulation.sample import NoiseLevel

    meta = json.loads((BENCHMARK_DATA / "meta" / "breast-lesion-00001.json").read_text())
    s = make_sample(meta["preset"], meta["seed"], meta["index"], Physics.from_json(meta["physics"]),
                    Backend(meta["backend"]), NoiseLevel(meta["noise_level"]))
    image = np.asarray(Image.open(BENCHMARK_DATA / meta["image"])).astype(int)
    assert np.array_equal(s.label, np.asarray(Image.open(BENCHMARK_DATA / meta["label"])))
    assert np.abs(s.image.astype(int) - image).max() <= 1


@needs_kwave
def test_a_sequential_run_leaves_the_callers_threads_alone(tmp_path):
    import torch

    from sonobench.simulation import arrays

    torch.set_num_threads(2)
    env_before = dict(os.environ)
    try:
        dataset.generate("breast-lesion", 1, tmp_path, backend="fast", seed=1, phys=small_physics(), progress=False)
        assert dict(os.environ) == env_before  # nothing leaks into the caller's environment
        assert torch.get_num_threads() == 2
        assert arrays._threads is None  # the simulation's own cap is back to "torch's default"
    finally:
        torch.set_num_threads(1)
