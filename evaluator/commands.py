"""The evaluator's own subcommands: tasks, submit, leaderboard, ..."""
from __future__ import annotations

import dataclasses
import json
import sys

import click

from . import tasks as tasks_mod
from .cli import cli, db_option, handle_errors
from .task_archive import restore_command


@cli.group(invoke_without_command=True)
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
    from .task_archive import restore

    restore(tasks_mod.get_task(task), log=click.echo)


# ---------------------------------------------------------------- submit

def _print_result(res: dict) -> None:
    from .summary import scores_text

    click.echo("  " + scores_text(res))
    gflops = "n/a" if res.get("gflops") is None else f"{res['gflops']:.2f}"
    params = "n/a" if res.get("params") is None else f"{res['params'] / 1e6:.2f} M"
    click.echo(f"  GFLOPs {gflops}  params {params}  latency {res['latency_ms']:.1f} ms/image  "
               f"({res['n_cases']} {res['split']} cases, manifest {res['manifest_digest'][:12]})")
    if (res.get("hardware") or {}).get("model_output"):
        click.echo(f"  Note: {res['hardware']['model_output']}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--task", "task_ref", help="Task id or id@version (default: the spec's 'task').")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), help="submission.json (name, team, task, architecture, output).")
@click.option("--name", help="Display name (default: spec name or file stem).")
@click.option("--team", help="Team name.")
@click.option("--arch", help="Registered architecture for a state_dict/safetensors file.")
@click.option("--arch-kwargs", default=None, help="JSON constructor arguments for --arch.")
@click.option("--output", type=click.Choice(["logits", "probabilities"]), default=None, help="What the model returns (default logits).")
@click.option("--kind", type=click.Choice(["submission", "baseline"]), default="submission", show_default=True)
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True)
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@click.option("--isolation", type=click.Choice(["auto", "bwrap", "unshare", "none"]), default=None,
              help="Sandbox isolation [default: auto = bubblewrap when it can run].")
@click.option("--threads", type=int, default=None, help="Inference threads inside the sandbox.")
@click.option("--wall-limit", type=float, default=None, help="Seconds before the model process is killed.")
@click.option("--allow-pickle", is_flag=True, help="Operator only: accept pickled nn.Module files (run inside bubblewrap only).")
@click.option("--gpu", is_flag=True, help="Bind only the NVIDIA device nodes into the sandbox and infer on CUDA.")
@click.option("--enqueue", is_flag=True, help="Queue the submission for `sonobench worker` instead of scoring it now.")
@click.option("--corruptions", default=None, metavar="all|LIST",
              help="Opt in: after the main result, also score the image-corruption suite (all: 7 corruptions x 3 "
              "severities on a case subset, <= 3x the main inference; or e.g. noise,shadow-s2).")
@click.option("--token", envvar="SONOBENCH_TOKEN", default=None, show_envvar=True,
              help="Team token issued by the operator (required when the operator sets require_auth).")
