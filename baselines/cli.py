"""`sonobench baselines`: list the architectures, train + submit them, and rerun a
committed reference to see how far a local run lands from it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sonobench.evaluator.scaleout.options import check_address
from sonobench.evaluator.tasks import DEFAULT_TASK
from sonobench.kernel.clitools import handle_errors
from sonobench.kernel.errors import SonoBenchError
from sonobench.kernel.options import options_from

from .plan import REFERENCE_MODELS, RunPlan

# The seeds' model zoo that issue 4 asks to be referenced (the default of `run`).


def _models(values: tuple[str, ...]) -> list[str]:
    """--models a,b --models c -> [a, b, c], each checked against the registry (did you mean)."""
    from sonobench.zoo import ARCHITECTURES

    names = [n.strip() for v in values for n in v.split(",") if n.strip()] or list(REFERENCE_MODELS)
    for n in names:
        ARCHITECTURES.get(n)
    return names


def _profile(name: str, epochs: int | None, tta: bool = False, threads: int | None = None):
    from .recipes import get_profile

    profile = get_profile(name)
    profile = profile.replace(epochs=epochs) if epochs else profile
    profile = profile.replace(threads=threads) if threads else profile
    return profile.replace(tta=True) if tta else profile


def _threads_option(fn):
    return click.option("--threads", type=click.IntRange(min=1), default=None,
                        help="CPU threads for training (default: the profile's; quick and full use 1 so that "
                             "reruns are bit-identical; more threads train faster but land a little apart).")(fn)


def _device(device: str | None) -> str:
    import torch

    from .training import resolve_device

    return resolve_device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, leave=True)


def _train_and_submit(data, model, profile, store, out, device, fold=None, labels_root=None, workflow=None) -> dict:
    from .training import display_name, run_baseline
    from .training.loop import steps_per_epoch
    from .training.pipeline import run_tag

    start, style = workflow.start_for(model, data.task, out, device, progress=_progress) if workflow else (None, None)
    n_train = len(data.folds(fold[1], profile.seed)[fold[0]][0]) if fold else len(data.train)
    total = profile.epochs * steps_per_epoch(n_train, profile)
    with _progress(total, display_name(model, profile, fold, run_tag(start, style))) as bar:
        return run_baseline(data, model, profile, store=store, out_dir=out, device=device, fold=fold, bar=bar,
                            labels_root=labels_root, log=click.echo, start=start, style=style)


def _scores_line(res: dict) -> str:
    from sonobench.evaluator.metrics import always_stored_metrics
    from sonobench.evaluator.summary import scores_text

    return scores_text(res, always_stored_metrics())  # what every row, reference rows too, has


def _cv_line(s: dict) -> str:
    from sonobench.evaluator.metrics import METRICS

    return "  ".join(f"{METRICS.get(m).title} {s[m]['mean']:.{METRICS.get(m).digits}f} ± "
                     f"{s[m]['std']:.{METRICS.get(m).digits}f}" for m in s if m in METRICS)


def _report(record: dict) -> None:
    t, res = record["training"], record["result"]
    g = t["gaps"]
    click.echo(f"{record['name']}: #{record['submission_id']}  {_scores_line(res)}  "
               f"GFLOPs {res['gflops']:.2f}  params {res['params'] / 1e6:.2f} M")
    click.echo(f"    best epoch {t['best_epoch']}/{t['epochs_run']}, trained in {t['wall_s']:.0f} s; gaps "
               f"train->test Dice {g['train_test_dice']:+.4f}, val->test Dice {g['val_test_dice']:+.4f}")
    pt = t.get("pretraining")
    if pt:
        digest = f"set digest {pt['set_digest'][:12]}" if pt.get("set_digest") else f"SHA-256 {pt['checkpoint_sha256'][:12]}"
        phase = (f", {pt['epochs_run']} pretraining epochs{' (cached checkpoint)' if pt.get('reused_checkpoint') else ''}"
                 if pt.get("history") else "")
        click.echo(f"    started from {pt['kind']} {pt.get('set') or pt.get('path')} ({digest}{phase})")


def _param_count(name: str) -> int:
    import torch

    from sonobench.zoo import create_model

    try:
        with torch.device("meta"):  # count without allocating or initialising the weights
            model = create_model(name)
    except RuntimeError:  # a constructor that reads tensor values (smp's SegFormer)
        model = create_model(name)
    return sum(p.numel() for p in model.parameters())


def _reference_dir_option(fn):
    return click.option("--reference-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Folder of reference files (default: the committed baselines/reference).")(fn)


@click.group()
def baselines():
    """Reference baselines: list them, train + submit them, rerun a committed reference."""


@baselines.command("list")
@click.option("--task", "task_id", default=DEFAULT_TASK, show_default=True, help="Task whose committed references to show.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_cmd(task_id, as_json):
    """Registered architectures with parameter counts and their committed reference scores (the
    task's primary metric where the reference file holds it)."""
    from sonobench.evaluator.metrics import METRICS
    from sonobench.evaluator.tasks import parse_ref
    from sonobench.zoo import list_architectures

    from .reference import read_reference

    name, version = parse_ref(task_id)
    ref_file = read_reference(name, version=version) or {"rows": []}
    task_id = f"{name}@{ref_file['task_version']}" if "task_version" in ref_file else task_id
    ref = {(r["model"], r["profile"]): r for r in ref_file["rows"]}
    metric = _listed_metric(ref_file["rows"])
    label = METRICS.get(metric).title
    rows = []
    for arch in list_architectures():
        params = _param_count(arch["name"])
        refs = {p: r["scores"][f"{metric}_mean"] for (m, p), r in ref.items() if m == arch["name"]}
        rows.append({"name": arch["name"], "family": arch["family"], "params_m": round(params / 1e6, 2),
                     "reference_metric": metric, "reference_scores": refs, "reference": arch["reference"]})
    converged = _converged_summary(list(ref.values()), ref_file.get("converged_notes"))
    by_model = {c["model"]: c for c in converged}
    marks = _floor_marks(task_id)
    for r in rows:
        r["converged"] = by_model.get(r["name"])  # None: not one of the seeds' required models
        r["not_above_floor"] = sorted(p for (m, p), row in ref.items() if m == r["name"] and row["name"] in marks)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    primary = (ref_file["rows"] or [{}])[0].get("scores", {}).get("primary_metric") or metric
    why = "" if primary == metric else (f" ({METRICS.get(primary).title}, the task's primary metric, is not in the "
                                        f"reference file: `sonobench leaderboard {task_id}` ranks by it)")
    click.echo(f"Parameters at in_channels=1, num_classes=1; reference {label} = committed results on {task_id}{why}.")
    click.echo(f"{'name':<18} {'family':<11} {'params (M)':>10}  {'reference ' + label:<34} paper / source")
    for r in rows:
        scores = ", ".join(f"{p} {d:.3f}{'*' if p in r['not_above_floor'] else ''}"
                           for p, d in sorted(r["reference_scores"].items())) or "-"
        click.echo(f"{r['name']:<18} {r['family']:<11} {r['params_m']:>10.2f}  {scores:<34} {r['reference'].split(';')[0]}")
    if marks:
        floor = next(iter(marks.values()))["floor"]
        click.echo(f"* not significantly better than the best no-skill floor ('{floor}'; one-sided paired Wilcoxon "
                   f"on the primary metric): {', '.join(sorted(marks))}")
    click.echo(f"\nConverged references on {task_id} (val Dice per epoch, smoothed; ▁ = 0 … █ = 1):")
    for c in converged:
        if c["profile"] is None:
            click.echo(f"  {c['model']:<18} no converged row: {c['why']}")
            continue
        click.echo(f"  {c['model']:<18} {c['profile']:<9} {label} {c['score']:.3f}  {c['epochs_run']} epochs (best "
                   f"{c['best_epoch']}), {c['hardware']}, trained in {c['wall_s'] / 60:.0f} min")
        click.echo(f"  {'':<18} val   {_spark(c['val_curve'])}")
        click.echo(f"  {'':<18} train {_spark(c['train_curve'])}")


def _floor_marks(task_ref: str) -> dict[str, dict]:
    """{reference row name: mark} of the rows not significantly above the best committed floor
    (empty when the task is not on this machine or has no floor file)."""
    from sonobench.evaluator.tasks import get_task
    from sonobench.kernel.errors import TaskNotFound

    from .floors import committed_marks

    try:
        return committed_marks(get_task(task_ref))
    except TaskNotFound:
        return {}


def _spark(values: list[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    return "".join(bars[min(len(bars) - 1, max(0, int(v * len(bars))))] for v in values)


def _hardware_words(hw: dict) -> str:
    what = hw.get("gpu") if hw["device"] == "cuda" else hw.get("cpu")
    return f"{hw['device']} ({what}, {hw.get('threads')} thread(s))"


def _listed_metric(rows: list[dict]) -> str:
    """The task's primary metric where every reference row holds it, else the default one (a
    format-1 reference file keeps the always-stored metrics only)."""
    from sonobench.evaluator.metrics.defaults import DEFAULT_PRIMARY_METRIC

    primary = (rows or [{}])[0].get("scores", {}).get("primary_metric") or DEFAULT_PRIMARY_METRIC
    held = all(r["scores"].get(f"{primary}_mean") is not None for r in rows)
    return primary if held else DEFAULT_PRIMARY_METRIC


def _converged_summary(rows: list[dict], notes: dict | None = None) -> list[dict]:
    """Per required model: its converged row's scores, curve, hardware and wall time, or why none."""
    from .reference import converged_row

    out = []
    for model in REFERENCE_MODELS:
        row, why = converged_row(rows, model, notes)
        if row is None:
            out.append({"model": model, "profile": None, "why": why})
            continue
        history, t = row["history"], row["training"]
        out.append({"model": model, "profile": row["profile"], "why": why,
                    "score": row["scores"][f"{_listed_metric(rows)}_mean"],
                    "epochs_run": t["epochs_run"], "best_epoch": t["best_epoch"],
                    "hardware": _hardware_words(row["provenance"]["hardware"]), "wall_s": t["wall_s"],
                    "val_curve": [h.get("val_dice_ema", h["val_dice"]) for h in history],
                    "train_curve": [h["train_dice"] for h in history]})
    return out


@baselines.command("run")
@click.argument("model_args", metavar="[MODELS]...", nargs=-1)
@options_from(RunPlan, plan_file=True)
@handle_errors
def run_cmd(model_args, plan: RunPlan):
    """Train baselines on a task, export each best checkpoint to ONNX and submit it
    through the sandboxed evaluator (kind = baseline).

    Models are named as arguments or with --models (`run unet cmunext`,
    `run --models unet,cmunext`); none: the seeds' zoo. With --executor ray every model
    (and fold) trains as its own Ray task; this process submits the results."""
    from sonobench.evaluator.scaleout import Executor, import_ray
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import get_task

    from . import reference
    from .training import TaskData, cv_summary

    p = plan
    names = _models(p.models + model_args)
    profile, task = _profile(p.profile, p.epochs, p.tta, p.threads), get_task(p.task)
    folds, update_reference, executor, address = p.folds, p.update_reference, p.executor, p.address
    db_path, out_dir, labels_root, device = p.db_path, p.out_dir, p.labels_root, p.device
    if update_reference and (folds or p.tta):
        raise SonoBenchError("--update-reference records one plain model per (model, profile); drop --folds/--tta")
    from .training.transfer import Workflow

    workflow = Workflow(p.pretrain, _profile(p.pretrain_profile, p.pretrain_epochs, threads=p.threads), p.init_path,
                        p.style_target, p.style_method, p.style_beta, log=click.echo)
    if workflow.active and (update_reference or executor is Executor.RAY):
        raise SonoBenchError("--pretrain/--init/--style-target runs are recorded in the store and run.json, not in "
                             "the (model, profile)-keyed reference file, and train locally: drop "
                             "--update-reference / --executor ray")
    check_address(executor, address)
    if executor is Executor.RAY:
        import_ray()  # what to install, before any work
        click.echo(f"Training {', '.join(names)} on {task.ref} with profile '{profile.name}' as Ray tasks")
        from .sweep import train_on_ray

        units = [(n, (i, folds) if folds else None) for n in names for i in range(folds or 1)]
        done = train_on_ray(task, units, profile, store=Store(db_path), out_dir=out_dir, device=device,
                            labels_root=labels_root, address=address, log=click.echo)
        record_of = lambda name, fold=None: done[(name, fold)]  # noqa: E731
    else:
        device = _device(device)
        click.echo(f"Training {', '.join(names)} on {task.ref} with profile '{profile.name}' on {device}")
        data, store = TaskData.load(task, labels_root), Store(db_path)
        record_of = lambda name, fold=None: _train_and_submit(  # noqa: E731
            data, name, profile, store, out_dir, device, fold, labels_root, workflow)
    for name in names:
        if folds:
            records = [record_of(name, (i, folds)) for i in range(folds)]
            for r in records:
                _report(r)
            s = cv_summary(records)
            click.echo(f"{name} ({profile.name}), {folds}-fold CV, test scores mean ± std over folds: "
                       + _cv_line(s))
            continue
        record = record_of(name)
        _report(record)
        if update_reference:
            path = reference.write_row(task, reference.row_from_record(record), folder=p.reference_dir)
            click.echo(f"    recorded in {path}")


@baselines.command("import-device")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--task", "task_ref", default=DEFAULT_TASK, show_default=True)
@click.option("--db", "db_path", type=click.Path(dir_okay=False), help="Results store (default: $SONOBENCH_DB or the user data dir).")
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@click.option("--update-reference", is_flag=True, help="Write each model's row into the task's reference file.")
@_reference_dir_option
@handle_errors
def import_device_cmd(folder, task_ref, db_path, labels_root, update_reference, reference_dir):
    """Score the pack that `python -m sonobench.baselines.device train` wrote on a lent GPU
    (FOLDER: its output) through the evaluator's scoring code and store every model."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import get_task

    from . import reference
    from .device_import import import_pack

    task = get_task(task_ref)
    for record in import_pack(folder, task, Store(db_path), labels_root):
        res, t = record["result"], record["training"]
        click.echo(f"{record['name']}: #{record['submission_id']}  {_scores_line(res)}  trained on "
                   f"{_hardware_words(t['hardware'])} in {t['wall_s']:.0f} s; {t['convergence']['reason']}")
        if update_reference:
            path = reference.write_row(task, reference.row_from_record(record), folder=reference_dir)
            click.echo(f"    recorded in {path}")


@baselines.command("rescore-references")
@click.option("--labels-root", type=click.Path(file_okay=False), help="Folder holding private test labels.")
@_reference_dir_option
@handle_errors
def rescore_references_cmd(labels_root, reference_dir):
    """Re-score every committed reference file under the evaluator's current scoring policy, from
    the test predictions its rows store (no model runs); rows without predictions get the policy
    from their stored counts."""
    from .reference.rescore import rescore_all

    for name, n in rescore_all(reference_dir, labels_root, log=click.echo).items():
        click.echo(f"{name}: {n['rows']} row(s) re-scored, {n['from_predictions']} from stored predictions, "
                   f"{n['from_counts']} from stored counts")


@baselines.command("rerun")
@click.argument("model")
@click.option("--task", "task_ref", default=DEFAULT_TASK, show_default=True)
@click.option("--profile", "profile_name", default="quick", show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="Default: the reference's device.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), help="Also store the rerun here (default: a scratch in-memory store).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False))
@click.option("--tolerance", type=float, default=None,
              help="Fail when |Δ Dice| exceeds this (default: the row's stated tolerance: bit-identical for a CPU "
                   "row rerun at its thread count, ±0.02 Dice otherwise).")
@click.option("--record-shifts", is_flag=True,
              help="When the rerun is bit-identical to the reference, write its scores on the task's "
                   "acquisition-shift sets into the reference row (the row itself stays as it is).")
@_threads_option
@_reference_dir_option
@handle_errors
def rerun_cmd(model, task_ref, profile_name, device, db_path, out_dir, tolerance, threads, reference_dir, record_shifts):
    """Retrain MODEL with its committed reference settings and print the difference."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import get_task

    from .recipes import Profile, get_profile
    from .reference import find_row, rerun_tolerance
    from .training import TaskData

    _models((model,)); get_profile(profile_name)  # name errors first, with did-you-mean
    task = get_task(task_ref)
    row = find_row(task.id, model, profile_name, folder=reference_dir, version=task.version)
    if row["provenance"]["manifest_digest"] != task.digest:
        raise SonoBenchError(f"The reference for {model} was scored on manifest {row['provenance']['manifest_digest'][:12]}…, "
                             f"but {task.ref} has {task.digest[:12]}…; rerun it with `sonobench baselines run`.")
    profile = Profile.from_dict(row["training"]["recipe"])
    profile = profile.replace(threads=threads) if threads else profile
    device = _device(device or row["provenance"]["hardware"]["device"])
    from .training.env import hardware

    expected = rerun_tolerance(row, device, profile.threads, cpu=hardware(device, profile.threads)["cpu"])
    if tolerance is not None:
        expected = {"exact": False, "tolerance": tolerance, "words": f"within ±{tolerance} Dice (--tolerance)"}
    click.echo(f"expected: {expected['words']}")
    store = Store(db_path) if db_path else Store(memory=True)
    record = _train_and_submit(TaskData.load(task), model, profile, store, out_dir, device)
    _print_deltas(row, record, expected)
    if record_shifts:
        _record_shifts(task, row, record, reference_dir)


def _record_shifts(task, row: dict, record: dict, reference_dir) -> None:
    """Add the rerun's shift-set results to `row`: only from a bit-identical rerun (the same ONNX
    bytes are the same model, so its shift scores are the reference's)."""
    from . import reference

    if not (record.get("onnx") and row.get("onnx") and record["onnx"]["sha256"] == row["onnx"]["sha256"]):
        raise SonoBenchError("--record-shifts needs a bit-identical rerun (the same ONNX bytes as the reference); "
                             "this one differs, so its shift-set scores are not the reference model's")
    if not record.get("shifts"):
        raise SonoBenchError(f"{task.ref} has no acquisition-shift sets to record (`sonobench shifts make {task.ref}`)")
    path = reference.write_row(task, {**row, "shifts": reference.shift_block(record["shifts"])}, folder=reference_dir)
    click.echo(f"recorded {len(record['shifts'])} shift-set result(s) of {row['model']} ({row['profile']}) in {path}")


def _print_deltas(row: dict, record: dict, expected: dict) -> None:
    from .reference import GPU_DICE_TOLERANCE, REPRO_METRIC

    ref, new = row["scores"], record["result"]
    commit = (row["provenance"]["git_commit"] or "unknown")[:12]
    click.echo(f"reference (commit {commit}): {_scores_line(ref)}")
    click.echo(f"rerun (this machine):        {_scores_line(new)}")
    from sonobench.evaluator.metrics import always_stored_metrics
    from sonobench.evaluator.summary import deltas_text

    deltas, text = deltas_text(new, ref, always_stored_metrics())
    click.echo(f"delta (rerun - reference): {text}")
    same = bool(record.get("onnx") and row.get("onnx")) and record["onnx"]["sha256"] == row["onnx"]["sha256"]
    click.echo(f"exported ONNX {'is bit-identical to' if same else 'differs from'} the reference export")
    delta = deltas[REPRO_METRIC]
    if expected["exact"] and not (same and delta == 0):
        raise SonoBenchError(f"the rerun is not bit-identical to the reference (Dice {delta:+.4f}, ONNX "
                             f"{'same' if same else 'different'} bytes), as a CPU rerun at the same thread count should "
                             "be; compare the CPU, torch version and commit in the reference row, or pass "
                             f"--tolerance {GPU_DICE_TOLERANCE} to accept a near result")
    if abs(delta) > expected["tolerance"]:
        raise SonoBenchError(f"the rerun's Dice differs from the reference by {delta:+.4f}, "
                             f"beyond ±{expected['tolerance']}; compare the hardware and versions in the reference row")
    click.echo(f"within the stated tolerance: {expected['words']}")


@baselines.command("floors")
@click.argument("task_ref")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Also keep the floors' results in this store (default: a scratch store, deleted after).")
@click.option("--floors-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write <task>@<version>.json (default: the committed baselines/reference/floors).")
@handle_errors
def floors_cmd(task_ref, db_path, floors_dir):
    """Build TASK_REF's no-skill floors from its train split, score them (test split and shift sets)
    through the sandboxed evaluator and write its floor file."""
    from sonobench.evaluator.store import Store
    from sonobench.evaluator.tasks import get_task

    from .floors import make_floors

    path = make_floors(get_task(task_ref), Store(db_path) if db_path else None, floors_dir, log=click.echo)
    click.echo(f"Wrote {path}")
