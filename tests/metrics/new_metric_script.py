"""A new metric added by one registry entry and its migration, seen end to end (run by
tests/metrics/test_new_metric.py as a script, in a fresh interpreter: in real use a new entry is
registered when the registry is imported, before any module lists the metrics).

It registers a toy count-based metric (pixel precision, on the default region board) and the
migration that adds its columns, scores the toy task through `sonobench submit`, and prints as
JSON what the store holds, what `sonobench leaderboard` shows (table and CSV) and the columns of
the app's leaderboard table. Nothing else is edited: no board, query, page or column list."""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

NAME = "toy_pixel_precision"
MIGRATION = "m999_toy_pixel_precision"
PUBLIC_VIEW = ("CREATE VIEW case_results_public AS SELECT c.* FROM case_results c "
               "JOIN results r ON r.id = c.result_id WHERE r.private_cases = 0")


def pixel_precision(tp: int, fp: int, fn: int) -> float:
    """The share of predicted pixels of the class that are the class (0 for an empty prediction)."""
    return tp / (tp + fp) if tp + fp else 0.0


def register():
    """The one registry entry."""
    from sonobench.evaluator.metrics import Computation, MetricInfo, register_metric

    return register_metric(MetricInfo(
        NAME, True, "", 0.0, 1.0, "Toy pixel precision TP / (TP + FP), a metric added by a test.",
        label="Toy precision", computed=Computation.COUNTS, fn=pixel_precision, boards=("region",)))


def add_migration(info) -> None:
    """Its migration: the per-class column in case_results and the summary columns in results."""
    from sonobench.evaluator.store import migrations

    def migrate(db) -> None:
        db["case_results"].add_column(info.case_column, float)
        for column in info.columns():
            db["results"].add_column(column, float)
        db.execute("DROP VIEW IF EXISTS case_results_public")  # it selects c.*: recreate it
        db.execute(PUBLIC_VIEW)

    migrations.MIGRATIONS.append((MIGRATION, migrate))


def app_columns(db: Path) -> list[str]:
    """The header of the app's leaderboard table."""
    from streamlit.testing.v1 import AppTest

    os.environ["SONOBENCH_DB"] = str(db)
    app = Path(__file__).resolve().parents[2] / "leaderboard_app" / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=60).run()
    if at.exception:
        raise RuntimeError([e.message for e in at.exception])
    return list(at.dataframe[0].value.columns)


def main(work: Path) -> dict:
    info = register()
    add_migration(info)
    from click.testing import CliRunner

    from sonobench.cli import cli
    from sonobench.cli.toy import build_toy_task, threshold_onnx
    from sonobench.evaluator.store import Store

    build_toy_task(work / "tasks" / "toy-lesion" / "v1")
    model, db = threshold_onnx(work / "toy.onnx"), work / "results.db"
    run = CliRunner().invoke(cli, ["submit", str(model), "--task", "toy-lesion", "--db", str(db)])
    if run.exit_code != 0:
        raise RuntimeError(run.output)
    board = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", str(db), "--wide"])
    exported = CliRunner().invoke(cli, ["leaderboard", "toy-lesion", "--db", str(db), "--format", "csv"])
    store = Store(db)
    return {
        "migrations": [r["name"] for r in store.db["_migrations"].rows],
        "cases": [dict(r) for r in store.db.query(f"select tp, fp, fn, {NAME} from case_results")],
        "result": dict(next(store.db.query(f"select {', '.join(info.columns())} from results"))),
        "table": board.output,
        "csv": list(csv.DictReader(io.StringIO(exported.output))),
        "app": app_columns(db),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
