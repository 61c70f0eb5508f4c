"""The evaluator's own subcommands: tasks, submit, leaderboard, ..."""
from __future__ import annotations

import dataclasses
import json
import sys

import click

from sonobench.evaluator import floors, method_cli
from sonobench.evaluator import tasks as tasks_mod
from sonobench.evaluator.sandbox.options import SandboxOptions
from sonobench.evaluator.task_archive import restore_command
from sonobench.kernel.clitools import db_option, handle_errors, pass_settings
from sonobench.kernel.options import options_from


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handle_errors
def tasks(ctx, as_json):
    """List the benchmark tasks (simulated and imported)."""
    if ctx.invoked_subcommand:
        return
    rows, problems = tasks_mod.summaries()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        if not rows:
            click.echo("No tasks found. Generate one with `sonobench simulate` or import one with `sonobench datasets import`.")
        for r in rows:
            s, ref = r["splits"], f"{r['id']}@{r['version']}"
            click.echo(
                f"{ref}  {r['title']}\n"
                f"    classes: {', '.join(r['classes'])} | input {r['input_size'][0]}x{r['input_size'][1]}"
                f" | train/val/test {s['train']}/{s['val']}/{s['test']} | primary metric: {r['primary_metric']}"
                f" | digest {r['digest'][:12]}"
                + (f"\n    archived: its files are in git history; `{restore_command(ref)}`" if r.get("archived") else "")
            )
    for p in problems:
        click.echo(f"Warning: skipped unreadable task {p}", err=True)


@tasks.command("verify")
@click.argument("task")
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@handle_errors
def tasks_verify(task, labels_root):
    """Check every file of TASK against its frozen manifest."""
    t = tasks_mod.get_task(task)
    tasks_mod.verify_task(t, labels_root=labels_root)
    click.echo(f"{t.ref}: all {len(t.cases)} cases match the manifest (digest {t.digest}).")


@tasks.command("restore")
@click.argument("task")
@handle_errors
def tasks_restore(task):
    """Bring an archived TASK@VERSION back from this repository's git history into the data dir.

    An archived version keeps its task.json and manifest in the checkout while its files live in
    git history (the tracked tree has a data budget); the restored copy is checked file by file
    against the manifest before it is used."""
    from sonobench.evaluator.task_restore import restore

    restore(tasks_mod.get_task(task), log=click.echo)


# ---------------------------------------------------------------- submit

def _print_result(res: dict, task=None) -> None:
    """The result's primary metric with its CI, then the other metrics its task declares."""
    from sonobench.evaluator.metrics import per_case_metrics
    from sonobench.evaluator.summary import headline_text, scores_text

    click.echo(f"  {headline_text(res)} (primary metric)")
    board = task.metrics if task is not None else per_case_metrics()
    others = [m for m in board if m in per_case_metrics() and m != res.get("primary_metric")]
    if others:
        click.echo("  " + scores_text(res, others))
    gflops = "n/a" if res.get("gflops") is None else f"{res['gflops']:.2f}"
    params = "n/a" if res.get("params") is None else f"{res['params'] / 1e6:.2f} M"
    latency = "n/a" if res.get("latency_ms") is None else f"{res['latency_ms']:.1f} ms/image"
    click.echo(f"  GFLOPs {gflops}  params {params}  latency {latency}  "
               f"({res['n_cases']} {res['split']} cases, manifest {res['manifest_digest'][:12]})")
    if (res.get("hardware") or {}).get("model_output"):
        click.echo(f"  Note: {res['hardware']['model_output']}")


@click.command()
@click.argument("model", type=click.Path())
@click.option("--task", "task_ref", help="Task id or id@version (default: the spec's 'task').")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="submission.json (name, team, task, architecture, output, method metadata).")
@click.option("--name", help="Display name (default: spec name or file stem).")
@click.option("--team", help="Team name.")
@click.option("--arch", help="Registered architecture for a state_dict/safetensors file.")
@click.option("--arch-kwargs", default=None, help="JSON constructor arguments for --arch.")
@click.option("--output", type=click.Choice(["logits", "probabilities"]), default=None, help="What the model returns (default logits).")
@click.option("--kind", type=click.Choice(["submission", "baseline"]), default="submission", show_default=True)
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True)
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@options_from(SandboxOptions, param="sandbox")
@click.option("--enqueue", is_flag=True, help="Queue the submission for `sonobench worker` instead of scoring it now.")
@click.option("--corruptions", default=None, metavar="all|LIST",
              help="Opt in: after the main result, also score the image-corruption suite (all: 7 corruptions x 3 "
              "severities on a case subset, <= 3x the main inference; or e.g. noise,shadow-s2).")
