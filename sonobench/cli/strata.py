"""`sonobench strata SUBMISSION_ID`: a stored result's metrics broken down by case strata
(evaluator/strata.py) as a table or JSON."""
from __future__ import annotations

import json

import click

from sonobench.kernel.clitools import db_option, handle_errors


def _cell(agg: dict | None, digits: int) -> str:
    if not agg:
        return "—"
    value = agg.get("mean", agg.get("value"))
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} [{agg['ci_low']:.{digits}f}, {agg['ci_high']:.{digits}f}]"


def _lines(body: dict) -> list[str]:
    from sonobench.evaluator.metrics import METRICS

    metrics = body["metrics"]
    out = [f"Strata of submission #{body['submission_id']} on {body['task']} ({body['n_cases']} {body['split']} "
           f"cases); {body['definition']}."]
    for s in body["strata"]:
        out += ["", f"{s['title']} — from the {s['source']}"]
        rows = [["group", "n", *metrics]] + [
            [g["group"], str(g["n_cases"]), *(_cell(g["metrics"].get(m), 2 if METRICS.get(m).higher_is_better else 1)
                                               for m in metrics)] for g in s["groups"]]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    for skip in body.get("skipped") or []:
        out += ["", f"Not shown: {', '.join(skip['strata'])} ({skip['why']})"]
    if not body["strata"]:
        out.append("This task declares no strata and its cases carry no metadata to split them by.")
    return out


@click.command()
@click.argument("submission_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@click.option("--resamples", type=int, default=1000, show_default=True, help="Bootstrap resamples per CI.")
@db_option
@handle_errors
def strata(submission_id, fmt, labels_root, resamples, db_path):
    """Break a scored submission's metrics down by what each case is: lesion size and depth, noise,
    echogenicity, CNR, ... (the task family's declared strata and its case metadata), with 95% CIs,
    to see where a model fails."""
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.evaluator.strata import submission_strata

    if resamples < 1:
        raise click.BadParameter("must be at least 1", param_hint="--resamples")
    body = submission_strata(ReadOnlyStore(db_path), submission_id, labels_root=labels_root, n_boot=resamples)
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    for line in _lines(body):
        click.echo(line)