@click.option("--json", "as_json", is_flag=True)
@db_option
@handle_errors
def submit(model, task_ref, spec_path, name, team, arch, arch_kwargs, output, kind, split, labels_root,
           isolation, threads, wall_limit, allow_pickle, gpu, enqueue, token, as_json, db_path, corruptions=None):
    """Score MODEL (a file, or a folder with the model and its data files) on a task's
    held-out split inside the sandbox and store the result; or queue it with --enqueue."""
    from pathlib import Path

    from .errors import AlreadyScored, InvalidSubmission, SonoBenchError
    from .evaluate import Request, evaluate, prepare_or_reject, record_refusal
    from .settings import load_settings
    from .store import Store
    from .submission import SPEC_FILE, read_spec
    from .teams import authenticate

    path = Path(model)
    if not path.exists():
        raise SonoBenchError(f"No model file at {path}; check the path")
    settings = load_settings()
    store = Store(db_path)
    if settings.require_auth and kind == "baseline":
        raise SonoBenchError("In hosted mode (require_auth) baselines are added by the operator with "
                             "`sonobench baselines`, not through `submit`. Nothing was stored.")
    who = authenticate(store, token) if settings.require_auth or token else None
    if who is not None:
        if team and team != who.name:
            raise SonoBenchError(f"--team '{team}' is not the team of this token ('{who.name}'); the token decides "
                                 "the team. Nothing was stored.")
        team = who.name
    if spec_path is None and path.is_dir() and (path / SPEC_FILE).is_file():
        spec_path = path / SPEC_FILE
    try:
        spec = read_spec(spec_path)
    except InvalidSubmission as e:  # a refused spec still gets a failed row when the task is known
        if task_ref:
            record_refusal(store, tasks_mod.get_task(task_ref), path, str(e), name=name, team=team, kind=kind,
                           team_id=who.id if who else None)
        raise
    if who is not None:
        spec.pop("team", None)
    architecture = {"name": arch, "kwargs": arch_kwargs or {}} if arch else None  # kwargs JSON checked in prepare
    ref = task_ref or spec.get("task")
    if not ref:
        raise SonoBenchError("Name the task: --task TASK (see `sonobench tasks`) or 'task' in submission.json")
    task = tasks_mod.get_task(ref)
    if who is not None:  # a team never submits to a private split: it follows their public submission
        from .private import refuse_direct

        refuse_direct(task, None)
    request = Request.for_task(task, split=split, kind=kind, labels_root=labels_root, isolation=isolation,
                               gpu=gpu, threads=threads, wall_seconds=wall_limit, allow_pickle=allow_pickle,
                               corruptions=corruptions)
    if corruptions:
        from .corruptions import suite

        suite(task, corruptions)  # an unknown corruption fails here, before anything is stored
    sub = prepare_or_reject(store, task, path, spec=spec, name=name, team=team, architecture=architecture,
                            output=output, kind=kind, settings=settings, team_id=who.id if who else None)
    if enqueue:
        _enqueue(store, task, sub, settings, request, as_json)
        return
    try:
        with click.progressbar(length=len(task.split(split)), label=f"Scoring {sub.name} on {task.ref}",
                               file=sys.stderr) as bar:
            last = [0]

            def progress(i, n):
                bar.update(i - last[0]); last[0] = i

            outcome = evaluate(store, task, sub, request=request, progress=progress, settings=settings)
        sid, res = outcome.submission_id, outcome.result
        verb = "Scored"
    except AlreadyScored as e:
        sid, res = e.submission_id, store.result_for(e.submission_id)
        verb = "Already scored (not scored twice)" if res else "Already submitted (not scored twice)"
    if not as_json:
        click.echo(f"{verb}: submission #{sid} '{sub.name}' on {task.ref}")
        if res:
            _print_result(res)
    shifts = _score_shifts(store, task, sub, request, settings, sid, as_json) if res and split == "test" else []
    if as_json:
        click.echo(json.dumps({"submission_id": sid, "status": verb, "result": res,
                               "shifts": [dataclasses.asdict(o) for o in shifts]}, indent=2, default=str))


def _score_shifts(store, task, sub, request, settings, sid, quiet):
    """After the main result: the task's acquisition-shift sets, one evaluation each."""
    from . import robustness

    sets = robustness.follow_up_sets(task, request)
    if not sets:
        return []
    if not quiet:
        click.echo(f"Scoring {len(sets)} acquisition-shift / corruption set(s) of {task.ref} "
                   "(`sonobench leaderboard TASK --view robustness` shows the drops):")
    return robustness.score_shifts(store, task, sub, request, settings, sid, log=None if quiet else click.echo)


def _enqueue(store, task, sub, settings, request, as_json):
    from .errors import AlreadyScored
    from .queue import enqueue

    try:
        q = enqueue(store, task, sub, settings, request)
        sid, job, verb = q.submission_id, q.job_id, "Queued"
    except AlreadyScored as e:
        sid, job, verb = e.submission_id, None, "Already submitted (not scored twice)"
    if as_json:
        click.echo(json.dumps({"submission_id": sid, "status": verb, "job_id": job,
                               "result": store.result_for(sid) if sid else None}, indent=2, default=str))
        return
    where = f" as job {job}; run `sonobench worker` to evaluate it" if job else ""
    click.echo(f"{verb}: submission #{sid} '{sub.name}' on {task.ref}{where}")


# ---------------------------------------------------------------- leaderboard

def _rank_range(r: dict) -> str:
    if r.get("rank_low") is None:
        return "-"
    return f"{r['rank_low']}-{r['rank_high']}" if r["rank_low"] != r["rank_high"] else str(r["rank_low"])


def _mean_ci(r: dict, m: str, digits: int, unit: str | None = None) -> str:
    """'0.812 [0.80,0.82]'; 'missing' for a result scored before the metric existed (never 0)."""
    if r.get(f"{m}_mean") is None:
        return "missing"
    text = f"{r[f'{m}_mean']:.{digits}f} [{r[f'{m}_ci_low']:.{digits}f},{r[f'{m}_ci_high']:.{digits}f}]"
    return f"{text} {unit}" if unit else text


def _rate(r: dict, m: str) -> str:
    if r.get(m) is None:
        return "missing" if r.get(f"{m}_n") is None else "n/a"
    return f"{r[m]:.2f} (n={r[f'{m}_n']})"


