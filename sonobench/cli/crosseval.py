"""`sonobench crosseval`: a thin click wrapper over evaluator.crosseval."""
from __future__ import annotations

import json
from enum import Enum

import click

from sonobench.cli.table import lazy_hook
from sonobench.evaluator.crosseval import model_key
from sonobench.kernel.clitools import handle_errors, pass_settings
from sonobench.kernel.errors import SonoBenchError


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"


def _print_table(matrix: dict) -> None:
    from sonobench.evaluator.crosseval import matrix_table

    rows = matrix_table(matrix)
    cols = ["trained on", "model"] + [c["task"] for c in matrix["columns"]]
    widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols}
    click.echo(f"Family '{matrix['family']}': each column's primary metric "
               f"({', '.join(sorted({c['primary_metric'] for c in matrix['columns']}))}) with its 95% bootstrap CI; "
               "* = in-domain (the model's own training task)")
    click.echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        click.echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    if not rows:
        click.echo("(no model with a known training set is scored on this family yet)")


def _submission_key(store, ref: str) -> str:
    sid = ref.lstrip("#")
    if not sid.isdigit():
        raise SonoBenchError(f"'{ref}' is neither a model file, a baselines run folder nor a submission id (#N)")
    row = store.submission(int(sid))
    if row is None:
        raise SonoBenchError(f"No submission #{sid} in this store; see `sonobench leaderboard`")
    return model_key(row)


@click.command("crosseval")
@click.argument("model_or_submission", required=False)
@click.option("--family", required=True, help="Task family (task.json 'family'), e.g. breast.")
@click.option("--trained-on", default=None, help="Task the model file was trained on (read from run.json for a "
              "`sonobench baselines run` folder or its ONNX file).")
@click.option("--name", default=None, help="Display name of the model (default: run.json's or the file name).")
@click.option("--with-references", is_flag=True, help="First load the committed reference baselines of the family's tasks.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in Format]), default=Format.TABLE.value, show_default=True)
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), help="Results store (default: $SONOBENCH_DB or the user data dir).")
@handle_errors
@pass_settings
def crosseval(model_or_submission, family, trained_on, name, with_references, fmt, labels_root, db_path, settings):
    """Score a model on every task of a family and print the cross-dataset matrix
    (rows = training set, columns = test task, * = in-domain).

    MODEL_OR_SUBMISSION: a model file (with --trained-on), a `baselines run` folder, or a
    stored submission #N (its stored cells only: the store keeps no model files). None:
    the whole family's matrix from the store."""
    from pathlib import Path

    from sonobench.evaluator.crosseval import family_matrix, score_family, source_from_path
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import family_tasks

    store, key = Store(db_path), None
    fmt = Format(fmt)
    quiet = fmt is Format.JSON
    log = (lambda m: click.echo(m, err=True)) if quiet else click.echo
    if with_references:
        loader = lazy_hook("reference_loader")
        if loader is None:
            raise SonoBenchError("--with-references needs the baselines package (pip install -e '.[all]')")
        for task in family_tasks(family):
            loader(store, task, log=log)
    if model_or_submission and Path(model_or_submission).exists():
        if settings.require_auth:
            raise SonoBenchError("crosseval scores models into the store directly; in hosted mode (require_auth) "
                                 "that is the operator's job")
        source = source_from_path(model_or_submission, trained_on, name)
        cells = score_family(store, source, family, labels_root=labels_root, log=log)
        scored = [v for v in cells.values() if isinstance(v, int)]
        if not scored:
            raise SonoBenchError(f"{source.path.name} could not be scored on any task of family '{family}'")
        key = model_key(store.submission(scored[0]))
    elif model_or_submission:
        key = _submission_key(store, model_or_submission)
    matrix = family_matrix(store, family, key)
    if fmt is Format.JSON:
        click.echo(json.dumps(matrix, indent=2))
    else:
        _print_table(matrix)
    if key and matrix["rows"] and any(v is None for r in matrix["rows"] for v in r["cells"].values()):
        log("Some tasks have no cell for this model: the store keeps no model files, so pass the model file "
            "(or its `baselines run` folder) to score them.")
