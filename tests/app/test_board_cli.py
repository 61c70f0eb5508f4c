"""`sonobench leaderboard` as a terminal board: it fits 120 columns, ranks by the task's primary
metric, shows the metrics its task declares (never one missing in every row), writes numbers in
CSV, and its Overall view ranks main tasks only."""
import csv
import io
import json

import pytest
from click.testing import CliRunner

from sonobench.cli import cli
from sonobench.evaluator.metrics import per_case_metrics

from .boards import BONE, LONG_NAME, build_board_store


@pytest.fixture(scope="module")
def board_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("boards") / "results.db"
    build_board_store(db)
    return db


def _run(db, *args, columns=120):
    out = CliRunner().invoke(cli, ["leaderboard", *args, "--db", str(db)], env={"COLUMNS": str(columns)})
    assert out.exit_code == 0, out.output
    return out.stdout


@pytest.mark.parametrize("width", [100, 120])
@pytest.mark.parametrize("task", ["bone-like", "lesion-like"])
def test_the_default_board_fits_the_terminal(board_db, task, width):
    lines = _run(board_db, task, columns=width).splitlines()
    assert all(len(line) <= min(width, 120) for line in lines), max(lines, key=len)
    head = next(line for line in lines if line.startswith("Rank"))
    assert head.split()[:4] == ["Rank", "Range", "Model", "Team"] and "[95% CI]" in head
    assert "Params" in head and "GFLOPs" in head
    assert sum(1 for line in lines if line.startswith("Rank")) == 1  # one header line, not paragraphs
    body = lines[lines.index(head) + 1:]
    assert len(body) - 2 <= len(BONE) and len(body) >= 3  # one line per model plus a footer of <= 2 lines
    if task == "bone-like":
        assert any("…" in line for line in body)  # the long name is shortened, not wrapped


def test_bone_board_ranks_by_surface_f1_and_shows_thin_structure_metrics(board_db):
    out = _run(board_db, "bone-like")
    assert "ranked by Surface F1" in out.splitlines()[0]
    head = next(line for line in out.splitlines() if line.startswith("Rank"))
    assert "Surface F1 ↑ [95% CI]" in head and "Spec ↑" in head and "S-prec ↑" in head
    assert "Dice" not in head  # declared, but after the three shown by default
    rows = json.loads(_run(board_db, "bone-like", "--format", "json"))
    assert rows["metric"] == rows["primary_metric"] == "surface_f1"
    assert [r["name"] for r in rows["rows"]] == list(BONE)  # surface F1 order; Dice runs the other way
    assert [r["rank"] for r in rows["rows"]] == [1, 2, 3, 4]


def test_lesion_board_shows_specificity_beside_dice_and_no_thin_structure_metric(board_db):
    out = _run(board_db, "lesion-like", "--wide")
    head = next(line for line in out.splitlines() if line.startswith("Rank"))
    assert head.index("Dice ↑") < head.index("Spec ↑") < head.index("HD95 mm ↓")
    assert "S-F1" not in head and "Surface" not in head and "MD p→r" not in head
    assert "NSD" not in head  # missing in every row: no column
    assert "missing" not in out and "None" not in out


def test_columns_picks_and_an_unknown_column_lists_the_choices(board_db):
    out = _run(board_db, "lesion-like", "--columns", "rank,name,dice,iou")
    head = next(line for line in out.splitlines() if line.startswith("Rank"))
    assert head.split() == ["Rank", "Model", "Dice", "↑", "[95%", "CI]", "IoU", "↑"]
    bad = CliRunner().invoke(cli, ["leaderboard", "lesion-like", "--columns", "rank,dcie", "--db", str(board_db)])
    assert bad.exit_code == 1 and "Error: Unknown column 'dcie'" in bad.output and "Did you mean 'dice'" in bad.output


def test_explain_prints_the_definitions(board_db):
    out = _run(board_db, "bone-like", "--explain")
    assert "Wilcoxon" in out and "Surface F1 (S-F1, higher is better): " in out
    assert all(len(line) <= 120 for line in out.splitlines())


def test_csv_writes_numbers_for_the_tasks_metrics(board_db):
    rows = list(csv.DictReader(io.StringIO(_run(board_db, "bone-like", "--format", "csv"))))
    assert [r["name"] for r in rows] == list(BONE)
    for r in rows:
        for key in ("surface_f1_mean", "surface_f1_ci_low", "specificity", "specificity_n", "params", "gflops",
                    "rank", "rank_low"):
            float(r[key])  # a number, not '0.95 [0.94,0.96]' or '1.23M'
        assert "None" not in r.values()
    assert "nsd_mean" not in rows[0]  # missing in every row
    lesion = csv.DictReader(io.StringIO(_run(board_db, "lesion-like", "--format", "csv"))).fieldnames
    assert "surface_f1_mean" not in lesion and "dice_mean" in lesion and "specificity" in lesion


def test_overall_ranks_main_tasks_only_by_consensus_rank(board_db):
    out = _run(board_db, "--overall")
    assert "lesion-like-shift" not in out  # a shift set is not a task
    rows = json.loads(_run(board_db, "--overall", "--format", "json"))["rows"]
    assert all(set(r["ranks"]) | set(r["missing"]) == {"bone-like@1", "lesion-like@1"} for r in rows)
    assert [r["mean_relative_rank"] for r in rows] == sorted(r["mean_relative_rank"] for r in rows)
    assert [r["consensus_rank"] for r in rows] == sorted(r["consensus_rank"] for r in rows)
    table = [line for line in out.splitlines() if LONG_NAME[:10] in line]
    assert table and "—" in table[0]  # its missing task reads '—'
    assert all(len(line) <= 120 for line in out.splitlines())


def test_the_metric_registry_lists_what_the_store_holds():
    assert "surface_f1" in per_case_metrics()  # the synthetic store writes every per-case metric


def test_headlines_state_the_tasks_primary_metric(board_db):
    from sonobench.evaluator.store import ReadOnlyStore, queries
    from sonobench.evaluator.summary import headline_text

    store = ReadOnlyStore(board_db)
    choices = queries.submission_choices(store, "bone-like", 1)
    by_name = {c["name"]: c for c in choices}
    row = store.result_for(by_name["bone-a"]["id"])
    assert by_name["bone-a"]["primary_mean"] == row["surface_f1_mean"] != row["dice_mean"]
    assert "dice_mean" not in by_name["bone-a"]
    assert headline_text(row, 3) == (f"Surface F1 {row['surface_f1_mean']:.3f} "
                                     f"[{row['surface_f1_ci_low']:.3f}, {row['surface_f1_ci_high']:.3f}]")
    lesion = store.result_for(queries.submission_choices(store, "lesion-like", 1)[0]["id"])
    assert headline_text(lesion).startswith("Dice ") and headline_text({**lesion, "dice_mean": None}) == "Dice missing"


def test_a_row_of_another_kind_is_marked_on_the_default_board(board_db, tmp_path):
    import shutil
    import sqlite3

    db = tmp_path / "marked.db"
    shutil.copy(board_db, db)
    with sqlite3.connect(db) as conn:  # e.g. a no-skill floor: the default board has no Kind column
        conn.execute("update submissions set kind = 'floor' where name = 'bone-d'")
    line = next(line for line in _run(db, "bone-like").splitlines() if "bone-d" in line)
    assert "bone-d [floor]" in line