@click.option("--predictions", is_flag=True,
              help="MODEL is a folder or .zip of per-case masks (<case_id>.png class-index PNGs at native size, "
              "or .npz with one array) for the task's test images (`sonobench export TASK --split test "
              "--images-only`), scored without running a model; params, GFLOPs and latency are n/a.")
@click.option("--token", envvar="SONOBENCH_TOKEN", default=None, show_envvar=True,
              help="Team token issued by the operator (required when the operator sets require_auth).")
@click.option("--json", "as_json", is_flag=True)
@method_cli.options
@db_option
@handle_errors
def submit(model, task_ref, spec_path, name, team, arch, arch_kwargs, output, kind, split, labels_root,
           sandbox: SandboxOptions, enqueue, token, as_json, db_path, corruptions=None, predictions=False, **method):
    """Score MODEL (a file, or a folder with the model and its data files) on a task's
    held-out split inside the sandbox and store the result; or queue it with --enqueue.
    With --predictions, MODEL is a folder or zip of per-case masks instead."""
    from pathlib import Path

    from sonobench.evaluator.intake import IntakeRequest
    from sonobench.evaluator.intake import submit as intake_submit
    from sonobench.evaluator.store import Store

    req = IntakeRequest(
        path=Path(model), task=task_ref, spec_path=Path(spec_path) if spec_path else None, name=name, team=team,
        token=token, architecture={"name": arch, "kwargs": arch_kwargs or {}} if arch else None, output=output,
        kind=kind, predictions=predictions, enqueue=enqueue, split=split, labels_root=labels_root,
        corruptions=corruptions, method=method, **sandbox.as_request())
    bar = _ProgressBar()
    try:
        outcome = intake_submit(Store(db_path), req, progress=bar.update, log=None if as_json else click.echo,
                                on_result=None if as_json else lambda o: (bar.close(), _print_outcome(o)))
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps({"submission_id": outcome.submission_id, "status": outcome.status,
                               **({"job_id": outcome.job_id} if enqueue else {}), "result": outcome.result,
                               "shifts": [dataclasses.asdict(o) for o in outcome.shifts]}, indent=2, default=str))


