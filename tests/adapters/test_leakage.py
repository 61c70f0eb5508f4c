"""The leakage guard: near duplicates across splits are refused (pair named), or
kept in one split when the split is made here."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sonobench.adapters import NearDuplicateLeak, leakage
from sonobench.adapters.leakage import DEFAULT_MAX_DISTANCE, close_pairs, phash
from sonobench.cli import cli
from sonobench.evaluator.tasks import user_data_dir

from .replicas import near_copy, save, texture


def _distance(a: np.ndarray, b: np.ndarray) -> int:
    return bin(phash(a) ^ phash(b)).count("1")


def test_phash_separates_near_copies_from_different_scans():
    base = texture(1, (64, 56))
    assert _distance(base, near_copy(base)) <= DEFAULT_MAX_DISTANCE
    assert _distance(base, np.asarray(Image.fromarray(base).resize((50, 60)))) <= DEFAULT_MAX_DISTANCE  # rescaled
    far = [_distance(texture(1, (64, 56)), texture(s, (64, 56))) for s in range(2, 30)]
    assert min(far) > 2 * DEFAULT_MAX_DISTANCE
    assert phash(base) == phash(base.copy())


def test_close_pairs_matches_brute_force(monkeypatch):
    monkeypatch.setattr(leakage, "BLOCK", 5000)                  # several blocks of rows
    rng = np.random.default_rng(0)
    hashes = [int(x) for x in rng.integers(0, 2**63, 600, dtype=np.uint64)]
    hashes += [h ^ 0b101 for h in hashes[:5]]                    # 5 planted pairs at distance 2
    got = set(close_pairs(hashes, 4))
    want = {(i, j, bin(hashes[i] ^ hashes[j]).count("1")) for i in range(len(hashes))
            for j in range(i + 1, len(hashes)) if bin(hashes[i] ^ hashes[j]).count("1") <= 4}
    assert got == want and len(got) >= 5


def _plant_tn3k_duplicate(ds):
    """A test image that is a near copy of a training image (US30K's published lists keep them apart)."""
    train = np.asarray(Image.open(ds / "img" / "trainval0003.png"))
    save(ds / "img" / "test0001.png", near_copy(train))
    save(ds / "label" / "test0001.png", np.asarray(Image.open(ds / "label" / "trainval0003.png")))


def test_cross_split_near_duplicate_is_refused_with_the_pair_named(replica, run_import):
    ds = replica("tn3k")
    _plant_tn3k_duplicate(ds)
    with pytest.raises(NearDuplicateLeak) as err:
        run_import("tn3k", ds)
    msg = str(err.value)
    assert "img/trainval0003.png" in msg and "img/test0001.png" in msg and "Hamming distance" in msg
    assert "--allow-duplicates" in msg
    assert len(err.value.pairs) == 1 and {err.value.pairs[0].split_a, err.value.pairs[0].split_b} >= {"test"}
    assert not (user_data_dir() / "tasks" / "tn3k").exists()


def test_cli_refuses_and_names_the_pair(replica, splits_dir):
    ds = replica("tn3k")
    _plant_tn3k_duplicate(ds)
    r = CliRunner().invoke(cli, ["datasets", "import", "tn3k", str(ds), "--splits-dir", str(splits_dir)])
    assert r.exit_code == 1 and r.output.startswith("Error: 1 near-duplicate image pair(s)")
    assert "img/trainval0003.png" in r.output and "img/test0001.png" in r.output


def test_allow_duplicates_imports_and_records_the_pair(replica, run_import):
    ds = replica("tn3k")
    _plant_tn3k_duplicate(ds)
    report = run_import("tn3k", ds, allow_duplicates=True)
    assert report.duplicates.n_across == 1
    assert any("img/test0001.png" in line for line in report.lines())
    spec = json.loads((report.task.folder / "task.json").read_text())
    pair = spec["source"]["near_duplicates"]["cross_split"][0]
    assert {pair["a"], pair["b"]} == {"img/trainval0003.png", "img/test0001.png"} and pair["distance"] <= DEFAULT_MAX_DISTANCE


def test_computed_split_keeps_near_duplicates_together(replica, run_import):
    root = replica("busi")
    for i in (1, 2, 3):                                          # BUSI-like duplicates, also across classes
        img = np.asarray(Image.open(root / "benign" / f"benign ({i}).png"))
        target = root / "malignant" if i == 3 else root / "benign"
        name = f"{target.name} ({20 + i})"
        save(target / f"{name}.png", near_copy(img, seed=i))
        save(target / f"{name}_mask.png", np.asarray(Image.open(root / "benign" / f"benign ({i})_mask.png")))
    report = run_import("busi", root)
    split = {c.meta["source"]: c.split for c in report.task.cases}
    assert split["benign/benign (1).png"] == split["benign/benign (21).png"]
    assert split["benign/benign (3).png"] == split["malignant/malignant (23).png"]
    assert report.duplicates.n_across == 0 and report.duplicates.n_within == 3