def _metric_cells(r: dict) -> dict:
    """One cell per registered metric, in registry order: mean [CI] (distances with the row's
    unit) for per-case metrics, rate (n) for detection rates."""
    from .metrics import METRICS, MetricKind, metric_names

    cells = {}
    for m in metric_names():
        info = METRICS.get(m)
        if info.kind is MetricKind.DETECTION:
            cells[m] = _rate(r, m)
        else:
            cells[m] = _mean_ci(r, m, info.digits, r.get("hd95_unit") if info.unit else None)
    return cells
def _echo_csv(table: list[dict], fields: list[str], extra: list[dict] = ()) -> None:
    """Print `table` (and `extra` rows, missing cells empty) as CSV with a header."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, restval="")
    w.writeheader(); w.writerows(table); w.writerows(extra)
    click.echo(buf.getvalue(), nl=False)


def _robustness_view(task_ref, kind, fmt, db_path):
    from . import robustness
    from .store import ReadOnlyStore

    task = tasks_mod.get_task(task_ref)
    store = ReadOnlyStore(db_path)
    robustness.require_conditions(store, task)
    conditions, rows = robustness.robustness_rows(store, task, kind)
    if fmt == "json":
        click.echo(json.dumps({"task": task.ref, "metric": task.primary_metric, "conditions": conditions,
                               "definition": robustness.DEFINITION, "rows": [r.to_json() for r in rows]},
                              indent=2, default=str))
        return
    table = robustness.table(conditions, rows)
    if fmt == "csv":
        return _echo_csv(table, list(table[0]) if table else ["name"])
    click.echo(f"Robustness on {task.ref} ({task.primary_metric}; {robustness.DEFINITION})")
    if not table:
        click.echo(f"No results yet for {task.ref}.")
        return
    _print_table(table)


def leaderboard_table(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        out.append({
            "rank": r["rank"], "rank_range": _rank_range(r),
            "p_rank1": "-" if r.get("p_rank1") is None else f"{r['p_rank1']:.2f}",
            "name": r["name"], "team": r["team"], "kind": r["kind"],
            **_metric_cells(r),
            "gflops": "n/a" if r["gflops"] is None else f"{r['gflops']:.2f}",
            "params_m": "n/a" if r["params"] is None else f"{r['params'] / 1e6:.2f}",
            "latency_ms": f"{r['latency_ms']:.1f}", "date": (r["created_at"] or "")[:10], "id": r["submission_id"],
        })
    return out


@cli.command()
@click.argument("task_ref", required=False)
@click.option("--overall", is_flag=True, help="Consensus across tasks: mean of each model's per-task ranks.")
@click.option("--metric", default=None, help="Rank by this metric (default: the task's primary metric).")
@click.option("--kind", type=click.Choice(["all", "baseline", "submission"]), default="all", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--ranking", "scheme", type=click.Choice(["paired", "ci-overlap", "mean"]), default="paired",
              show_default=True, help="paired: Wilcoxon + Holm test-then-rank on the same cases; ci-overlap: "
              "unpaired 95%-interval separation; mean: plain mean.")
@click.option("--view", type=click.Choice(["ranking", "robustness"]), default="ranking", show_default=True,
              help="robustness: per acquisition-shift condition, the primary metric on the shifted images, its "
              "paired drop against the same phantoms unshifted, and one robustness number per model.")
@db_option
@handle_errors
def leaderboard(task_ref, metric, kind, fmt, db_path, scheme="paired", overall=False, view="ranking"):
    """Show the ranked results for TASK (paired test-then-rank by default; --ranking to change)."""
    if overall:
        return _overall(kind, fmt, db_path, scheme)
    if not task_ref:
        raise click.UsageError("Name a task (see `sonobench tasks`), or pass --overall for the ranking across tasks.")
    if view == "robustness":
        return _robustness_view(task_ref, kind, fmt, db_path)

    from .metrics import METRICS, metric_names
    from .ranking.board import rank_stored
    from .settings import load_settings
    from .store import ReadOnlyStore, validity

    name, version = tasks_mod.parse_ref(task_ref)
    store = ReadOnlyStore(db_path)
    rows = store.leaderboard_rows(name, version)
    if kind != "all":
        rows = [r for r in rows if r.get("kind") == kind]
    rows, invalid = validity.partition(rows)
    if not rows and not invalid:
        click.echo(f"No results yet for {task_ref}. Submit one with `sonobench submit MODEL --task {name}`.")
        return
    metric = metric or (rows[0]["primary_metric"] if rows else "dice")
    METRICS.get(metric)
    settings = load_settings()
    result = rank_stored(store, rows, metric, scheme, alpha=settings.ranking_alpha,
                         top_n=settings.ranking_top_n) if rows else None
    ranked = result.rows if result else []
    if fmt == "json":
        click.echo(json.dumps({"task": f"{name}@{version or (ranked[0]['task_version'] if ranked else '')}",
                               "metric": metric, "ranking": scheme,
                               "definition": result.definition if result else None,
                               "kendall_tau": result.kendall_tau if result else None,
                               "bootstrap_resamples": result.resamples if result else None,
                               "rows": ranked, "invalid": invalid}, indent=2, default=str))
        return
    table = leaderboard_table(ranked)
    if fmt == "csv":
        return _echo_csv(table, list(table[0]) if table else ["rank", "id"],
                         [{"rank": "invalid", "id": r["submission_id"]} for r in invalid])
    _print_invalid(invalid)
    if not ranked:
        return
    info = METRICS.get(metric)
    click.echo(f"{name}@{ranked[0]['task_version']} ranked by {metric} ({'higher' if info.higher_is_better else 'lower'} is better),"
               f" ranking '{scheme}': {result.definition}.")
    reranked = "the paired ranking" if scheme == "paired" else "the mean"
    click.echo(f"rank_range: 95% interval of the rank when the test cases are resampled {result.resamples} times and "
               f"ranked by {reranked} each time; p_rank1: share of resamples ranked 1; Kendall's tau to the full "
               f"ranking {_fmt_tau(result.kendall_tau)}.")
    directions = ", ".join(f"{METRICS.get(m).title} {'higher' if METRICS.get(m).higher_is_better else 'lower'}"
                           for m in metric_names())
    click.echo(f"Better: {directions}; mean [95% bootstrap CI], rates (n images). HD95 is medpy's pooled 95th "
               "percentile, not MONAI's max of the two directed percentiles.")
    _print_table(table)


def _print_table(table: list[dict]) -> None:
    cols = list(table[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in cols}
    click.echo("  ".join(c.ljust(widths[c]) for c in cols))
    for r in table:
        click.echo("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


def _overall(kind, fmt, db_path, scheme) -> None:
    from .ranking.consensus import overall
    from .settings import load_settings
    from .store import ReadOnlyStore

    settings = load_settings()
    rows = overall(ReadOnlyStore(db_path), scheme, kind=kind, alpha=settings.ranking_alpha,
                   top_n=settings.ranking_top_n)
    if fmt == "json":
        click.echo(json.dumps({"ranking": scheme, "definition": "mean of the per-task ranks (each task ranked by "
                               f"its primary metric with the '{scheme}' scheme)", "rows": rows}, indent=2))
        return
    if not rows:
        click.echo("No results yet. Submit one with `sonobench submit MODEL --task TASK`.")
        return
    click.echo(f"Overall: models ordered by the number of tasks they were scored on, then by the mean of their "
               f"per-task ranks (ranking '{scheme}' on each task's primary metric).")
    for r in rows:
        per = ", ".join(f"{t} {k}" for t, k in r["ranks"].items())
        lacks = f"; lacks {', '.join(r['missing'])}" if r["missing"] else ""
        click.echo(f"{r['position']:>3}  mean rank {r['mean_rank']:.2f} over {r['n_tasks']} task(s)  "
                   f"{r['name']} ({r['team']}) [{per}{lacks}]")


def _fmt_tau(tau) -> str:
    return "n/a" if tau is None or tau != tau else f"{tau:.3f}"


def _print_invalid(invalid: list[dict]) -> None:
    for r in invalid:
        click.echo(f"Warning: stored result of submission #{r['submission_id']} is invalid and not ranked "
                   f"({r['invalid']}); an operator can withdraw it.", err=True)


# ---------------------------------------------------------------- demo

@cli.command()
@click.option("--no-app", is_flag=True, help="Score and print the leaderboard, but do not start the web app.")
@click.option("--port", type=int, default=8501, show_default=True)
@db_option
@click.pass_context
@handle_errors
def demo(ctx, no_app, port, db_path):
    """Run the main job on the default benchmark, then start the leaderboard."""
    from .demo import run_demo
    from .store import Store, default_db_path

    db_path = db_path or str(default_db_path())
    from .cli import lazy_hook

    task = run_demo(Store(db_path), log=click.echo, reference_loader=lazy_hook("reference_loader"))
    ctx.invoke(leaderboard, task_ref=task.ref, metric=None, kind="all", fmt="table", db_path=db_path, scheme="paired",
               overall=False)
    if no_app:
        return
    app_cmd = cli.get_command(ctx, "app")
    ctx.invoke(app_cmd, db_path=db_path, port=port)
