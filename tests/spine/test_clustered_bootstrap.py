"""Clustered uncertainty: where cases share a phantom or specimen, bootstrap CIs and the rank
stability resample whole clusters. The clustered bootstrap is reproducible by seed, equals the
plain bootstrap with one case per cluster, and does not narrow when every case is duplicated
inside its cluster; resampled paired statistics computed from case counts equal the Wilcoxon
test run on the expanded resample; the committed tasks declare their clusters in task.json
without touching a frozen manifest."""
import json

import numpy as np
import pytest

from sonobench.evaluator import tasks as tasks_mod
from sonobench.evaluator.metrics.aggregate import aggregate, summarize
from sonobench.evaluator.ranking.paired import wilcoxon_normal
from sonobench.evaluator.ranking.resample import case_counts, signed_rank_z
from sonobench.evaluator.ranking.stability import rank_stability
from sonobench.kernel.errors import InvalidTaskSpec


def _clustered(seed=0, n_clusters=12, size=6):
    rng = np.random.default_rng(seed)
    centre = rng.random(n_clusters)  # cases of one cluster move together
    values = np.clip(np.repeat(centre, size) + rng.normal(0, 0.03, n_clusters * size), 0, 1)
    return values, [f"s{k // size}" for k in range(n_clusters * size)]


def test_clustered_bootstrap_is_reproducible_by_seed():
    values, clusters = _clustered()
    a = aggregate(values, seed=3, clusters=clusters)
    assert a == aggregate(values, seed=3, clusters=clusters)
    assert a != aggregate(values, seed=4, clusters=clusters)
    assert a["ci_low"] < a["mean"] < a["ci_high"] and a["n"] == len(values)


def test_singleton_clusters_equal_the_plain_bootstrap():
    values = np.random.default_rng(1).random(57)
    plain = aggregate(values, seed=5)
    single = aggregate(values, seed=5, clusters=[f"c{k}" for k in range(57)])
    assert single["ci_low"] == pytest.approx(plain["ci_low"], abs=1e-15)
    assert single["ci_high"] == pytest.approx(plain["ci_high"], abs=1e-15)


def test_duplicating_every_case_inside_its_cluster_does_not_narrow_the_ci():
    values, clusters = _clustered(2)
    once = aggregate(values, clusters=clusters)
    twice = aggregate(np.repeat(values, 2), clusters=np.repeat(clusters, 2).tolist())
    assert twice["ci_high"] - twice["ci_low"] == pytest.approx(once["ci_high"] - once["ci_low"], rel=1e-12)
    # the plain case bootstrap believes the copies are new evidence: its interval shrinks by ~1/sqrt(2)
    plain_once, plain_twice = aggregate(values), aggregate(np.repeat(values, 2))
    assert plain_twice["ci_high"] - plain_twice["ci_low"] < 0.8 * (plain_once["ci_high"] - plain_once["ci_low"])
    # and, the cases of a cluster being alike, it is narrower than the clustered one
    assert plain_once["ci_high"] - plain_once["ci_low"] < 0.7 * (once["ci_high"] - once["ci_low"])


def test_summarize_passes_the_clusters_to_every_interval():
    values, clusters = _clustered(3)
    per_case = [{1: {"dice": v, "iou": v, "hd95": 1 - v, "nsd": v, "assd": 1 - v, "surface_precision": v,
                     "surface_recall": v, "surface_f1": v, "tp": 1, "fp": 0, "fn": 0}} for v in values]
    from sonobench.evaluator.metrics.aggregate import SUMMARIZED

    for case in per_case:  # whatever per-case metrics the registry has
        case[1].update({m: case[1].get(m, values[0]) for m in SUMMARIZED})
    out = summarize(per_case, ["background", "lesion"], clusters=clusters)
    assert out["macro"]["dice"]["ci_low"] == aggregate(values, clusters=clusters)["ci_low"]
    assert out["per_class"]["lesion"]["dice"]["ci_high"] == aggregate(values, clusters=clusters)["ci_high"]


