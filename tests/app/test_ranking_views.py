"""The ranking views: scheme selector and its definition, rank range / P(rank 1), the blob plot,
the new metric columns ("missing" for rows scored before them), and the significance map."""
import json
import sqlite3

import numpy as np
import pytest

from sonobench.evaluator.ranking import Scheme, orient, pairwise_pvalues, significance_matrix
from sonobench.evaluator.ranking.board import rank_stored
from sonobench.evaluator.store import ReadOnlyStore, queries

from .conftest import open_page


def _library_board(db, scheme, metric="dice"):
    store = ReadOnlyStore(db)
    rows = queries.leaderboard_table_rows(store, "toy-lesion", 1)
    return rank_stored(store, rows, metric, scheme)


def _chart(at, key_part):
    charts = [c for c in at.get("plotly_chart") if key_part in (c.proto.id or "")]
    assert charts, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(charts[0].proto.spec)


@pytest.mark.parametrize("scheme", [s.value for s in Scheme])
def test_each_scheme_ranks_as_the_library_and_prints_its_definition(app_env, scheme):
    at = open_page()
    assert at.selectbox(key="lb_scheme").value == "paired"  # the default
    at.selectbox(key="lb_scheme").set_value(scheme).run()
    assert not at.exception
    expected = _library_board(app_env["db"], scheme)
    table = at.dataframe[0].value
    assert list(table["ID"]) == [r["submission_id"] for r in expected.rows]
    assert [int(r.lstrip("=")) for r in table["Rank"]] == [r["rank"] for r in expected.rows]
    assert any(f"**Ranking ({scheme}):** {expected.definition}." in m.value for m in at.markdown)
    summary = at.markdown[0].value
    assert "intervals overlap)" not in summary and "share rank 1" not in summary
    # the Rank help says what this scheme computes ("=2: the intervals overlap" was wrong for paired)
    from sonobench.leaderboard_app import columns

    rank_help = columns.display_table(_frame(scheme), scheme)[1]["Rank"]
    assert rank_help.startswith(f"Rank ({scheme}): ") and "not significant" not in rank_help


def test_rank_range_p_rank1_and_kendall_tau_come_from_the_bootstrap(app_env):
    at = open_page()
    expected = _library_board(app_env["db"], "paired")
    table = at.dataframe[0].value.set_index("ID")
    for r in expected.rows:
        lo, hi = r["rank_low"], r["rank_high"]
        assert table.loc[r["submission_id"], "Rank range"] == (f"{lo}" if lo == hi else f"{lo}–{hi}")
        assert table.loc[r["submission_id"], "P(rank 1)"] == f"{r['p_rank1']:.0%}"
    assert any(f"= **{expected.kendall_tau:.3f}**" in m.value and "Kendall's τ" in m.value for m in at.markdown)


def test_blob_plot_shows_the_bootstrap_rank_distribution(app_env):
    at = open_page()
    expected = _library_board(app_env["db"], "paired")
    fig = _chart(at, "lb_blob")
    blobs, medians, full = fig["data"]
    assert medians["name"].startswith("median rank") and full["name"] == "rank on all cases"
    # marker areas are the share of resamples: per model they sum to 1
    shares = {}
    for x, s in zip(blobs["x"], blobs["marker"]["size"]):
        shares[x] = shares.get(x, 0) + s
    assert len(shares) == len(expected.tested) and all(v == pytest.approx(1.0) for v in shares.values())
    assert blobs["marker"]["sizemode"] == "area"
    # x is in rank order, and the median marker sits at each model's median bootstrap rank
    by_id = {r["submission_id"]: r for r in expected.rows}
    ranks_in_x = [by_id[int(x.split()[0][1:])]["rank"] for x in medians["x"]]
    assert ranks_in_x == sorted(ranks_in_x)
    k = expected.tested.index(int(medians["x"][0].split()[0][1:]))
    assert medians["y"][0] == pytest.approx(float(np.median(expected.bootstrap_ranks[:, k])))
    assert "Kendall" in fig["layout"]["title"]["text"]


def test_new_metric_columns_from_the_registry_and_missing_for_old_rows(writable_env):
    db = writable_env["db"]
    sid = writable_env["ids"]["smooth-0.30"]
    with sqlite3.connect(db) as conn:  # a row scored before NSD/ASSD/detection rates existed
        conn.execute("update results set nsd_mean = null, nsd_ci_low = null, nsd_ci_high = null, assd_mean = null, "
                     "assd_ci_low = null, assd_ci_high = null, sensitivity = null, sensitivity_n = null, "
                     "specificity = null, specificity_n = null where submission_id = ?", [sid])
    at = open_page()
    table = at.dataframe[0].value.set_index("ID")
    for col in ("NSD ↑", "ASSD (mm) ↓", "Sensitivity ↑", "Specificity ↑"):
        assert table.loc[sid, col] == "missing"
    other = next(i for i in writable_env["ids"].values() if i != sid and i in table.index)
    res = ReadOnlyStore(db).result_for(other)
    assert table.loc[other, "NSD ↑"].startswith(f"{res['nsd_mean']:.3f} [")
    assert table.loc[other, "Sensitivity ↑"].endswith(f"(n = {res['sensitivity_n']})")
    from sonobench.leaderboard_app import columns

    help_text = columns.display_table(_frame("paired"), "paired")[1]
    assert "medpy" in help_text["HD95 (mm) ↓"] and "MONAI" in help_text["HD95 (mm) ↓"]
    assert "Tolerance τ" in help_text["NSD ↑"]


