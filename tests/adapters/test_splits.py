"""The split rules: stratified held-out test, whole groups, balanced folds,
published splits with val carved from training, all reproducible."""
from __future__ import annotations

from collections import Counter

from sonobench.adapters.splits import Assignment, Item, computed, hold_out, k_folds, published, read_lists, write_lists


def _items(n_per_stratum: dict[str, int], group_size: int = 1) -> list[Item]:
    out = []
    for stratum, n in n_per_stratum.items():
        out += [Item(f"{stratum}/{i:03d}.png", stratum, f"{stratum}-g{i // group_size}") for i in range(n)]
    return out


def test_held_out_test_is_stratified_and_reproducible():
    items = _items({"benign": 60, "malignant": 30, "normal": 10})
    test = hold_out(items, 0.2, seed=42)
    assert Counter(k.split("/")[0] for k in test) == {"benign": 12, "malignant": 6, "normal": 2}
    assert hold_out(list(reversed(items)), 0.2, seed=42) == test          # order of discovery does not matter
    assert hold_out(items, 0.2, seed=43) != test


def test_groups_are_never_split():
    items = _items({"benign": 40, "malignant": 20}, group_size=4)
    split = computed(items, 0.2, 5, seed=1)
    by_group: dict[str, set] = {}
    for it in items:
        by_group.setdefault(it.group, set()).add((split[it.key].split, split[it.key].fold))
    assert all(len(v) == 1 for v in by_group.values())
    assert Counter(a.split for a in split.values())["test"] == 12


def test_folds_are_balanced_per_stratum_and_val_is_fold_0():
    items = _items({"benign": 50, "malignant": 25})
    folds = k_folds(items, 5, seed=3)
    for stratum, n in (("benign", 50), ("malignant", 25)):
        sizes = Counter(f for k, f in folds.items() if k.startswith(stratum))
        assert sorted(sizes) == [0, 1, 2, 3, 4] and max(sizes.values()) - min(sizes.values()) <= 1
        assert sum(sizes.values()) == n
    split = computed(items, 0.2, 5, seed=3)
    assert all((a.split == "val") == (a.fold == 0) for a in split.values() if a.split != "test")
    assert all(a.fold is None for a in split.values() if a.split == "test")


def test_published_split_without_val_gets_val_from_train_only():
    items = _items({"lesion": 30}, group_size=3)
    given = {it.key: Assignment("test" if i < 9 else "train") for i, it in enumerate(items)}
    out, carved = published(items, given, 5, seed=0)
    assert carved
    assert {k for k, a in out.items() if a.split == "test"} == {k for k, a in given.items() if a.split == "test"}
    assert any(a.split == "val" for a in out.values())
    with_val = {**given, items[10].key: Assignment("val")}
    assert published(items, with_val, 5, seed=0) == (with_val, False)


def test_a_single_training_group_gets_no_val():
    items = [Item(f"s1/{i}.png", "bone", "specimen 1") for i in range(4)]
    out, _ = published(items, {it.key: Assignment("train") for it in items}, 5, seed=0)
    assert {a.split for a in out.values()} == {"train"}


def test_split_lists_round_trip(tmp_path):
    split = computed(_items({"benign": 10, "malignant": 5}), 0.2, 3, seed=0)
    write_lists(tmp_path / "busi", split, "header")
    assert read_lists(tmp_path / "busi") == split
    assert read_lists(tmp_path / "absent") is None