def test_case_counts_draw_whole_clusters_and_match_the_plain_draws():
    clusters = [k // 4 for k in range(20)]
    w = case_counts(20, 200, 7, clusters)
    assert np.all(w.reshape(200, 5, 4) == w.reshape(200, 5, 4)[:, :, :1])  # a cluster's cases together
    assert np.all(w.reshape(200, 5, 4)[:, :, 0].sum(axis=1) == 5)           # as many clusters as there are
    idx = np.random.default_rng(7).integers(0, 20, (200, 20))
    plain = np.stack([np.bincount(row, minlength=20) for row in idx])
    assert np.array_equal(case_counts(20, 200, 7), plain)


@pytest.mark.parametrize("seed", range(8))
def test_counts_give_the_wilcoxon_statistic_of_the_expanded_resample(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    d = np.round(rng.normal(0.02, 0.2, (6, n)), 1 if seed % 2 else 3)  # tied |d| on odd seeds
    d[0] = 0.0
    d[1, ::2] = 0.0
    clusters = None if seed % 3 else [k // 3 for k in range(n)]
    counts = case_counts(n, 30, seed, clusters)
    z, defined = signed_rank_z(d, counts)
    from scipy.special import ndtr

    for r in range(30):
        expanded = d[:, np.repeat(np.arange(n), counts[r].astype(int))]
        greater, _ = wilcoxon_normal(expanded)
        assert np.allclose(np.where(defined[:, r], ndtr(-z[:, r]), 1.0), greater, rtol=1e-9, atol=1e-15)


def test_rank_stability_resamples_clusters():
    rng = np.random.default_rng(4)
    base, clusters = _clustered(4)
    cluster = np.array([int(c[1:]) for c in clusters])
    # each model's advantage varies by specimen: the 6 cases of a specimen are one piece of evidence
    values = np.stack([base + 0.004 * k + rng.normal(0, 0.01, 12)[cluster] + rng.normal(0, 0.002, 72)
                       for k in range(4)])
    full = np.array([4, 3, 2, 1])
    a = rank_stability(values, full, resamples=300, seed=1, clusters=clusters)
    assert np.array_equal(a.ranks, rank_stability(values, full, resamples=300, seed=1, clusters=clusters).ranks)
    single = rank_stability(values, full, resamples=300, seed=1, clusters=list(range(72)))
    plain = rank_stability(values, full, resamples=300, seed=1)
    assert np.array_equal(single.ranks, plain.ranks)
    assert (a.rank_high - a.rank_low).sum() > (plain.rank_high - plain.rank_low).sum()
    assert a.kendall_tau < plain.kendall_tau


def test_committed_tasks_declare_their_clusters_and_keep_their_digests():
    bone = tasks_mod.get_task("sim-bone-surface@1")
    recorded = json.loads((bone.folder / "manifest.json").read_text())["digest"]
    assert bone.digest == recorded  # the declaration lives in task.json, outside the manifest digest
    labels = bone.case_clusters()
    assert set(labels) == {c.id for c in bone.cases} and len(set(labels.values())) == 24
    for specimen in set(labels.values()):  # specimens of 10, each wholly in one split
        members = [c for c in bone.cases if labels[c.id] == specimen]
        assert len(members) == 10 and len({c.split for c in members}) == 1
    shift = tasks_mod.get_task("sim-breast-lesion-shift-high-noise@2")
    assert shift.case_clusters() == {c.id: c.meta["source_case"] for c in shift.cases}
    assert tasks_mod.get_task("sim-neck-thyroid@1").case_clusters() is None


def test_a_declaration_that_misses_cases_is_refused(tmp_path):
    bone = tasks_mod.get_task("sim-bone-surface@1")
    spec = json.loads((bone.folder / "task.json").read_text())
    spec["clusters"]["cases"].pop(bone.cases[0].id)
    folder = tmp_path / "v1"
    folder.mkdir()
    (folder / "task.json").write_text(json.dumps(spec))
    (folder / "manifest.json").write_text((bone.folder / "manifest.json").read_text())
    with pytest.raises(InvalidTaskSpec, match="no cluster"):
        tasks_mod.load_task_folder(folder)
    spec["clusters"] = {"key": "specimen"}  # the committed manifest's case meta has no specimen field
    (folder / "task.json").write_text(json.dumps(spec))
    with pytest.raises(InvalidTaskSpec, match="meta.specimen"):
        tasks_mod.load_task_folder(folder)


def test_a_result_of_the_bone_task_gets_intervals_by_specimen():
    from sonobench.evaluator.metrics.aggregate import SUMMARIZED
    from sonobench.evaluator.summary import summary_columns

    bone = tasks_mod.get_task("sim-bone-surface@1")
    cases = bone.split("test")
    rng = np.random.default_rng(6)
    labels = bone.case_clusters()
    effect = {s: rng.random() for s in set(labels.values())}
    values = [effect[labels[c.id]] + rng.normal(0, 0.01) for c in cases]
    per_case = [{1: {**{m: v for m in SUMMARIZED}, "tp": 5, "fp": 1, "fn": 1}} for v in values]
    clustered = summary_columns(bone, per_case, [c.id for c in cases])
    plain = summary_columns(bone, per_case)
    expected = aggregate(values, clusters=[labels[c.id] for c in cases])
    assert clustered["dice_ci_low"] == expected["ci_low"] and clustered["dice_ci_high"] == expected["ci_high"]
    assert clustered["dice_ci_high"] - clustered["dice_ci_low"] > 1.5 * (plain["dice_ci_high"] - plain["dice_ci_low"])