class _ProgressBar:
    """A click progress bar on stderr, opened at the first update (the intake knows the case count)."""

    def __init__(self):
        self.bar, self.last = None, 0

    def update(self, i: int, n: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=n, label="Scoring", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(i - self.last)
        self.last = i

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _print_outcome(outcome) -> None:
    from sonobench.evaluator.intake import QUEUED

    where = f" as job {outcome.job_id}; run `sonobench worker` to evaluate it" if outcome.status == QUEUED else ""
    label = " (predictions)" if outcome.predictions else ""
    click.echo(f"{outcome.status}: submission #{outcome.submission_id} '{outcome.name}'{label} on "
               f"{outcome.task.ref}{where}")
    if outcome.result and outcome.status != QUEUED:
        _print_result(outcome.result, outcome.task)


# ---------------------------------------------------------------- leaderboard

def _echo_csv(table: list[dict], fields: list[str], extrasaction: str = "raise") -> None:
    """Print `table` as CSV with a header: numbers as numbers, a missing value as an empty cell."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, restval="", extrasaction=extrasaction)
    w.writeheader()
    w.writerows({k: ("" if v is None or v != v else v) for k, v in r.items()} for r in table)
    click.echo(buf.getvalue(), nl=False)


def _robustness_view(task_ref, kind, fmt, db_path):
    from sonobench.evaluator import robustness
    from sonobench.evaluator.store import ReadOnlyStore

    task = tasks_mod.get_task(task_ref)
    store = ReadOnlyStore(db_path)
    robustness.require_conditions(store, task)
    conditions, rows = robustness.robustness_rows(store, task, kind)
    if fmt == "json":
        click.echo(json.dumps({"task": task.ref, "metric": task.primary_metric, "conditions": conditions,
                               "definition": robustness.DEFINITION, "rows": [r.to_json() for r in rows]},
                              indent=2, default=str))
        return
    table = robustness.table(conditions, rows, task.primary_metric)
    if fmt == "csv":
        return _echo_csv(table, list(table[0]) if table else ["name"])
    click.echo(f"Robustness on {task.ref} ({task.primary_metric}; {robustness.DEFINITION})")
    if not table:
        click.echo(f"No results yet for {task.ref}.")
        return
    _print_table(table)


def _sweeps_view(task_ref, kind, fmt, db_path):
    from sonobench.evaluator.store import ReadOnlyStore
    from sonobench.evaluator.sweeps import board
    from sonobench.kernel.errors import SonoBenchError

    task = tasks_mod.get_task(task_ref)
    child, rows, tau = board.sweep_board(ReadOnlyStore(db_path), task, kind)
    if child is None:
        raise SonoBenchError(f"{task.ref} has no sweep set (a test-only child with tracked sweeps, e.g. made by "
                             "`sonobench sweeps make`): `--view sweeps` shows a bone task's 3D scores")
    if fmt == "json":
        click.echo(json.dumps({"task": task.ref, "sweep_set": child.ref, "metric": task.primary_metric,
                               "tolerance_mm": child.sweeps.get("tolerance_mm"), "definition": board.DEFINITION,
                               "kendall_tau": tau, "rows": [r.to_json() for r in rows]}, indent=2, default=str))
        return
    table = board.table(rows, task.primary_metric)
    if fmt == "csv":
        return _echo_csv(table, list(table[0]) if table else ["name"])
    click.echo(f"Sweeps of {task.ref} on {child.ref} ({len(child.sweeps['folders'])} sweeps, τ = "
               f"{child.sweeps.get('tolerance_mm')} mm). {board.DEFINITION}")
    if not table:
        click.echo(f"No results yet for {task.ref}.")
        return
    _print_table(table)
    click.echo(f"Frame ranking vs 3D ranking: Kendall τ = {'n/a' if tau is None else f'{tau:.2f}'}")


@click.command()
@click.argument("task_ref", required=False)
@click.option("--overall", is_flag=True, help="Consensus across tasks: mean of each model's per-task ranks.")
@click.option("--metric", default=None, help="Rank by this metric (default: the task's primary metric).")
@click.option("--kind", type=click.Choice(["all", "baseline", "submission"]), default="all", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--ranking", "scheme", type=click.Choice(["paired", "ci-overlap", "mean"]), default="paired",
              show_default=True, help="paired: Wilcoxon + Holm test-then-rank on the same cases; ci-overlap: "
              "unpaired 95%-interval separation; mean: plain mean.")
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True,
              help="The board of results scored on this split; boards never mix splits.")
@click.option("--view", type=click.Choice(["ranking", "robustness", "sweeps"]), default="ranking", show_default=True,
              help="robustness: per acquisition-shift condition, the primary metric on the shifted images, its "
              "paired drop against the same phantoms unshifted, and one robustness number per model. sweeps (a bone "
              "task): each model's 3D reconstruction scores on the task's tracked sweeps beside its frame score.")
@click.option("--columns", "columns", default=None, metavar="KEYS",
              help="Comma-separated columns to show, e.g. rank,name,dice,hd95,params (an unknown key lists them).")
@click.option("--wide", is_flag=True, help="Every column of the task's board (CIs, rates with n, latency, date, id).")
@click.option("--explain", is_flag=True, help="Print the definitions of the ranking and of every metric shown.")
@click.option("--training-data", "training_data", default=None, metavar="LIST",
              help="Only models trained on this data: train-only, pretraining, external or not-stated "
              "(comma-separated for several). Floors stay on every board.")
@db_option
@handle_errors
@pass_settings
def leaderboard(task_ref, metric, kind, fmt, db_path, scheme="paired", overall=False, view="ranking",
                columns=None, wide=False, explain=False, split="test", training_data=None, settings=None):
    """Show the ranked results for TASK (paired test-then-rank by default; --ranking to change),
    ranked by the task's primary metric, with the metrics the task declares."""
    if overall:
        return _overall(kind, fmt, db_path, scheme, settings)
    if not task_ref:
        raise click.UsageError("Name a task (see `sonobench tasks`), or pass --overall for the ranking across tasks.")
    if view == "robustness":
        return _robustness_view(task_ref, kind, fmt, db_path)
    if view == "sweeps":
        return _sweeps_view(task_ref, kind, fmt, db_path)

    from sonobench.cli import board_text
    from sonobench.evaluator import board_columns, board_filter
    from sonobench.evaluator.metrics import METRICS
    from sonobench.evaluator.ranking.board import rows_of_split, split_views
    from sonobench.evaluator.ranking.cache import cached_rank
    from sonobench.evaluator.store import ReadOnlyStore, queries, validity

    name, version = tasks_mod.parse_ref(task_ref)
    store = ReadOnlyStore(db_path)
    rows = store.leaderboard_rows(name, version)
    if kind != "all":
        rows = [r for r in rows if r.get("kind") == kind]
    trained_on = board_filter.parse_training_data(training_data)
    rows = board_filter.by_training_data(rows, trained_on)
    others = [s for s in split_views(rows) if s != split]
    rows, invalid = validity.partition(rows_of_split(rows, split))
    if not rows and not invalid and trained_on:
        click.echo(f"No results for {task_ref} on the {split} split from models trained on "
                   f"{board_filter.describe(trained_on)}. Drop --training-data to see every model.")
        return
    if not rows and not invalid:
        click.echo(f"No results yet for {task_ref} on the {split} split."
                   + (f" Results on {', '.join(others)}: `--split {others[0]}`." if others else
                      f" Submit one with `sonobench submit MODEL --task {name}`."))
        return
    _print_invalid(invalid)
    version = version or (rows or invalid)[0]["task_version"]
    spec = board_columns.task_spec(name, version, queries.task_spec(store, name, version))
    spec.setdefault("primary_metric", rows[0]["primary_metric"] if rows else None)
    metric = metric or board_columns.task_metrics(spec)[0]
    METRICS.get(metric)
    result = cached_rank(store, rows, metric, scheme, alpha=settings.ranking_alpha,
                         top_n=settings.ranking_top_n, split=split) if rows else None
    ranked = floors.annotate(store, result.rows, metric, settings.ranking_alpha) if result else []
    shown = board_columns.shown_metrics(spec, ranked, metric)
    if fmt == "json":
        click.echo(json.dumps({"task": f"{name}@{version}", "split": split, "metric": metric,
                               "primary_metric": board_columns.task_metrics(spec)[0], "metrics": shown,
                               "training_data": list(trained_on) or None,
                               "ranking": scheme, "definition": result.definition if result else None,
                               "kendall_tau": result.kendall_tau if result else None,
                               "bootstrap_resamples": result.resamples if result else None,
                               "rows": ranked, "invalid": invalid}, indent=2, default=str))
        return
    if fmt == "csv":
        return _echo_csv(ranked, board_columns.csv_fields(shown), extrasaction="ignore")
    if not ranked:
        return
    unit = next((r["hd95_unit"] for r in ranked if r.get("hd95_unit")), "px")
    width = board_text.terminal_width()
    cols = board_text.pick_columns(columns, wide, shown, unit)
    info = METRICS.get(metric)
    click.echo(board_text.wrap(f"{name}@{version}, {split.upper()} split board: {len(ranked)} models on "
                               f"{max(r['n_cases'] for r in ranked)} cases, ranked by {info.title} "
                               f"({'higher' if info.higher_is_better else 'lower'} is better), '{scheme}' ranking.",
                               width, 1)[0])
    if others:
        click.echo(f"Results scored on {', '.join(others)} have their own board (--split {others[0]}).")
    if trained_on:
        click.echo(f"Only models trained on {board_filter.describe(trained_on)} (and the floors).")
    for line in board_text.render(ranked, cols, width, fit=not wide):
        click.echo(line)
    hidden = len([m for m in shown if m not in {c.key for c in cols}])
    for line in board_text.wrap(board_text.footer([c.key for c in cols if c.key in METRICS], metric, unit, hidden), width, 2):
        click.echo(line)
    if explain:
        click.echo("")
        for line in board_text.explain(result.definition, result.resamples, _fmt_tau(result.kendall_tau), shown,
                                       unit, width):
            click.echo(line)
    if any(r.get(floors.MARK) for r in ranked):
        for line in board_text.wrap(
                f"[≤ floor]: a reference not significantly better than the best floor "
                f"('{floors.best_floor(ranked, metric)['name']}'; one-sided paired Wilcoxon, alpha "
                f"{settings.ranking_alpha}). [floor]: an input-independent model built from the train split.", width, 2):
            click.echo(line)


def _print_table(table: list[dict]) -> None:
    cols = list(table[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in cols}
    click.echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in table:
        click.echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def _overall(kind, fmt, db_path, scheme, settings) -> None:
    from sonobench.evaluator.ranking.consensus import overall
    from sonobench.evaluator.store import ReadOnlyStore

    rows = overall(ReadOnlyStore(db_path), scheme, kind=kind, alpha=settings.ranking_alpha,
                   top_n=settings.ranking_top_n)
    if fmt == "json":
        click.echo(json.dumps({"ranking": scheme, "definition": "mean of the per-task ranks relative to each board "
                               "(rank / ranked models on that task; each task ranked by its primary metric with the "
                               f"'{scheme}' scheme)", "rows": rows}, indent=2))
        return
    if not rows:
        click.echo("No results yet. Submit one with `sonobench submit MODEL --task TASK`.")
        return
    from sonobench.cli import board_text

    tasks = sorted({t for r in rows for t in r["ranks"]} | {t for r in rows for t in r["missing"]})
    if fmt == "csv":
        table = [{"consensus_rank": r["consensus_rank"], "mean_relative_rank": r["mean_relative_rank"],
                  "mean_rank": r["mean_rank"], "n_tasks": r["n_tasks"],
                  "name": r["name"], "team": r["team"], **r["ranks"]} for r in rows]
        return _echo_csv(table, ["consensus_rank", "mean_relative_rank", "mean_rank", "n_tasks", "name", "team", *tasks])
    width = board_text.terminal_width()
    cols = [board_text.Column("consensus_rank", "Rank", lambda r: str(r["consensus_rank"]), right=True),
            board_text.Column("mean_relative_rank", "Rel. rank", lambda r: f"{r['mean_relative_rank']:.2f}", right=True),
            board_text.Column("mean_rank", "Mean rank", lambda r: f"{r['mean_rank']:.2f}", right=True),
            board_text.BASIC["name"], board_text.BASIC["team"],
            *(board_text.Column(t, t, lambda r, t=t: str(r["ranks"].get(t, "—")), right=True) for t in tasks)]
    for line in board_text.wrap(f"Overall over {len(tasks)} main tasks (shift sets are not tasks): ordered by the "
                                f"mean of each model's per-task ranks relative to the board (Rel. rank: rank / models "
                                f"ranked on that task, 1.00 = last; '{scheme}', each task's primary metric); — = not "
                                "scored there, so its mean covers fewer tasks.", width, 2):
        click.echo(line)
    for line in board_text.render(rows, cols, width):
        click.echo(line)


def _fmt_tau(tau) -> str:
    return "n/a" if tau is None or tau != tau else f"{tau:.3f}"


def _print_invalid(invalid: list[dict]) -> None:
    for r in invalid:
        click.echo(f"Warning: stored result of submission #{r['submission_id']} is invalid and not ranked "
                   f"({r['invalid']}); an operator can withdraw it.", err=True)


# ---------------------------------------------------------------- demo

@click.command()
@click.option("--no-app", is_flag=True, help="Score and print the leaderboard, but do not start the web app.")
@click.option("--port", type=int, default=8501, show_default=True)
@db_option
@click.pass_context
@handle_errors
@pass_settings
def demo(ctx, no_app, port, db_path, settings):
    """Run the main job on the default benchmark, then start the leaderboard."""
    from sonobench.cli.demo import run_demo
    from sonobench.evaluator.store import Store, default_db_path

    db_path = db_path or str(default_db_path())
    from sonobench.cli.table import lazy_hook

    task = run_demo(Store(db_path), log=click.echo, reference_loader=lazy_hook("reference_loader"), settings=settings)
    ctx.invoke(leaderboard, task_ref=task.ref, metric=None, kind="all", fmt="table", db_path=db_path, scheme="paired",
               overall=False)
    if no_app:
        return
    app_cmd = ctx.find_root().command.get_command(ctx, "app")
    ctx.invoke(app_cmd, db_path=db_path, port=port)


COMMANDS = (tasks, submit, leaderboard, demo,)  # added to `sonobench` by sonobench.cli