def _frame(scheme):
    from sonobench.leaderboard_app.data import board

    return board("toy-lesion", 1, "dice", "all", scheme)[0]


def test_significance_map_matches_the_library(app_env):
    at = open_page("compare")
    assert at.slider(key="cmp_map_n").value == 10
    fig = _chart(at, "cmp_map")
    heat = fig["data"][0]
    store = ReadOnlyStore(app_env["db"])
    rows = sorted(queries.leaderboard_table_rows(store, "toy-lesion", 1), key=lambda r: -r["dice_mean"])
    ids = [r["submission_id"] for r in rows]
    assert [int(y.split()[0][1:]) for y in heat["y"]] == ids
    values = queries.case_values(store, ids, "dice")
    cases = sorted(set.intersection(*(set(values[i]) for i in ids)))
    better = orient([[values[i][c] for c in cases] for i in ids], "dice")
    sign = significance_matrix(better, 0.05)
    z = np.array([[np.nan if v is None else v for v in row] for row in heat["z"]], dtype=float)
    off = ~np.eye(len(ids), dtype=bool)
    assert np.array_equal(z[off], sign[off])
    p = pairwise_pvalues(better)
    assert f"p(row better), one-sided Wilcoxon = {p[0, 1]:.3g}" in heat["text"][0][1]
    assert "95% bootstrap CI" in heat["text"][0][1]
    at.slider(key="cmp_map_n").set_value(2).run()
    assert len(_chart(at, "cmp_map")["data"][0]["y"]) == 2


def test_overall_view_ranks_by_mean_task_rank_and_lists_missing_tasks(writable_env):
    from sonobench.evaluator.ranking import consensus

    ids = writable_env["ids"]
    with sqlite3.connect(writable_env["db"]) as conn:  # the band model becomes smooth-0.20 of team-0
        conn.execute("update submissions set name = 'smooth-0.20', team = 'team-0' where id = ?", [ids["bands"]])
    at = open_page()
    at.segmented_control(key="lb_view").set_value("overall").run()
    assert not at.exception
    table = at.dataframe[0].value
    expected = consensus.overall(ReadOnlyStore(writable_env["db"]))
    assert list(table["Model"]) == [r["name"] for r in expected]
    assert list(table["Mean rank"]) == pytest.approx([r["mean_rank"] for r in expected])
    assert list(table["Rank"]) == [r["consensus_rank"] for r in expected] == sorted(table["Rank"])
    both = table[table["Model"] == "smooth-0.20"].iloc[0]
    assert both["Tasks"] == 2 and both["toy-bands@1"].isdigit() and both["toy-lesion@1"].isdigit()
    alone = table[table["Model"] == "smooth-0.45"].iloc[0]
    assert alone["toy-bands@1"] == "—" and alone["Tasks"] == 1  # a missing task reads '—', never None
    assert "None" not in table.astype(str).to_numpy()


def test_overall_view_says_when_no_model_spans_tasks(app_env):
    at = open_page()
    at.segmented_control(key="lb_view").set_value("overall").run()
    assert "No model is scored on more than one task" in at.info[0].value


def test_tasks_page_states_the_power_of_the_paired_test(writable_env):
    from sonobench.evaluator.ranking.power import detectable_difference

    with sqlite3.connect(writable_env["db"]) as conn:  # four references on toy-lesion
        conn.execute("update submissions set kind = 'baseline' where task_id = 'toy-lesion'")
    at = open_page("tasks")
    at.selectbox(key="tasks_task").set_value("toy-lesion@1").run()
    assert not at.exception
    p = detectable_difference(ReadOnlyStore(writable_env["db"]), "toy-lesion", 1)
    text = next(m.value for m in at.markdown if m.value.startswith("**Power"))
    if p is None:  # the class-absent policy pairs on the lesion images only: the toy has fewer than 5
        assert "not estimated" in text
    else:
        assert f"({p['n_cases']} test cases)" in text and f"**{p['per_case_sd']:.3f}**" in text
        assert (f"is **{p['delta']:.3f}**" in text) if p["delta"] is not None else "not detected" in text
    at.selectbox(key="tasks_task").set_value("toy-bands@1").run()  # one result: no power estimate
    assert any("not estimated" in m.value for m in at.markdown)


def test_the_ranking_is_redone_only_when_that_tasks_results_change(writable_env, monkeypatch):
    import streamlit as st

    from sonobench.leaderboard_app import data

    calls = []
    real = data.cached_rank
    monkeypatch.setattr(data, "cached_rank", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    st.cache_data.clear()
    at = open_page()
    assert calls == ["dice"]
    ids = writable_env["ids"]
    with sqlite3.connect(writable_env["db"]) as conn:  # another task's row changes: the store's fingerprint too
        conn.execute("update submissions set name = 'renamed' where id = ?", [ids["bands"]])
    at.run()
    assert not at.exception and calls == ["dice"]
    with sqlite3.connect(writable_env["db"]) as conn:  # this task's rows change: ranked again
        conn.execute("update submissions set name = 'renamed' where id = ?", [ids["smooth-0.45"]])
    at.run()
    assert calls == ["dice", "dice"] and "renamed" in list(at.dataframe[0].value["Model"])
